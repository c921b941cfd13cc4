"""Windows named inside subqueries, CTEs and views, used further out (Arroyo threads them through).

Expected rows are derived from the input by hand: 30 events one second apart from
00:00:00, a tumbling window of 10 s puts 10 events in each of 3 windows.
"""

from __future__ import annotations

import pytest
from engine_helpers import fold_debezium, read_lines, run_sql, write_lines

from arroyo_jupyter.local.engine import PlanError, plan_query


def _setup(tmp_path, columns: str) -> tuple[str, object]:
    rows = [{"ts": f"2024-01-01T00:00:{s:02d}Z", "k": s % 3, "v": s} for s in range(30)]
    src = write_lines(tmp_path / "events.json", rows)
    out = tmp_path / "out.json"
    sql = (
        f"CREATE TABLE Events (ts TIMESTAMP, k BIGINT, v BIGINT, WATERMARK FOR ts) WITH (connector = 'single_file', "
        f"path = '{src}', format = 'json', type = 'source');\n"
        f"CREATE TABLE out ({columns}) WITH (connector = 'single_file', path = '{out}', format = 'json', "
        "type = 'sink');\n"
    )
    return sql, out


def test_group_by_a_window_declared_in_an_inner_select(tmp_path):
    sql, out = _setup(tmp_path, "start TIMESTAMP, n BIGINT")
    _, job = run_sql(
        sql + "INSERT INTO out SELECT window.start, count(*) AS n FROM "
        "(SELECT v, tumble(interval '10 seconds') AS window FROM events) GROUP BY window",
        parallelism=2,
    )
    assert job.outcome == "finished"
    got = sorted((r["start"], r["n"]) for r in read_lines(out))
    assert got == [(f"2024-01-01T00:00:{w:02d}", 10) for w in (0, 10, 20)]


def test_window_in_an_outer_group_by_over_a_view(tmp_path):
    # the view does not name the window: the outer GROUP BY's tumble() is over the view's rows
    sql, out = _setup(tmp_path, "k BIGINT, n BIGINT")
    _, job = run_sql(
        sql + "CREATE VIEW odd AS (SELECT k FROM events WHERE v % 2 = 1);\n"
        "INSERT INTO out SELECT k, count(*) AS n FROM odd GROUP BY k, tumble('10 seconds')"
    )
    assert job.outcome == "finished"
    got = sorted((r["k"], r["n"]) for r in read_lines(out))
    # odd v in each window of 10: 5 values; per k (v % 3) over 30 s: k=0 → 3,9,15,21,27 …
    want: dict[tuple[int, int], int] = {}
    for v in range(1, 30, 2):
        want[(v // 10, v % 3)] = want.get((v // 10, v % 3), 0) + 1
    assert got == sorted((k, n) for (_, k), n in want.items())


def test_a_window_alias_in_group_by_and_a_window_function_over_it(tmp_path):
    # GROUP BY the select's own window alias; then rank inside each window (a CTE)
    sql, out = _setup(tmp_path, "start TIMESTAMP, k BIGINT, total BIGINT, rn BIGINT")
    _, job = run_sql(
        sql + "INSERT INTO out WITH w AS (SELECT k, sum(v) AS total, tumble(interval '10 seconds') AS window "
        "FROM events GROUP BY k, window) "
        "SELECT window.start, k, total, rn FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY window "
        "ORDER BY total DESC) AS rn FROM w) WHERE rn = 1"
    )
    assert job.outcome == "finished"
    got = sorted((r["start"], r["k"], r["total"], r["rn"]) for r in read_lines(out))
    want = []
    for w in (0, 10, 20):
        totals = {k: sum(v for v in range(w, w + 10) if v % 3 == k) for k in range(3)}
        best = max(totals, key=lambda k: totals[k])
        want.append((f"2024-01-01T00:00:{w:02d}", best, totals[best], 1))
    assert got == sorted(want)


def test_mixed_case_table_names_fold_to_lower_case(tmp_path):
    sql, out = _setup(tmp_path, "n BIGINT")
    _, job = run_sql(
        sql + "INSERT INTO OUT SELECT count(*) AS n FROM EVENTS GROUP BY TUMBLE(INTERVAL '30 seconds')"
    )
    assert job.outcome == "finished"
    assert [r["n"] for r in read_lines(out)] == [30]


def test_a_window_named_in_a_view_or_a_cte_is_grouped_by_further_out(tmp_path):
    # the view / CTE names the window of each row (no aggregate there); the outer query groups by
    # it: 3 windows of 10 events, v = 0..29, so the sums are 0+…+9, 10+…+19, 20+…+29
    want = [(f"2024-01-01T00:00:{w:02d}", 10, sum(range(w, w + 10))) for w in (0, 10, 20)]
    for body in (
        "CREATE VIEW w AS SELECT tumble(interval '10 seconds') AS window, v FROM events;\n"
        "INSERT INTO out SELECT window.start, count(*) AS n, sum(v) AS total FROM w GROUP BY window",
        "INSERT INTO out WITH w AS (SELECT tumble(interval '10 seconds') AS window, v FROM events) "
        "SELECT window.start, count(*) AS n, sum(v) AS total FROM w GROUP BY window",
    ):
        sql, out = _setup(tmp_path, "start TIMESTAMP, n BIGINT, total BIGINT")
        _, job = run_sql(sql + body, parallelism=2)
        assert job.outcome == "finished"
        assert sorted((r["start"], r["n"], r["total"]) for r in read_lines(out)) == want, body
        out.unlink()


def test_a_windowed_aggregate_re_read_twice_further_out_keeps_its_window(tmp_path):
    # window.start two selects away from the tumble() that made it
    sql, out = _setup(tmp_path, "start TIMESTAMP, n BIGINT")
    _, job = run_sql(
        sql + "INSERT INTO out SELECT window.start, n FROM (SELECT window, n FROM ("
        "SELECT tumble(interval '10 seconds') AS window, count(*) AS n FROM events GROUP BY 1))"
    )
    assert job.outcome == "finished"
    assert sorted((r["start"], r["n"]) for r in read_lines(out)) == [
        (f"2024-01-01T00:00:{w:02d}", 10) for w in (0, 10, 20)
    ]


def test_a_quoted_table_name_keeps_its_case(tmp_path):
    # "Events" is not events (as in Arroyo): quoted, it is found only quoted, columns qualified too
    sql, out = _setup(tmp_path, "k BIGINT, n BIGINT")
    sql = sql.replace("CREATE TABLE Events", 'CREATE TABLE "Events"')
    _, job = run_sql(
        sql + 'INSERT INTO out SELECT "Events".k, count(*) AS n FROM "Events" GROUP BY "Events".k',
        parallelism=2,
    )
    assert job.outcome == "finished"
    final = fold_debezium(read_lines(out))  # an updating query: its changelog, folded
    assert sorted((r["k"], r["n"]) for r in final) == [(0, 10), (1, 10), (2, 10)]
    with pytest.raises(PlanError) as info:
        plan_query(sql + "SELECT k FROM events")
    assert info.value.diagnostics[0].message == "table 'events' not found"


def test_a_quoted_table_name_that_needs_its_quotes_runs():
    rec, job = run_sql(
        "CREATE TABLE \"my-Table\" WITH (connector = 'impulse', event_rate = '1000', message_count = '3');\n"
        'SELECT counter FROM "my-Table"'
    )
    assert job.outcome == "finished"
    assert sorted(r["counter"] for r in rec.rows) == [0, 1, 2]
