"""Malformed SQL never gets a Python traceback: always a PlanError whose diagnostics carry a
position in the user's text. Inputs: Arroyo's planner and golden queries, cut short at many
points and with single tokens dropped or doubled (a fixed seed, so failures reproduce)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from arroyo_jupyter.local.engine import PlanError, plan_query

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "arroyo"
NEXMARK = "CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '10'); "


def _scripts() -> list[tuple[str, str]]:
    files = sorted((SHARED / "sql-planner" / "queries").glob("*.sql")) + sorted(
        (SHARED / "sql-golden" / "queries").glob("*.sql")
    )
    return [(f.stem, f.read_text()) for f in files]


def _variants(text: str, rng: random.Random) -> list[str]:
    out = [text[:cut] for cut in sorted(rng.sample(range(1, len(text)), min(12, len(text) - 1)))]
    words = list(re.finditer(r"\w+|[^\w\s]", text))
    for _ in range(10):
        w = rng.choice(words)
        if rng.random() < 0.5:
            out.append(text[: w.start()] + text[w.end() :])  # a token dropped
        else:
            out.append(text[: w.end()] + " " + w.group() + text[w.end() :])  # a token doubled
    names = list(re.finditer(r"[A-Za-z_]{3,}", text))
    for _ in range(6):
        w = rng.choice(names)
        out.append(text[: w.end() - 1] + text[w.end() :])  # a typo: SELEC, FRO, WIT …
    return out


def _check(sql: str) -> None:
    try:
        plan_query(sql)
    except PlanError as err:
        assert err.diagnostics, sql
        for d in err.diagnostics:
            assert d.message and "Traceback" not in d.message, sql
            assert "__window" not in d.message and "_timestamp" not in d.message, (d.message, sql)
            if sql.strip() and d.message != "Query is empty!":
                assert d.start is not None, (d.message, sql)
                lines = sql.split("\n")
                assert 1 <= d.start.line <= len(lines), (d, sql)
                found = re.search(r"found: (\S+)$", d.message)
                if found and found.group(1) != "EOF":  # a syntax error sits under the token it found
                    at = lines[d.start.line - 1][d.start.column - 1 :]
                    assert at.lower().startswith(found.group(1).lower()), (d, sql)


@pytest.mark.skipif(not SHARED.exists(), reason="Arroyo's queries are not checked out")
@pytest.mark.parametrize("name, text", _scripts(), ids=lambda v: v if len(v) < 40 else "")
def test_malformed_arroyo_queries_give_a_positioned_plan_error(name, text):
    rng = random.Random(name)
    if "nexmark" in text.lower() and "create table nexmark" not in text.lower():
        text = NEXMARK + text
    for sql in _variants(text, rng):
        _check(sql)


T = (
    "CREATE TABLE t (doc TEXT, ts TIMESTAMP) WITH (connector = 'single_file', path = 'x.json', format = 'json', "
    "type = 'source');\n"
)
IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '10');\n"


@pytest.mark.parametrize(
    "sql, message, at",
    [
        (T + "SELECT json_gett(doc, 'a') FROM t", "Did you mean 'json_get'?", "json_gett"),
        (
            T + "SELECT json_get_str(doc, ts) FROM t",
            "the keys of 'json_get_str' must be literal",
            "json_get_str",
        ),
        (T + "SELECT doc -> ts FROM t", "the right side of '->' must be a key", "->"),
        (T + "SELECT doc ? ts FROM t", "the right side of '?' must be a literal key", "?"),
        (
            T + "SELECT doc, count(*) FROM t",
            'column "t.doc" must appear in the GROUP BY clause',
            "doc, count",
        ),
        (
            T + "SELECT doc FROM t WHERE doc -> 'a' -> 0",
            "non-boolean predicate 'json_get(json_get(t.doc, 'a'), 0)' returning Utf8",
            "a' -> 0",
        ),
        ("EXPLAIN SELECT 1", "unsupported statement 'EXPLAIN'", "EXPLAIN"),
        ("create tabl", "SQL error: Expected: an object type after CREATE, found: tabl", "tabl"),
        (
            "CREATE TABLE o (\n  a TEXT,\n  ts TIMESTAMP,\n  WATERMARK FOR ts AS CAST(a AS ) - INTERVAL '1' SECOND\n"
            ") WITH (connector = 'single_file', path = 'x', format = 'json', type = 'source'); SELECT * FROM o",
            "invalid watermark expression: SQL error: Expected: a data type name, found: )",
            ") - INTERVAL",
        ),
        (
            "CREATE TABLE u (id INT, t STRUCT<a INT, x STRUCT<TEXT>>) WITH (connector = 'single_file', "
            "path = 'x', format = 'json', type = 'source'); SELECT id FROM u",
            "each STRUCT field needs a name and a type",
            "t STRUCT",
        ),
        (  # a view is planned where it is created: an unknown table is reported there
            "CREATE VIEW v AS SELECT *\nFROM nope;\nSELECT * FROM v",
            "table 'nope' not found",
            "nope;",
        ),
        (  # a bad WITH value is marked in the WITH clause
            "CREATE TABLE t (a INT) WITH (\n  connector = 'kafkaa',\n  x = 'y');\nSELECT * FROM t",
            "unknown connector 'kafkaa'",
            "kafkaa'",
        ),
        (
            "CREATE TABLE i WITH (connector = 'impulse', event_rate = 'fast'); SELECT * FROM i",
            "option event_rate must be a number, got 'fast'",
            "fast'",
        ),
        (T + "SELECT *  t", "SQL error: Expected: end of statement, found: t", "t"),
        (T + "SELECT cas(doc AS TEXT)\nFROM t", "SQL error: Expected: ), found: AS", "AS TEXT"),
        (
            "CREATE TABLE t (\n  x TEXT\n) WITH (\n  connector = 'single_file',\n  path = 'x.json'\n));\nSELECT x FROM t",
            "SQL error: Expected: end of statement, found: )",
            ");",  # the stray one, on line 6 (the WITH clause keeps its lines)
        ),
        (T + "SELECT SELECT * FROM t", "SQL error: Expected: an expression, found: SELECT", "SELECT *"),
        (
            "CREATE TABLE l (\n  key TEXT,\n  value\n) WITH (connector = 'single_file', path = 'x.json', "
            "format = 'json', type = 'source'); SELECT * FROM l",
            "column 'value' needs a type",
            "value\n)",
        ),
        (IMPULSE + "SHOW TABLES", "unsupported statement 'SHOW'", "SHOW"),
        (T + "SELECT 1;\n  update t SET doc = 'x'", "unsupported statement 'UPDATE'", "update"),
        (
            IMPULSE + "SELECT count(*) FROM impulse GROUP BY tumble('soon')",
            "cannot read interval 'soon'",
            "soon",
        ),
        ("SELEC counter FROM impulse", "Expected: an SQL statement, found: SELEC", "SELEC"),
        (
            IMPULSE + "SELECT counter FROM impulse GROUP x",
            "Expected: end of statement, found: GROUP",
            "GROUP",
        ),
        (
            IMPULSE + "SELECT a.counter FROM impulse a JOIN impulse b ON a.counter > b.counter",
            "Updating joins must include an equijoin condition",
            "a.counter > b.counter",
        ),
        (
            "CREATE TABLE t (x TEXT, k TEXT METADATA FROM 'nope') WITH (connector = 'kafka', type = 'source', "
            "format = 'json', topic = 'a', bootstrap_servers = 'b'); SELECT * FROM t",
            "unknown metadata field 'nope' for connector 'kafka'",
            "k TEXT",
        ),
        (
            IMPULSE + "SELECT session(interval '1 second') AS w, count(*) FROM impulse",
            "time window function session is not allowed in this context",
            "session",
        ),
    ],
)
def test_errors_point_at_the_users_token_in_the_users_words(sql, message, at):
    with pytest.raises(PlanError) as info:
        plan_query(sql)
    (diag,) = info.value.diagnostics
    assert message in diag.message
    assert "__" not in diag.message
    line, col = diag.start.line, diag.start.column
    offset = sum(len(x) + 1 for x in sql.split("\n")[: line - 1]) + col - 1
    assert sql[offset:].startswith(at), (diag, sql[offset : offset + 20])
