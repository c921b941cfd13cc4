"""The Arroyo dialect: DDL with WITH options and WATERMARK, views, statements, errors with positions."""

from __future__ import annotations

import pytest

from arroyo_jupyter.local.engine import PlanError, plan_query
from arroyo_jupyter.local.engine.dialect import split_statements

IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '10');\n"


def test_with_options_and_watermark_are_read_from_create_table():
    (stmt,) = split_statements(
        "CREATE TABLE cars (\n  ts TIMESTAMP,\n  id BIGINT UNSIGNED NOT NULL,\n"
        "  WATERMARK FOR ts AS ts - INTERVAL '5' SECOND\n"
        ") WITH (connector = 'single_file', path = '/x.json', format = 'json', type = 'source',\n"
        "        'json.unstructured' = 'false', event_rate = 10)"
    )
    assert stmt.watermark == ("ts", "ts - INTERVAL '5' SECOND")
    assert stmt.options == {
        "connector": "single_file",
        "path": "/x.json",
        "format": "json",
        "type": "source",
        "json.unstructured": "false",
        "event_rate": "10",
    }
    assert [c.name for c in stmt.ast.this.expressions] == ["ts", "id"]


def test_watermark_without_expression_and_as_first_item():
    (stmt,) = split_statements("CREATE TABLE t (WATERMARK FOR ts, ts TIMESTAMP) WITH (connector = 'x')")
    assert stmt.watermark == ("ts", None)
    assert [c.name for c in stmt.ast.this.expressions] == ["ts"]


def test_statements_are_split_with_their_positions():
    stmts = split_statements(IMPULSE + "SELECT 1;\n\n  SELECT counter\n  FROM impulse;")
    assert len(stmts) == 3
    assert (stmts[2].start.line, stmts[2].start.column) == (4, 3)
    assert (stmts[2].end.line, stmts[2].end.column) == (5, 14)


def test_program_tables_views_and_queries():
    program = plan_query(
        IMPULSE
        + "CREATE TABLE mem (c BIGINT);\n"
        + "CREATE TABLE out WITH (connector = 'blackhole');\n"
        + "CREATE VIEW odd AS SELECT counter FROM impulse WHERE counter % 2 == 1;\n"
        + "INSERT INTO mem SELECT counter FROM odd;\n"
        + "INSERT INTO out SELECT c * 10 FROM mem;\n"
        + "SELECT c FROM mem;"
    )
    assert program.tables["mem"].kind == "memory"
    assert [q.target for q in program.queries] == ["mem", "out", "preview"]
    assert [q.kind for q in program.queries] == ["stateless"] * 3
    assert program.has_preview_sink
    ops = [n["operator"] for n in program.graph["nodes"]]
    assert ops[0] == "impulse" and "blackhole" in ops and "preview" in ops


@pytest.mark.parametrize(
    ("sql", "message", "line"),
    [
        ("", "Query is empty!", None),
        ("  -- only a comment\n", "Query is empty!", None),
        ("SELEC counter FROM impulse", "SQL error", 1),
        (IMPULSE + "SELECT counter FROM impulse WHERE", "Expected: an expression, found: EOF", 2),
        (IMPULSE + "SELECT 'open FROM impulse", "unterminated string", 2),
        (IMPULSE + "SELECT nope FROM impulse", "No field named nope", 2),
        (IMPULSE + "SELECT * FROM missing", "table 'missing' not found", 2),
        (
            IMPULSE + "INSERT INTO impulse SELECT * FROM impulse",
            "attempted to insert into table 'impulse', but it is a source",
            2,
        ),
        ("CREATE TABLE t (a INT) WITH (connector = 'kafkaa');", "unknown connector 'kafkaa'", 1),
        ("CREATE TABLE t (a INT) WITH (connector = );", "expected a value", 1),
        ("CREATE TABLE t (a INT) WITH (connector 'impulse');", "expected 'key = value'", 1),
        ("CREATE TABLE t (a whatever) WITH (connector = 'impulse');", "unsupported type", 1),
        (
            "CREATE TABLE i WITH (connector = 'impulse', event_rate = 'fast'); SELECT * FROM i",
            "must be a number",
            1,
        ),
        ("CREATE TABLE i WITH (connector = 'impulse'); SELECT * FROM i", "requires event_rate", 1),
        (
            "CREATE TABLE f (a INT) WITH (connector = 'single_file', format = 'json', type = 'source');",
            "requires path",
            1,
        ),
        (
            "CREATE TABLE f (a TIMESTAMP, WATERMARK FOR a AS) WITH (connector = 'single_file', path = 'x', "
            "format = 'json', type = 'source'); SELECT * FROM f",
            "needs an expression",
            1,
        ),
        (
            "CREATE TABLE f (a TIMESTAMP, WATERMARK FOR a AS b) WITH (connector = 'single_file', path = 'x', "
            "format = 'json', type = 'source'); SELECT * FROM f",
            "invalid watermark expression",
            1,
        ),
        (
            "CREATE TABLE f (a INT, WATERMARK FOR a) WITH (connector = 'single_file', path = 'x', "
            "format = 'json', type = 'source'); SELECT * FROM f",
            "must be a TIMESTAMP",
            1,
        ),
        (
            IMPULSE
            + "SELECT count(*) FROM (SELECT tumble(interval '1 second') AS w, count(*) AS c FROM impulse "
            "GROUP BY 1) GROUP BY tumble(interval '2 second')",
            "window in group by does not match input window",
            2,
        ),
        (IMPULSE + "SELECT count(*) FROM impulse GROUP BY tumble(interval 'soon')", "interval", 2),
        (
            IMPULSE
            + "SELECT max(c) FROM (SELECT count(*) AS c FROM impulse GROUP BY tumble(interval '1 second'))",
            "must have window in aggregate",
            2,
        ),
        (
            IMPULSE + "SELECT a.counter FROM impulse a LEFT JOIN impulse b ON a.counter = b.counter",
            "can't handle non-inner joins without windows",
            2,
        ),
        (
            IMPULSE
            + "SELECT a.counter FROM impulse a JOIN (SELECT counter, count(*) AS c FROM impulse GROUP BY 1) b "
            "ON a.counter = b.counter",
            "can't handle updating right side of join",
            2,
        ),
        ("DROP TABLE impulse", "unsupported statement", 1),
        ("CREATE T", "Expected: an object type after CREATE, found: T", 1),
        ("CREATE TABLE t (a INT, b", "Expected: a data type name, found: EOF", 1),
        (IMPULSE + "CREATE VIEW v", "needs a query", 2),
        (IMPULSE + "INSERT INTO impulse VALUES (1)", "needs a query", 2),
        (IMPULSE, "does not contain a query", 1),
    ],
)
def test_malformed_input_gives_one_clear_positioned_error(sql, message, line):
    with pytest.raises(PlanError) as info:
        plan_query(sql)
    (diag,) = info.value.diagnostics
    assert message in diag.message
    assert "Traceback" not in diag.message
    if line is None:
        assert diag.start is None
    else:
        assert diag.start is not None and diag.start.line == line
        assert diag.to_json()["span"]["start"]["line"] == line
    assert info.value.arroyo_message().startswith("Failed to plan query:\n * ")


def test_cut_and_spliced_golden_queries_never_crash_the_planner():
    """Every prefix of a realistic script plans or fails with a PlanError (never another exception)."""
    script = (
        IMPULSE + "CREATE TABLE out (n BIGINT, w TIMESTAMP) WITH (connector = 'blackhole');\n"
        "CREATE VIEW v AS SELECT counter, row_time() AS t FROM impulse WHERE counter % 2 = 0;\n"
        "INSERT INTO out SELECT count(*), window.end FROM (SELECT tumble(interval '1' second) AS window, "
        "counter FROM v GROUP BY 1, 2);\nSELECT * FROM v;"
    )
    for cut in range(0, len(script), 3):
        try:
            plan_query(script[:cut])
        except PlanError as err:
            assert err.diagnostics and all(d.message for d in err.diagnostics)


IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '10');\n"


@pytest.mark.parametrize(
    "query, name",
    [
        ("SELECT counter, nope FROM impulse;", "nope"),  # DataFusion: No field named nope
        ("SELECT counter\nFROM impulsee;", "impulsee"),  # table 'impulsee' not found
        ("SELECT no_such_fn(counter) FROM impulse;", "no_such_fn"),  # Invalid function '…'
    ],
)
def test_planning_errors_point_at_the_name_they_are_about(query, name):
    with pytest.raises(PlanError) as err:
        plan_query(IMPULSE + query)
    (diag,) = err.value.diagnostics
    lines = (IMPULSE + query).splitlines()
    at = lines[diag.start.line - 1][diag.start.column - 1 :]
    assert at.startswith(name), (diag, at)
    assert diag.end.column - diag.start.column == len(name)


def test_a_struct_field_typo_points_at_the_field():
    sql = "CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '10');\nSELECT bid.auction, bid.prise FROM nexmark;"
    with pytest.raises(PlanError) as err:
        plan_query(sql)
    (diag,) = err.value.diagnostics
    assert (diag.start.line, diag.start.column) == (2, sql.splitlines()[1].index("prise") + 1)
