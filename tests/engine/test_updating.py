"""Updating (non-windowed) queries: Debezium changelogs out, Debezium changes in, updating joins."""

from __future__ import annotations

from engine_helpers import fold_debezium, read_lines, run_sql, write_lines


def _numbers(tmp_path, n: int):
    rows = [{"ts": f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z", "n": i} for i in range(n)]
    path = write_lines(tmp_path / "numbers.json", rows)
    return (
        f"CREATE TABLE numbers (ts TIMESTAMP, n BIGINT) WITH (connector = 'single_file', path = '{path}', "
        "format = 'json', type = 'source', event_time_field = 'ts');\n"
    )


def _debezium_sink(path, columns: str) -> str:
    return (
        f"CREATE TABLE out ({columns}) WITH (connector = 'single_file', path = '{path}', "
        "format = 'debezium_json', type = 'sink');\n"
    )


def test_grouped_aggregate_emits_creates_then_updates_that_fold_to_the_result(tmp_path):
    out = tmp_path / "out.json"
    _, job = run_sql(
        _numbers(tmp_path, 100)
        + _debezium_sink(out, "k BIGINT, c BIGINT, s BIGINT")
        + "INSERT INTO out SELECT n % 3, count(*), sum(n) FROM numbers GROUP BY 1",
        batch_size=10,
        parallelism=2,
    )
    assert job.outcome == "finished"
    changes = read_lines(out)
    ops = {c["op"] for c in changes}
    assert ops == {"c", "u"}, ops
    assert all(c["before"]["k"] == c["after"]["k"] for c in changes if c["op"] == "u")
    want = [{"k": k, "c": len(range(k, 100, 3)), "s": sum(range(k, 100, 3))} for k in range(3)]
    assert sorted(fold_debezium(changes), key=lambda r: r["k"]) == want


def test_having_turns_rows_into_deletes(tmp_path):
    out = tmp_path / "out.json"
    run_sql(
        _numbers(tmp_path, 30)
        + _debezium_sink(out, "c BIGINT")
        + "INSERT INTO out SELECT count(*) AS c FROM numbers HAVING count(*) < 25",
        batch_size=10,
    )
    changes = read_lines(out)
    assert [c["op"] for c in changes] == ["c", "u", "d"]
    assert fold_debezium(changes) == []


def test_debezium_source_changes_are_applied_before_aggregating(tmp_path):
    src = write_lines(
        tmp_path / "changes.json",
        [
            {"before": None, "after": {"id": 1, "product": "a", "qty": 2}, "op": "c"},
            {"before": None, "after": {"id": 2, "product": "b", "qty": 5}, "op": "c"},
            {"before": None, "after": {"id": 3, "product": "a", "qty": 1}, "op": "r"},
            {
                "before": {"id": 1, "product": "a", "qty": 2},
                "after": {"id": 1, "product": "a", "qty": 7},
                "op": "u",
            },
            {"before": {"id": 2, "product": "b", "qty": 5}, "after": None, "op": "d"},
        ],
    )
    out = tmp_path / "out.json"
    run_sql(
        f"CREATE TABLE orders (id INT PRIMARY KEY, product TEXT, qty INT) WITH (connector = 'single_file', "
        f"path = '{src}', format = 'debezium_json', type = 'source');\n"
        + _debezium_sink(out, "product TEXT, total BIGINT")
        + "INSERT INTO out SELECT product, sum(qty) FROM orders GROUP BY product",
        batch_size=2,
    )
    assert fold_debezium(read_lines(out)) == [{"product": "a", "total": 8}]


def test_updating_inner_join_of_two_streams(tmp_path):
    out = tmp_path / "out.json"
    run_sql(
        _numbers(tmp_path, 20)
        + _debezium_sink(out, "a BIGINT, b BIGINT")
        + "CREATE VIEW evens AS SELECT n FROM numbers WHERE n % 2 = 0;\n"
        + "INSERT INTO out SELECT x.n, y.n FROM numbers x JOIN evens y ON x.n = y.n",
        batch_size=3,
        parallelism=3,
    )
    changes = read_lines(out)
    assert {c["op"] for c in changes} == {"c"}
    assert sorted(c["after"]["a"] for c in changes) == list(range(0, 20, 2))


def test_preview_of_an_updating_query_has_debezium_rows():
    recorder, job = run_sql(
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = 1000000, message_count = 50);\n"
        "SELECT counter % 2 AS parity, count(*) AS n FROM impulse GROUP BY 1",
        batch_size=20,
    )
    assert job.outcome == "finished"
    assert {r["op"] for r in recorder.rows} <= {"c", "u"}
    final = {}
    for r in recorder.rows:
        final[r["after"]["parity"]] = r["after"]["n"]
    assert final == {0: 25, 1: 25}
    assert len(recorder.timestamps) == len(recorder.rows)


def test_memory_table_between_two_queries(tmp_path):
    out = tmp_path / "out.json"
    _, job = run_sql(
        _numbers(tmp_path, 10)
        + "CREATE TABLE doubled (n BIGINT, d BIGINT);\n"
        + f"CREATE TABLE out (n BIGINT, d BIGINT) WITH (connector = 'single_file', path = '{out}', format = 'json', "
        "type = 'sink');\n"
        + "INSERT INTO doubled SELECT n, n * 2 FROM numbers;\n"
        + "INSERT INTO out SELECT n, d FROM doubled WHERE d > 10;"
    )
    assert job.outcome == "finished", job.failure
    assert sorted(r["n"] for r in read_lines(out)) == [6, 7, 8, 9]


def test_simple_aggregates_keep_one_state_row_per_key_others_keep_their_input(tmp_path):
    from arroyo_jupyter.local.engine import plan_query

    src = _numbers(tmp_path, 1)
    incremental = plan_query(
        src + "SELECT n % 3 AS k, count(*), avg(n), min(n) FROM numbers GROUP BY 1 HAVING count(*) > 1"
    )
    assert incremental.queries[0].shape.incremental is not None
    assert plan_query(src + "SELECT count(DISTINCT n) FROM numbers").queries[0].shape.incremental is not None
    assert (
        plan_query(src + "SELECT n % 3, array_agg(n) FROM numbers GROUP BY 1").queries[0].shape.incremental
        is None
    )


def test_both_updating_paths_agree(tmp_path):
    out_a, out_b = tmp_path / "a.json", tmp_path / "b.json"
    base = _numbers(tmp_path, 60)
    # incremental (COUNT DISTINCT keeps distinct values per key) / re-run (array_agg keeps the input)
    for out, agg in (
        (out_a, "count(DISTINCT n)"),
        (out_b, "CAST(cardinality(array_agg(DISTINCT n)) AS BIGINT)"),
    ):
        run_sql(
            base
            + _debezium_sink(out, "k BIGINT, c BIGINT, m DOUBLE")
            + f"INSERT INTO out SELECT n % 4, {agg}, avg(n) FROM numbers WHERE n % 5 <> 0 GROUP BY 1 "
            "HAVING count(*) > 2",
            batch_size=7,
            parallelism=2,
        )
    assert fold_debezium(read_lines(out_a)) == fold_debezium(read_lines(out_b))
    assert len(fold_debezium(read_lines(out_a))) == 4
