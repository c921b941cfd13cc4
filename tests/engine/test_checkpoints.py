"""Barrier checkpoints: reports with measured spans, files per subtask, restore, rescaling, exactly-once sinks."""

from __future__ import annotations

import time

from engine_helpers import Recorder, read_lines, run_sql, write_lines

from arroyo_jupyter.local.engine import plan_query, start_job
from arroyo_jupyter.local.engine.state import completed_epochs


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_runner_checkpoints_report_real_spans_and_bytes(tmp_path):
    program = plan_query(
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = 2000);\n"
        "SELECT counter % 7 AS k, count(*) AS n FROM impulse GROUP BY 1",
        parallelism=2,
    )
    recorder = Recorder()
    runner = start_job(program, state_dir=str(tmp_path), listener=recorder)
    try:
        _wait(lambda: recorder.rows)
        assert runner.checkpoint() == 1
        _wait(lambda: any(r.epoch == 1 and r.finish_time for r in recorder.checkpoints))
        assert runner.checkpoint(stop=True) == 2
        assert runner.join(30)
    finally:
        runner.stop("immediate")
    assert recorder.ended == "stopped"
    assert runner.latest_epoch == 2 and completed_epochs(tmp_path) == [1, 2]
    started = [r for r in recorder.checkpoints if r.finish_time is None]
    assert [r.epoch for r in started] == [1, 2]
    report = next(r for r in recorder.checkpoints if r.epoch == 2 and r.finish_time)
    assert report.stopping and report.start_time <= report.finish_time
    assert {e.event for e in report.events} == {
        "Checkpointing",
        "CheckpointingOperators",
        "WritingMetadata",
        "Compacting",
        "Committing",
    }
    assert {o.operator_id for o in report.operators} == set(program.op_ids.values())
    agg = next(o for o in report.operators if o.operator_id.startswith("updating_aggregate_"))
    assert len(agg.subtasks) == 2 and agg.bytes == sum(s.bytes for s in agg.subtasks) > 0
    for sub in agg.subtasks:
        assert [s.event for s in sub.spans] == ["Alignment", "Sync", "Async"]
        assert all(s.start_time <= s.finish_time for s in sub.spans)
    preview = next(o for o in report.operators if o.operator_id.startswith("sink_preview_"))
    assert [s.event for s in preview.subtasks[0].spans][-1] == "Committing"
    assert (
        tmp_path / "checkpoints" / "epoch-0000002" / f"{agg.operator_id}@1.__state.arrow"
    ).exists()  # a row per key
    metrics = runner.metrics()
    source_node = program.source_nodes["impulse"][0]
    assert sum(c.messages_sent for c in metrics[source_node].values()) > 0


def test_interval_checkpoints_and_stop_modes(tmp_path):
    program = plan_query(
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = 100);\nSELECT * FROM impulse"
    )
    recorder = Recorder()
    runner = start_job(program, state_dir=str(tmp_path), listener=recorder, checkpoint_interval_s=0.1)
    _wait(lambda: len([r for r in recorder.checkpoints if r.finish_time]) >= 3)
    runner.stop("graceful")
    assert runner.join(10)
    assert recorder.ended == "stopped"
    epochs = [r.epoch for r in recorder.checkpoints if r.finish_time]
    assert epochs[:3] == [1, 2, 3]
    assert recorder.closed == [program.sinks[0].operator_id]


def _cars(tmp_path, n: int = 400):
    rows = [
        {
            "ts": f"2024-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "driver": i % 13,
            "kind": "ab"[i % 2],
        }
        for i in range(0, n * 7, 7)
    ]
    path = write_lines(tmp_path / "cars.json", rows)
    return (
        f"CREATE TABLE cars (ts TIMESTAMP, driver BIGINT, kind TEXT) WITH (connector = 'single_file', "
        f"path = '{path}', format = 'json', type = 'source', event_time_field = 'ts');\n"
    )


def _pipeline(tmp_path, out) -> str:
    return (
        _cars(tmp_path)
        + f"CREATE TABLE out (driver BIGINT, start TIMESTAMP, n BIGINT) WITH (connector = 'single_file', "
        f"path = '{out}', format = 'json', type = 'sink');\n"
        + "INSERT INTO out SELECT driver, window.start, n FROM (SELECT driver, tumble(interval '5 minutes') AS window, "
        "count(*) AS n FROM cars GROUP BY 1, 2)"
    )


def test_restore_at_another_parallelism_gives_the_straight_result(tmp_path):
    straight = tmp_path / "straight.json"
    _, job = run_sql(_pipeline(tmp_path, straight))
    assert job.outcome == "finished"
    expected = sorted(map(str, read_lines(straight)))
    assert len(expected) > 50

    out, state = tmp_path / "restored.json", str(tmp_path / "state")
    _, first = run_sql(
        _pipeline(tmp_path, out),
        parallelism=2,
        state_dir=state,
        batch_size=16,
        checkpoint_every=2,
        stop_after_checkpoint=2,
    )
    assert first.outcome == "stopped" and first.latest_epoch == 2
    partial = len(read_lines(out))
    assert partial < len(expected)
    with open(out, "a") as f:  # output written after the checkpoint must be rolled back
        f.write('{"driver": -1, "start": "written after the checkpoint", "n": 0}\n')
    _, second = run_sql(
        _pipeline(tmp_path, out), parallelism=3, state_dir=state, batch_size=16, checkpoint_every=2
    )
    assert second.outcome == "finished", second.failure
    assert sorted(map(str, read_lines(out))) == expected


def test_updating_state_is_repartitioned_on_restore(tmp_path):
    sql_out = tmp_path / "agg.json"
    sql = (
        _cars(tmp_path)
        + f"CREATE TABLE out (driver BIGINT, n BIGINT) WITH (connector = 'single_file', path = '{sql_out}', "
        "format = 'debezium_json', type = 'sink');\n"
        + "INSERT INTO out SELECT driver, count(*) FROM cars GROUP BY driver"
    )
    state = str(tmp_path / "state")
    run_sql(sql, parallelism=3, state_dir=state, batch_size=20, checkpoint_every=3, stop_after_checkpoint=2)
    _, job = run_sql(sql, parallelism=2, state_dir=state, batch_size=20)
    assert job.outcome == "finished"
    from engine_helpers import fold_debezium

    final = {r["driver"]: r["n"] for r in fold_debezium(read_lines(sql_out))}
    assert final == {d: len([i for i in range(400) if (i * 7) % 13 == d]) for d in range(13)}


def test_restore_false_starts_from_scratch(tmp_path):
    out, state = tmp_path / "out.json", str(tmp_path / "state")
    run_sql(
        _pipeline(tmp_path, out), state_dir=state, batch_size=16, checkpoint_every=1, stop_after_checkpoint=1
    )
    program = plan_query(_pipeline(tmp_path, out))
    recorder = Recorder()
    runner = start_job(program, state_dir=state, listener=recorder, restore=False)
    assert runner.join(60)
    assert recorder.ended == "finished"
    straight = tmp_path / "straight.json"
    run_sql(_pipeline(tmp_path, straight))
    assert sorted(map(str, read_lines(out))) == sorted(map(str, read_lines(straight)))


def test_two_sinks_from_one_source_are_both_exactly_once(tmp_path):
    outs = [tmp_path / "evens.json", tmp_path / "counts.json"]
    sql = (
        _cars(tmp_path)
        + f"CREATE TABLE evens (driver BIGINT) WITH (connector = 'single_file', path = '{outs[0]}', "
        "format = 'json', type = 'sink');\n"
        + f"CREATE TABLE counts (kind TEXT, n BIGINT) WITH (connector = 'single_file', path = '{outs[1]}', "
        "format = 'debezium_json', type = 'sink');\n"
        + "INSERT INTO evens SELECT driver FROM cars WHERE driver % 2 = 0;\n"
        + "INSERT INTO counts SELECT kind, count(*) FROM cars GROUP BY kind;"
    )
    state = str(tmp_path / "state")
    run_sql(sql, parallelism=2, state_dir=state, batch_size=25, checkpoint_every=2, stop_after_checkpoint=3)
    _, job = run_sql(sql, parallelism=3, state_dir=state, batch_size=25, checkpoint_every=2)
    assert job.outcome == "finished"
    from engine_helpers import fold_debezium

    assert sorted(r["driver"] for r in read_lines(outs[0])) == sorted(
        (i * 7) % 13 for i in range(400) if (i * 7) % 13 % 2 == 0
    )
    assert fold_debezium(read_lines(outs[1])) == [{"kind": "a", "n": 200}, {"kind": "b", "n": 200}]
