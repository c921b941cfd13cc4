"""Tumbling/hopping aggregates keep partials per (window, key): bounded state, same results.

Each query runs through both window operators of the engine over the same batches and
watermarks: the partial-keeping one (``WindowedAggOp``) and the row-keeping one
(``WindowedOp``, the path of aggregates that do not merge). Their outputs must be equal,
also when the partial one is checkpointed and restored half-way.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from engine_helpers import read_lines, run_sql, write_lines

from arroyo_jupyter.local.engine import plan_query
from arroyo_jupyter.local.engine.nodes import stream_schema
from arroyo_jupyter.local.engine.operators import WindowedOp
from arroyo_jupyter.local.engine.window_agg import WindowedAggOp

SOURCE = (
    "CREATE TABLE events (ts TIMESTAMP, user BIGINT, amount DOUBLE, page TEXT) WITH (connector = 'single_file', "
    "path = '/nonexistent.json', format = 'json', type = 'source', event_time_field = 'ts');\n"
)
SECOND = 1_000_000_000

QUERIES = {
    "tumble, every mergeable aggregate": (
        "SELECT user, tumble(interval '10 seconds') AS window, count(*) AS n, count(page) AS pages, "
        "sum(amount) AS total, min(amount) AS lo, max(page) AS hi, avg(amount) AS mean, "
        "count(DISTINCT page) AS distinct_pages FROM events GROUP BY 1, 2"
    ),
    "hop, under a projection (Arroyo's usual form)": (
        "SELECT user, window.start AS s, window.end AS e, n, total * 2 AS twice FROM ("
        "SELECT user, hop(interval '2 seconds', interval '6 seconds') AS window, count(*) AS n, "
        "sum(amount) AS total FROM events GROUP BY 1, 2)"
    ),
    "tumble, no key, HAVING and WHERE": (
        "SELECT tumble(interval '5 seconds') AS w, count(*) AS n, max(amount) AS top FROM events "
        "WHERE amount > 1 GROUP BY 1 HAVING count(*) > 3"
    ),
}


def _batches(n_batches: int, rows: int = 200, users: int = 3, seed: int = 1) -> list[pa.RecordBatch]:
    """Rows with event time rising about 1 s a batch, some out of order, a few nulls."""
    rng = np.random.default_rng(seed)
    out = []
    for b in range(n_batches):
        ts = b * SECOND + rng.integers(-8 * SECOND, SECOND, rows)
        page = [None if i % 11 == 0 else f"p{i % 7}" for i in rng.integers(0, 1000, rows)]
        out.append(
            pa.RecordBatch.from_arrays(
                [
                    pa.array(ts).cast(pa.timestamp("ns")),
                    pa.array(rng.integers(0, users, rows)),
                    pa.array(rng.integers(0, 50, rows) / 4),
                    pa.array(page),
                    pa.array(ts).cast(pa.timestamp("ns")),
                ],
                names=["ts", "user", "amount", "page", "_timestamp"],
            )
        )
    return out


def _plan(select: str):
    program = plan_query(SOURCE + select, preview=True)
    q = program.queries[0]
    return q, {t: stream_schema(program, t) for t in q.shape.inputs}


def _rows(table: pa.Table | None) -> list[tuple]:
    if table is None:
        return []
    return [tuple(round(v, 9) if isinstance(v, float) else v for v in r.values()) for r in table.to_pylist()]


def _drive(op, batches, start: int = 0, stop: int | None = None):
    """Feed batches, a watermark at the batch's time after each (later batches have late rows)."""
    out = []
    for i, batch in enumerate(batches[start:stop], start):
        op.process("events", batch)
        out += sorted(_rows(op.on_watermark(i * SECOND)), key=repr)
    return out


@pytest.mark.parametrize("name", QUERIES)
def test_partials_give_the_results_of_the_raw_rows_also_across_a_restore(name):
    q, schemas = _plan(QUERIES[name])
    assert q.kind == "windowed" and q.shape.incremental is not None, "planned with partials"
    batches = _batches(30)
    raw_op, agg_op = WindowedOp(q, schemas, []), WindowedAggOp(q, schemas, [])
    raw = _drive(raw_op, batches)
    assert raw, "the query emits rows"
    assert _drive(agg_op, batches) == raw
    assert agg_op.late_rows == raw_op.late_rows > 0  # late rows are dropped alike
    assert agg_op.rows is not None, "pyarrow pre-aggregated every batch (it agreed with DataFusion)"

    first = WindowedAggOp(q, schemas, [])
    head = _drive(first, batches, 0, 13)
    restored = WindowedAggOp(q, schemas, [], first.snapshot(), first.emitted)
    assert head + _drive(restored, batches, 13) == raw


def test_partial_state_is_bounded_by_windows_and_keys_not_rows():
    q, schemas = _plan(QUERIES["tumble, every mergeable aggregate"])
    sizes = []
    for n in (5, 50):  # every row in one open window: 10× the rows
        op = WindowedAggOp(q, schemas, [])
        for batch in _batches(n, users=3):
            op.process(
                "events",
                batch.set_column(
                    0, "ts", pa.array(np.full(batch.num_rows, 5 * SECOND)).cast(pa.timestamp("ns"))
                ).set_column(
                    4, "_timestamp", pa.array(np.full(batch.num_rows, 5 * SECOND)).cast(pa.timestamp("ns"))
                ),
            )
        state = op.snapshot()[WindowedAggOp.STATE]
        sizes.append((state.num_rows, state.nbytes))
    assert sizes[0][0] == sizes[1][0] == 3  # one partial per key of the one window
    assert sizes[1][1] <= sizes[0][1] * 1.5  # distinct pages are bounded too: not 10× the bytes
    raw = WindowedOp(q, schemas, [])
    for batch in _batches(5, users=3):
        raw.process("events", batch)
    assert raw.snapshot()["events"].num_rows == 1000  # the row-keeping path, for contrast


def test_aggregates_that_do_not_merge_keep_their_rows():
    q, _ = _plan(
        "SELECT user, tumble(interval '10 seconds') AS w, array_agg(amount) AS a FROM events GROUP BY 1, 2"
    )
    assert q.kind == "windowed" and q.shape.incremental is None


def test_checkpoints_of_a_partial_window_restore_in_a_job(tmp_path):
    rows = [
        {"ts": f"2024-01-01T00:{s // 60:02d}:{s % 60:02d}Z", "user": s % 4, "amount": s % 7, "page": "x"}
        for s in range(0, 600)
    ]
    src = write_lines(tmp_path / "events.json", rows)
    out = tmp_path / "out.json"
    sql = (
        SOURCE.replace("/nonexistent.json", str(src))
        + f"CREATE TABLE out (user BIGINT, s TIMESTAMP, n BIGINT, total DOUBLE) WITH (connector = 'single_file', "
        f"path = '{out}', format = 'json', type = 'sink');\n"
        "INSERT INTO out SELECT user, window.start, n, total FROM (SELECT user, tumble(interval '1 minute') "
        "AS window, count(*) AS n, sum(amount) AS total FROM events GROUP BY 1, 2)"
    )
    assert plan_query(sql).queries[0].shape.incremental is not None
    _, job = run_sql(sql, state_dir=str(tmp_path / "state"), batch_size=50, checkpoint_every=3, parallelism=2)
    assert job.outcome == "finished"
    got = sorted((r["user"], r["s"][11:16], r["n"], r["total"]) for r in read_lines(out))
    want = sorted(
        (u, f"00:{m:02d}", 15, float(sum(s % 7 for s in range(m * 60, m * 60 + 60) if s % 4 == u)))
        for m in range(10)
        for u in range(4)
    )
    assert got == want
