"""CREATE TABLE as Arroyo reads it: WITH values, generated columns, METADATA FROM, TEMPORARY,
CREATE TABLE … AS SELECT, SET updating_ttl. Expected rows are worked out from the inputs."""

from __future__ import annotations

import json

import pytest
from engine_helpers import read_lines, run_sql, write_lines

from arroyo_jupyter.local.engine import PlanError, plan_query


def _plan_error(sql: str):
    with pytest.raises(PlanError) as info:
        plan_query(sql)
    (diag,) = info.value.diagnostics
    return diag


def test_generated_columns_are_computed_and_can_carry_the_event_time(tmp_path):
    # event time is generated from a text column; a 10 s tumble over 25 rows 1 s apart
    rows = [{"when": f"2024-01-01 00:00:{s:02d}", "v": s} for s in range(25)]
    src = write_lines(tmp_path / "in.json", rows)
    out = tmp_path / "out.json"
    _, job = run_sql(
        f"""CREATE TABLE events (
              "when" TEXT, v BIGINT,
              ts TIMESTAMP GENERATED ALWAYS AS (CAST("when" AS TIMESTAMP)) STORED,
              double_v BIGINT GENERATED ALWAYS AS (v * 2),
              WATERMARK FOR ts
            ) WITH (connector = 'single_file', path = '{src}', format = 'json', type = 'source',
                    event_time_field = ts);
            CREATE TABLE out (start TIMESTAMP, n BIGINT, total BIGINT) WITH (connector = 'single_file',
              path = '{out}', format = 'json', type = 'sink');
            INSERT INTO out SELECT window.start, count(*) AS n, sum(double_v) AS total FROM (
              SELECT tumble(interval '10 seconds') AS window, count(*) AS n, sum(double_v) AS double_v
              FROM events GROUP BY 1) GROUP BY window, n, double_v"""
    )
    assert job.outcome == "finished"
    got = sorted((r["start"], r["total"]) for r in read_lines(out))
    want = [(f"2024-01-01T00:00:{w:02d}", sum(2 * v for v in range(w, min(w + 10, 25)))) for w in (0, 10, 20)]
    assert got == want


def test_generated_columns_may_use_arroyos_json_operators_and_functions(tmp_path):
    # an unstructured JSON payload; name, size and event time are generated from it. Two 10 s
    # tumbling windows over 20 documents 1 s apart; each window: 10 docs, sizes 0..9 or 10..19.
    docs = [{"name": f"n{i % 2}", "size": i, "at": f"2024-01-01 00:00:{i:02d}"} for i in range(20)]
    src = write_lines(tmp_path / "in.json", [{"value": json.dumps(d)} for d in docs])
    rec, job = run_sql(
        f"""CREATE TABLE docs (
              value TEXT,
              name TEXT GENERATED ALWAYS AS (value->>'name'),
              size BIGINT GENERATED ALWAYS AS (json_get_int(value, 'size')),
              ts TIMESTAMP GENERATED ALWAYS AS (CAST(json_get_str(value, 'at') AS TIMESTAMP)) STORED,
              WATERMARK FOR ts
            ) WITH (connector = 'single_file', path = '{src}', format = 'json', type = 'source');
            SELECT window.start AS start, name, total FROM (
              SELECT tumble(interval '10 seconds') AS window, name, sum(size) AS total FROM docs GROUP BY 1, 2)"""
    )
    assert job.outcome == "finished"
    got = sorted((str(r["start"]), r["name"], r["total"]) for r in rec.rows)
    want = sorted(
        (f"2024-01-01 00:00:{w:02d}", f"n{p}", sum(i for i in range(w, w + 10) if i % 2 == p))
        for w in (0, 10)
        for p in (0, 1)
    )
    assert got == want


def test_a_generated_json_key_must_be_a_literal():
    sql = (
        "CREATE TABLE t (value TEXT, k TEXT, name TEXT GENERATED ALWAYS AS (json_get_str(value, k))) WITH ("
        "connector = 'single_file', path = 'x.json', format = 'json', type = 'source'); SELECT * FROM t"
    )
    diag = _plan_error(sql)
    assert "generated column: the keys of 'json_get_str' must be literal" in diag.message
    assert diag.start.column == sql.index("json_get_str(") + 1


def test_a_generated_column_that_does_not_plan_is_refused_at_its_expression():
    sql = (
        "CREATE TABLE t (x BIGINT, y BIGINT GENERATED ALWAYS AS (nope * 2)) WITH (connector = 'single_file', "
        "path = 'x.json', format = 'json', type = 'source'); SELECT * FROM t"
    )
    diag = _plan_error(sql)
    assert diag.message.startswith(
        "Failed to create table t caused by Error during planning: generated column"
    )
    assert "nope" in diag.message
    assert diag.start.column == sql.index("nope") + 1


def test_virtual_fields_are_refused_with_debezium():
    diag = _plan_error(
        "CREATE TABLE d (x TEXT, y TIMESTAMP GENERATED ALWAYS AS (CAST(x AS TIMESTAMP)) STORED) WITH ("
        "connector = 'single_file', path = 'x.json', format = 'debezium_json', type = 'source'); SELECT * FROM d"
    )
    assert "can't use virtual fields with debezium format" in diag.message


def test_metadata_from_is_refused_by_name_where_the_connector_has_none():
    sql = (
        "CREATE TABLE t (x TEXT, topic TEXT METADATA FROM 'topic') WITH (connector = 'single_file', "
        "path = 'x.json', format = 'json', type = 'source'); SELECT * FROM t"
    )
    diag = _plan_error(sql)
    assert diag.message == "METADATA FROM is not supported for connector 'single_file'"
    assert diag.start.column == sql.index("topic") + 1  # under the column


@pytest.mark.parametrize("table", ["m", "m WITH (connector = 'impulse', event_rate = '1')"])
def test_a_one_letter_metadata_column_is_marked_at_the_column_not_inside_a_keyword(table):
    name, _, options = table.partition(" ")
    sql = f"CREATE TABLE {name} (a TEXT METADATA FROM 'topic', b TEXT) {options}; SELECT * FROM {name}"
    diag = _plan_error(sql)
    assert diag.message.startswith("METADATA FROM is not supported for connector")
    assert diag.start.column == sql.index("a TEXT") + 1  # not the `a` of CREATE or TABLE


@pytest.mark.parametrize("generated", ["GENERATED ALWAYS AS", "GENERATED ALWAYS AS IDENTITY"])
def test_a_generated_column_without_an_expression_is_refused_at_the_column(generated):
    sql = (
        f"CREATE TABLE t (x BIGINT, y BIGINT {generated}) WITH (connector = 'single_file', path = 'x.json', "
        "format = 'json', type = 'source'); SELECT * FROM t"
    )
    diag = _plan_error(sql)
    assert "GENERATED ALWAYS AS needs an expression" in diag.message
    assert diag.start.column == sql.index("y BIGINT") + 1


def test_metadata_types_are_checked_against_what_the_connector_offers():
    diag = _plan_error(
        "CREATE TABLE m (name TEXT, topic INT METADATA FROM 'topic') WITH (connector = 'mqtt', "
        "url = 'tcp://localhost:1883', topic = 'a/#', type = 'source', format = 'json'); SELECT topic FROM m"
    )
    assert diag.message == (
        "Failed to create table m caused by Error during planning: incorrect data type for metadata field "
        "'topic'; expected TEXT, but found INT"
    )


def test_temporary_table_with_a_connector_is_refused_not_made_a_memory_table():
    diag = _plan_error(
        "CREATE TEMPORARY TABLE t (x BIGINT) WITH (connector = 'impulse', event_rate = '1'); SELECT * FROM t"
    )
    assert (
        "CREATE TEMPORARY TABLE declares a lookup table, and connector 'impulse' has no lookups"
        in diag.message
    )
    assert diag.start.column == len("CREATE ") + 1


def test_with_values_may_be_intervals_lists_and_bare_names():
    program = plan_query(
        "CREATE TABLE t (ts TIMESTAMP, a TEXT) WITH (connector = 'single_file', path = 'x.json', format = 'json', "
        "type = 'source', event_time_field = ts, 'x.flush' = interval '10 minutes', fields = [a, ts]);"
        "SELECT a FROM t"
    )
    opts = program.tables["t"].options
    assert opts["event_time_field"] == "ts"
    assert opts["x.flush"] == "10 minutes"
    assert opts["fields"] == "a,ts"
    assert program.tables["t"].event_time_field == "ts"


def test_create_table_as_select_is_a_table_defined_by_its_query(tmp_path):
    rec, job = run_sql(
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000', message_count = '6', "
        "event_time_interval = '1000000');\n"
        "CREATE TABLE evens AS (SELECT counter FROM impulse WHERE counter % 2 = 0);\n"
        "SELECT counter * 10 AS c FROM evens"
    )
    assert job.outcome == "finished"
    assert sorted(r["c"] for r in rec.rows) == [0, 20, 40]  # counters 0..5, the even ones, times 10


def test_set_updating_ttl_is_accepted_and_kept_other_settings_are_not():
    program = plan_query(
        "SET updating_ttl = '2 hours';\n"
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '10');\n"
        "SELECT counter % 2, count(*) FROM impulse GROUP BY 1"
    )
    assert program.settings == {"updating_ttl": "2 hours"}
    diag = _plan_error(
        "SET parallelism = 3;\nCREATE TABLE i WITH (connector = 'impulse', event_rate = '10');SELECT * FROM i"
    )
    assert "unknown setting 'parallelism'" in diag.message and diag.start.line == 1
    diag = _plan_error(
        "SET updating_ttl = 'soon';\nCREATE TABLE i WITH (connector = 'impulse', event_rate = '10');"
        "SELECT * FROM i"
    )
    assert "updating_ttl must be an interval" in diag.message


def test_redis_lookup_tables_need_their_key_from_metadata():
    sql = (
        "CREATE TABLE lookup (\n    key TEXT PRIMARY KEY,\n    value TEXT\n) WITH (connector = 'redis', "
        "format = 'json', address = 'redis://localhost:6379', type = 'lookup');\nSELECT 1"
    )
    diag = _plan_error(sql)
    assert diag.message == (
        "Redis lookup tables must have a PRIMARY KEY field defined as `field_name TEXT METADATA FROM 'key'`"
    )
    assert (diag.start.line, diag.start.column) == (2, 5)  # under the key column
    # with the key from metadata the table is a lookup table (joined with JOIN … ON)
    program = plan_query(sql.replace("key TEXT PRIMARY KEY", "key TEXT PRIMARY KEY METADATA FROM 'key'"))
    assert program.tables["lookup"].kind == "lookup"
