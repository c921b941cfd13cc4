"""What Arroyo's planner refuses is refused here, with Arroyo's message, under the user's token."""

from __future__ import annotations

import pytest

from arroyo_jupyter.local.engine import PlanError, plan_query

IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '10');\n"
CARS = (
    "CREATE TABLE cars (ts TIMESTAMP, driver_id BIGINT, kind TEXT) WITH (connector = 'single_file', "
    "path = 'cars.json', format = 'json', type = 'source');\n"
)
OUT = "CREATE TABLE out (driver_id BIGINT) WITH (connector = 'single_file', path = 'o.json', format = 'json', type = 'sink');\n"
MEM = "CREATE TABLE mem (driver_id BIGINT, kind TEXT);\n"


@pytest.mark.parametrize(
    "sql, message, at",
    [
        (
            CARS + MEM + OUT + "INSERT INTO mem SELECT driver_id, kind FROM cars;\n"
            "INSERT INTO mem SELECT driver_id, kind FROM cars;\nINSERT INTO out SELECT driver_id FROM mem;",
            "Can only insert into a memory table once",
            "mem SELECT driver_id, kind FROM cars;\nINSERT INTO out",
        ),
        (
            CARS + MEM + OUT + "INSERT INTO out SELECT driver_id FROM mem;",
            "Can't query from memory table mem without first inserting into it.",
            "mem;",
        ),
        (
            CARS + OUT + "INSERT INTO out SELECT driver_id FROM cars;\nSELECT * FROM out",
            "attempted to read from table 'out', but it is a sink",
            "out",
        ),
        (
            IMPULSE + "SELECT counter, row_number() OVER (ORDER BY counter) AS rn FROM impulse",
            "window functions require already windowed input",
            "row_number()",
        ),
        (
            IMPULSE
            + "SELECT hop(interval '1 second', interval '10 second') AS window, count(*) AS n FROM impulse",
            "time window function hop is not allowed in this context. Are you missing a GROUP BY clause?",
            "hop(",
        ),
        (
            IMPULSE + "SELECT counter FROM impulse WHERE tumble(interval '1 second') IS NOT NULL",
            "time window function tumble is not allowed in this context",
            "tumble(",
        ),
        (
            IMPULSE
            + "SELECT count(*) AS n FROM (SELECT tumble(interval '1 minute') AS window, count(*) AS c "
            "FROM impulse GROUP BY 1)",
            "must have window in aggregate. Make sure you are calling one of the "
            "windowing functions (hop, tumble, session) or using the window field of the input",
            None,
        ),
        (
            IMPULSE + "SELECT count(*) FROM impulse GROUP BY hop(interval '3 minute', interval '10 minute')",
            "hop() width 600s currently must be a multiple of slide 180s",
            "hop(",
        ),
        (
            IMPULSE
            + "SELECT tumble(interval '1 minute') AS a, tumble(interval '1 minute') AS b, count(*) AS n "
            "FROM impulse GROUP BY 1, 2",
            "This feature is not implemented: do not support 2 window expressions in group by",
            None,
        ),
        (
            IMPULSE + "SELECT count(*) FROM impulse GROUP BY hop(interval '1 minute', interval '2 minute'), "
            "tumble(interval '1 minute')",
            "This feature is not implemented: do not support 2 window expressions in group by",
            None,
        ),
        (
            CARS + "SELECT a.driver_id FROM cars a JOIN cars b ON a.ts < b.ts",
            "Updating joins must include an equijoin condition",
            "a.ts < b.ts",
        ),
        (
            CARS + "SELECT kind FROM cars WHERE driver_id IN (SELECT driver_id FROM cars WHERE kind = 'x')",
            "This feature is not implemented: can't handle non-inner joins without windows",
            "IN (SELECT",
        ),
        (
            CARS + "CREATE VIEW v AS SELECT kind FROM cars a WHERE EXISTS (SELECT 1 FROM cars b "
            "WHERE b.driver_id = a.driver_id);\nSELECT * FROM v",
            "can't handle non-inner joins without windows (here 'EXISTS' with a subquery is a semi-join)",
            None,
        ),
        (
            CARS + "SELECT driver_id FROM cars INTERSECT SELECT driver_id FROM cars",
            "can't handle non-inner joins without windows (here 'INTERSECT' is a semi-join)",
            "INTERSECT",
        ),
        (
            CARS + "SELECT driver_id FROM cars EXCEPT SELECT driver_id FROM cars",
            "can't handle non-inner joins without windows (here 'EXCEPT' is an anti-join)",
            "EXCEPT",
        ),
        (
            CARS + "CREATE VIEW counts AS SELECT driver_id, count(*) AS n FROM cars GROUP BY 1;\n"
            "SELECT a.n, b.n FROM counts a JOIN counts b ON a.driver_id = b.driver_id",
            "can't handle updating left side of join",
            None,
        ),
        (
            "CREATE TEMPORARY TABLE t (x BIGINT) WITH (connector = 'impulse', event_rate = '1'); SELECT * FROM t",
            "CREATE TEMPORARY TABLE declares a lookup table",
            "TEMPORARY",
        ),
    ],
)
def test_refused_with_arroyos_reason_at_the_users_token(sql, message, at):
    with pytest.raises(PlanError) as info:
        plan_query(sql)
    (diag,) = info.value.diagnostics
    assert message in diag.message
    if at is not None:
        line, col = diag.start.line, diag.start.column
        offset = sum(len(x) + 1 for x in sql.split("\n")[: line - 1]) + col - 1
        assert sql[offset:].startswith(at), (diag, sql[offset : offset + 30])


def test_window_functions_over_a_windowed_memory_table_are_not_refused():
    program = plan_query(
        IMPULSE + 'CREATE TABLE counts (window STRUCT<start TIMESTAMP, "end" TIMESTAMP>, c BIGINT);\n'
        "INSERT INTO counts SELECT tumble(interval '1 second') AS window, count(*) AS c FROM impulse GROUP BY 1;\n"
        "SELECT c, row_number() OVER (PARTITION BY window ORDER BY c) AS rn FROM counts"
    )
    assert len(program.queries) == 2


@pytest.mark.parametrize(
    "query",
    [
        "SELECT _timestam FROM impulse",
        "SELECT counte FROM impulse",
        "SELECT windw FROM (SELECT tumble(interval '1 second') AS window, count(*) AS c FROM impulse GROUP BY 1)",
    ],
)
def test_messages_and_suggestions_never_name_internal_columns(query):
    with pytest.raises(PlanError) as info:
        plan_query(IMPULSE + query)
    message = info.value.diagnostics[0].message
    assert "No field named" in message
    assert "_timestamp" not in message and "__window" not in message and "__ts" not in message


DEBEZIUM = (
    "CREATE TABLE debezium_input (id INT PRIMARY KEY, count INT) WITH (connector = 'single_file', "
    "path = 'd.json', type = 'source', format = 'debezium_json');\n"
)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count(*) FROM debezium_input",  # Arroyo's error_no_aggregate_over_debezium: it plans
        "SELECT id % 2 AS k, sum(count) AS total FROM debezium_input GROUP BY 1",
        "SELECT count(*) FROM (SELECT id FROM debezium_input WHERE count > 1)",
        # nested updating aggregates plan in Arroyo (its golden test active_drivers has one)
        "SELECT count(*) FROM (SELECT id % 3 AS k, count(*) AS n FROM debezium_input GROUP BY 1)",
    ],
)
def test_aggregates_over_debezium_sources_plan_as_updating_queries(query):
    program = plan_query(DEBEZIUM + query)
    assert [q.kind for q in program.queries] == ["updating"]
