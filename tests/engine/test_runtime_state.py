"""Updating aggregates keep state proportional to keys: COUNT(DISTINCT) is incremental."""

from __future__ import annotations

import pyarrow as pa
from engine_helpers import fold_debezium, read_lines, run_sql, write_lines

from arroyo_jupyter.local.engine import plan_query
from arroyo_jupyter.local.engine.planner import new_context
from arroyo_jupyter.local.engine.state import latest


def _events(tmp_path, n: int = 600):
    rows = [
        {
            "ts": f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "user": i % 9,
            "page": None if i % 13 == 0 else f"p{i % 17}",
        }
        for i in range(n)
    ]
    return rows, write_lines(tmp_path / "events.json", rows)


def _sql(path, out) -> str:
    return (
        f"CREATE TABLE events (ts TIMESTAMP, user BIGINT, page TEXT) WITH (connector = 'single_file', "
        f"path = '{path}', format = 'json', type = 'source', event_time_field = 'ts');\n"
        f"CREATE TABLE out (user BIGINT, pages BIGINT, n BIGINT) WITH (connector = 'single_file', "
        f"path = '{out}', format = 'debezium_json', type = 'sink');\n"
        "INSERT INTO out SELECT user, count(DISTINCT page) AS pages, count(*) AS n FROM events GROUP BY user"
    )


def _expected(rows) -> list[dict]:
    ctx = new_context([])
    ctx.register_record_batches("e", [[pa.RecordBatch.from_pylist(rows)]])
    got = ctx.sql(
        "SELECT user, count(DISTINCT page) AS pages, count(*) AS n FROM e GROUP BY user"
    ).to_arrow_table()
    return sorted(got.to_pylist(), key=lambda r: r["user"])


def test_count_distinct_is_planned_incrementally_with_state_per_key(tmp_path):
    rows, path = _events(tmp_path)
    out = tmp_path / "out.json"
    program = plan_query(_sql(path, out))
    assert program.queries[0].shape.incremental is not None
    state = str(tmp_path / "state")
    _, job = run_sql(_sql(path, out), state_dir=state, batch_size=50, checkpoint_every=3)
    assert job.outcome == "finished", job.failure
    assert sorted(fold_debezium(read_lines(out)), key=lambda r: r["user"]) == _expected(rows)
    restored = latest(tmp_path / "state")
    agg = next(n.operator_id for n in program.dag.nodes if n.operator_id.startswith("updating_aggregate"))
    ((_, _, tables),) = restored.subtasks(agg)
    assert tables["__state"].num_rows == 9  # one row per user, not one per event


def test_count_distinct_restores_at_another_parallelism(tmp_path):
    rows, path = _events(tmp_path)
    out, state = tmp_path / "out.json", str(tmp_path / "state")
    _, first = run_sql(
        _sql(path, out),
        parallelism=2,
        state_dir=state,
        batch_size=40,
        checkpoint_every=2,
        stop_after_checkpoint=2,
    )
    assert first.outcome in ("stopped", "finished")
    _, second = run_sql(_sql(path, out), parallelism=3, state_dir=state, batch_size=40, checkpoint_every=2)
    assert second.outcome == "finished", second.failure
    assert sorted(fold_debezium(read_lines(out)), key=lambda r: r["user"]) == _expected(rows)
