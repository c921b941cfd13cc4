"""JSON operators, UNNEST, UNION and DataFusion functions on the engine."""

from __future__ import annotations

import json

from engine_helpers import read_lines, run_sql


def _json_source(tmp_path, rows) -> str:
    path = tmp_path / "docs.json"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return (
        f"CREATE TABLE docs (value JSON) WITH (connector = 'single_file', path = '{path}', format = 'json', "
        "type = 'source', 'json.unstructured' = 'true');\n"
    )


def test_json_arrow_operators(tmp_path):
    out = tmp_path / "out.json"
    rows = [{"id": 1, "user": {"name": "ann", "tags": ["a", "b"]}}, {"id": 2, "user": None}]
    run_sql(
        _json_source(tmp_path, rows)
        + f"CREATE TABLE out WITH (connector = 'single_file', path = '{out}', format = 'json', type = 'sink');\n"
        + "INSERT INTO out SELECT value->'id' AS id, value->>'user' AS user_text, value->'user'->>'name' AS name, "
        "value->'missing' AS missing FROM docs"
    )
    assert read_lines(out) == [
        {"id": "1", "user_text": '{"name":"ann","tags":["a","b"]}', "name": "ann", "missing": "null"},
        {"id": "2", "user_text": None, "name": None, "missing": "null"},
    ]


def test_unnest_union_and_datafusion_functions():
    recorder, job = run_sql(
        "CREATE TABLE a WITH (connector = 'impulse', event_rate = 1000000, message_count = 3);\n"
        "CREATE TABLE b WITH (connector = 'impulse', event_rate = 1000000, message_count = 2);\n"
        "SELECT unnest(make_array(counter, counter * 10)) AS v, 'a' AS src FROM a "
        "UNION ALL SELECT length(concat('x', CAST(counter AS TEXT))) AS v, upper('b') AS src FROM b"
    )
    assert job.outcome == "finished"
    got = sorted((r["src"], r["v"]) for r in recorder.rows)
    assert got == [("B", 2), ("B", 2), ("a", 0), ("a", 0), ("a", 1), ("a", 2), ("a", 10), ("a", 20)]
    assert all(t > 0 for t in recorder.timestamps)
