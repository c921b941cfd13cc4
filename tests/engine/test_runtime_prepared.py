"""Queries are planned once per operator; row-wise ones run as compiled Arrow expressions."""

from __future__ import annotations

import pyarrow as pa
import pytest

from arroyo_jupyter.local.engine.planner import new_context
from arroyo_jupyter.local.engine.prepared import PreparedQuery

SCHEMA = pa.schema(
    [("a", pa.int64()), ("s", pa.string()), ("f", pa.float64()), ("_timestamp", pa.timestamp("ns"))]
)


def _batch(offset: int) -> pa.RecordBatch:
    n = 50
    a = [None if i % 7 == 0 else i - 20 + offset for i in range(n)]
    return pa.RecordBatch.from_pydict(
        {
            "a": a,
            "s": [None if i % 5 == 0 else f"v{i % 3}" for i in range(n)],
            "f": [None if i % 11 == 0 else (i - 25) / 3 for i in range(n)],
            "_timestamp": pa.array(list(range(n)), pa.int64()).cast(pa.timestamp("ns")),
        },
        schema=SCHEMA,
    )


def _plain(sql: str, batch: pa.RecordBatch) -> pa.Table:
    ctx = new_context([])
    ctx.register_record_batches("t", [[batch]])
    return ctx.sql(sql).to_arrow_table()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a, a * 2 AS b, _timestamp FROM t WHERE a % 3 = 0",
        "SELECT a / 4 AS q, -a AS n, a % 4 AS r, _timestamp FROM t WHERE a > 2 OR s = 'v1'",
        "SELECT s || 'x' AS t2, CAST(a AS DOUBLE) + f AS g, f IS NULL AS fnull FROM t WHERE NOT (a < 0) AND a IS NOT NULL",
        "SELECT 'lit' AS l, a FROM t",
    ],
)
def test_compiled_row_wise_queries_agree_with_datafusion_on_every_batch(sql):
    query = PreparedQuery(new_context([]), sql, {"t": SCHEMA})
    assert query.compiled
    for offset in range(4):
        batch = _batch(offset)
        got, want = query.run({"t": batch}), _plain(sql, batch)
        assert got.to_pylist() == want.to_pylist() and got.schema.names == want.schema.names
    assert query.compiled  # agreed on the first batch, so it stays compiled


def test_other_queries_run_through_datafusion():
    sql = "SELECT s, count(*) AS c FROM t GROUP BY s"
    query = PreparedQuery(new_context([]), sql, {"t": SCHEMA})
    assert not query.compiled
    assert sorted(query.run({"t": _batch(0)}).to_pylist(), key=str) == sorted(
        _plain(sql, _batch(0)).to_pylist(), key=str
    )


def test_a_compiled_query_that_fails_gives_datafusions_answer_or_error():
    sql = "SELECT 10 / a AS q FROM t"  # a = 0 in some rows of the first batch: DataFusion's error wins
    query = PreparedQuery(new_context([]), sql, {"t": SCHEMA})
    with pytest.raises(Exception, match="(?i)divide by zero"):
        query.run({"t": _batch(19)})
    ok = pa.RecordBatch.from_pydict(
        {
            "a": [1, 2],
            "s": ["x", "y"],
            "f": [1.0, 2.0],
            "_timestamp": pa.array([0, 1]).cast(pa.timestamp("ns")),
        },
        schema=SCHEMA,
    )
    assert query.run({"t": ok}).column("q").to_pylist() == [10, 5]
