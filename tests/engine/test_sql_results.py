"""Results as Arroyo gives them: JSON functions and operators, approximate aggregates (DataFusion's
own answers), sink timestamps in the json format's ``timestamp_format``."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pytest
from datafusion import SessionContext
from engine_helpers import fold_debezium, read_lines, run_sql, write_lines

DOC = {"name": "ada", "tags": [{"name": "x"}, {"name": "y"}], "n": 7, "f": 1.5, "ok": True, "sub": {"k": "v"}}


def _json_source(tmp_path, docs) -> str:
    src = write_lines(tmp_path / "in.json", [{"doc": json.dumps(d)} for d in docs])
    return (
        f"CREATE TABLE t (doc TEXT) WITH (connector = 'single_file', path = '{src}', format = 'json', "
        "type = 'source');\n"
    )


def test_json_functions_and_operators(tmp_path):
    rec, job = run_sql(
        _json_source(tmp_path, [DOC, {"other": 1}])
        + """SELECT json_get_str(doc, 'name') AS name, json_get_int(doc, 'n') AS n,
              json_get_float(doc, 'f') AS f, json_get_float(doc, 'n') AS n_as_float, json_get_bool(doc, 'ok') AS ok,
              json_get_str(doc, 'tags', 1, 'name') AS second_tag, json_get_json(doc, 'sub') AS sub,
              json_length(doc, 'tags') AS tags, json_contains(doc, 'sub', 'k') AS has_k, doc ? 'name' AS has_name,
              doc -> 'sub' ->> 'k' AS k, doc ->> 'n' AS n_text, json_get_int(doc, 'name') AS not_an_int,
              extract_json(doc, '$.tags[*].name') AS names, extract_json_string(doc, '$.sub.k') AS first
            FROM t"""
    )
    assert job.outcome == "finished"
    got = sorted(rec.rows, key=lambda r: r["name"] is None)
    assert got[0] == {
        "name": "ada",
        "n": 7,
        "f": 1.5,
        "n_as_float": 7.0,
        "ok": True,
        "second_tag": "y",
        "sub": '{"k":"v"}',
        "tags": 2,
        "has_k": True,
        "has_name": True,
        "k": "v",
        "n_text": "7",
        "not_an_int": None,
        "names": ['"x"', '"y"'],
        "first": "v",
    }
    # a document without those keys: NULLs, and false for the key tests
    assert got[1]["name"] is None and got[1]["tags"] is None and got[1]["k"] is None
    assert got[1]["has_name"] is False and got[1]["has_k"] is False and got[1]["names"] == []


def test_json_operator_columns_are_named_as_written_not_internally(tmp_path):
    rec, _ = run_sql(_json_source(tmp_path, [DOC]) + "SELECT doc ->> 'name', json_get_int(doc, 'n') FROM t")
    (row,) = rec.rows
    assert all(not name.startswith("__") for name in row)
    assert sorted(row.values(), key=str) == [7, "ada"]


AGGS = (
    "approx_distinct(v) AS d, approx_median(v) AS m, approx_percentile_cont(v, 0.9) AS p, "
    "approx_percentile_cont_with_weight(v, w, 0.5) AS pw"
)


def _approx_rows(n: int):
    rng = random.Random(7)
    return [
        {
            "ts": f"2024-01-01T00:{i // 600:02d}:{i // 10 % 60:02d}Z",
            "k": i % 2,
            "v": rng.randint(0, 5000),
            "w": rng.random(),
        }
        for i in range(n)
    ]


def _datafusion(rows, group: str) -> list[dict]:
    ctx = SessionContext()
    ctx.register_record_batches("t", [[pa.RecordBatch.from_pylist(rows)]])
    return ctx.sql(f"SELECT {group}, {AGGS} FROM t GROUP BY {group} ORDER BY {group}").to_pylist()


@pytest.mark.parametrize("parallelism", [1, 2])
def test_approximate_aggregates_give_datafusions_answers_updating(tmp_path, parallelism):
    rows = _approx_rows(3000)
    src = write_lines(tmp_path / "in.json", rows)
    rec, job = run_sql(
        f"CREATE TABLE t (ts TIMESTAMP, k BIGINT, v BIGINT, w DOUBLE) WITH (connector = 'single_file', "
        f"path = '{src}', format = 'json', type = 'source');\nSELECT k, {AGGS} FROM t GROUP BY k",
        parallelism=parallelism,
        batch_size=97,  # many partial updates along the way
    )
    assert job.outcome == "finished"
    want = _datafusion([{"k": r["k"], "v": r["v"], "w": r["w"]} for r in rows], "k")
    assert sorted(fold_debezium(rec.rows), key=lambda r: r["k"]) == want


def test_approximate_aggregates_give_datafusions_answers_per_window(tmp_path):
    rows = _approx_rows(3000)  # 10 rows a second for 5 minutes
    src = write_lines(tmp_path / "in.json", rows)
    rec, job = run_sql(
        f"CREATE TABLE t (ts TIMESTAMP, k BIGINT, v BIGINT, w DOUBLE, WATERMARK FOR ts) WITH ("
        f"connector = 'single_file', path = '{src}', format = 'json', type = 'source');\n"
        "SELECT minute, d, m, p, pw FROM ("
        f"SELECT date_part('minute', window.start) AS minute, {AGGS} FROM ("
        f"SELECT tumble(interval '1 minute') AS window, v, w FROM t) GROUP BY window)",
        parallelism=2,
        batch_size=101,
    )
    assert job.outcome == "finished"
    mins = [{"minute": float(int(r["ts"][14:16])), "v": r["v"], "w": r["w"]} for r in rows]
    assert sorted(rec.rows, key=lambda r: r["minute"]) == _datafusion(mins, "minute")


def _timestamps_out(tmp_path, fmt_option: str, fmt: str = "json") -> list[dict]:
    src = write_lines(tmp_path / "in.json", [{"ts": "2024-01-01T00:00:01.250Z", "k": 1}])
    out = tmp_path / "out.json"
    _, job = run_sql(
        f"CREATE TABLE t (ts TIMESTAMP, k BIGINT) WITH (connector = 'single_file', path = '{src}', "
        "format = 'json', type = 'source');\n"
        f"CREATE TABLE o (ts TIMESTAMP, n BIGINT) WITH (connector = 'single_file', path = '{out}', "
        f"format = '{fmt}', type = 'sink'{fmt_option});\n"
        + (
            "INSERT INTO o SELECT ts, k FROM t"
            if fmt == "json"
            else "INSERT INTO o SELECT max(ts) AS ts, count(*) AS n FROM t"
        )
    )
    assert job.outcome == "finished"
    return read_lines(out)


def test_json_sink_timestamps_default_to_rfc3339_and_take_unix_millis(tmp_path):
    assert _timestamps_out(tmp_path, "") == [{"ts": "2024-01-01T00:00:01.250", "n": 1}]
    millis = 1704067201250  # 2024-01-01T00:00:01.250Z
    assert _timestamps_out(tmp_path, ", 'json.timestamp_format' = 'unix_millis'") == [{"ts": millis, "n": 1}]


def test_debezium_sink_timestamps_follow_the_same_option(tmp_path):
    rows = _timestamps_out(tmp_path, ", 'json.timestamp_format' = 'unix_millis'", fmt="debezium_json")
    assert rows == [{"before": None, "after": {"ts": 1704067201250, "n": 1}, "op": "c"}]
    rows = _timestamps_out(tmp_path, "", fmt="debezium_json")
    assert rows == [{"before": None, "after": {"ts": "2024-01-01T00:00:01.250", "n": 1}, "op": "c"}]


def test_union_removes_duplicates_across_the_whole_stream(tmp_path):
    # UNION (not ALL) is DISTINCT over both branches: an updating query whose final table is the
    # set union, however the rows are split into batches (7 rows a batch here)
    rows = [{"a": i % 3, "b": i % 5} for i in range(40)]
    src = write_lines(tmp_path / "in.json", rows)
    rec, job = run_sql(
        f"CREATE TABLE t (a BIGINT, b BIGINT) WITH (connector = 'single_file', path = '{src}', "
        "format = 'json', type = 'source');\nSELECT a AS k FROM t UNION SELECT b + 10 AS k FROM t",
        batch_size=7,
    )
    assert job.outcome == "finished"
    assert sorted(r["k"] for r in fold_debezium(rec.rows)) == [0, 1, 2, 10, 11, 12, 13, 14]
    assert all(r["op"] == "c" for r in rec.rows)  # each value once, never retracted
