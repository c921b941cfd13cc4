"""The runtime's shape: one operator interface, bounded queues with measured backpressure,
measured alignment, and graceful vs immediate stops."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pyarrow.compute as pc
from engine_helpers import Recorder

from arroyo_jupyter.local.engine import plan_query, start_job
from arroyo_jupyter.local.engine.channels import CAPACITY
from arroyo_jupyter.local.engine.operator_api import Operator, SubtaskState


def _wait(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class Tagger(Operator):
    """A test operator: adds 1000 to ``counter``; its state is how many rows it saw."""

    def __init__(self, index: int):
        self.index, self.seen, self.barriers = index, 0, []

    def restore(self, states):
        self.seen = sum(s.small.get("seen", 0) for s in states or [] if s.index == self.index)

    def process(self, stream, batch, out):
        self.seen += batch.num_rows
        i = batch.schema.get_field_index("counter")
        out.emit(stream, batch.set_column(i, "counter", pc.add(batch.column(i), 1000)))

    def on_barrier(self, epoch, out):
        self.barriers.append(epoch)
        return SubtaskState(self.index, {"seen": self.seen})


def test_a_test_operator_plugs_into_the_dag_without_changing_the_runtime(tmp_path):
    # 500 rows per subtask at 500 rows/s: the job runs for a second, long enough to checkpoint
    program = plan_query(
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000', "
        "message_count = '500');\nSELECT counter FROM impulse",
        parallelism=2,
    )
    wm = program.source_nodes["impulse"][1]
    made: list[Tagger] = []
    node = program.dag.insert_after(
        wm, "tagger", "Tagger", lambda ctx: made.append(Tagger(ctx.index)) or made[-1]
    )
    assert {
        "src_id": wm,
        "dest_id": node.node_id,
        "key_type": "()",
        "value_type": "()",
        "edge_type": "Forward",
    } in program.graph["edges"]
    recorder = Recorder()
    job = start_job(program, state_dir=str(tmp_path), listener=recorder)
    _wait(lambda: recorder.rows, what="rows")
    job.checkpoint()
    assert job.join(30) and recorder.ended == "finished"
    # each impulse subtask counts 0..499 (message_count is per subtask)
    assert sorted(r["counter"] for r in recorder.rows) == sorted([c + 1000 for c in range(500)] * 2)
    assert [t.seen for t in made] == [500, 500]
    done = [r for r in recorder.checkpoints if r.finish_time]
    assert done and any(o.operator_id == "tagger" for o in done[0].operators)


class Gate(Operator):
    """Blocks in ``process`` while its gate is closed: a slow operator on demand."""

    def __init__(self, gate: threading.Event):
        self.gate = gate

    def process(self, stream, batch, out):
        while not self.gate.wait(0.05):
            pass
        out.emit(stream, batch)


def test_backpressure_rises_behind_a_slow_operator_and_falls_when_it_speeds_up():
    program = plan_query(
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '20000');\n"
        "CREATE TABLE sink (counter BIGINT) WITH (connector = 'blackhole');\n"
        "INSERT INTO sink SELECT counter FROM impulse WHERE counter % 2 = 0",
        parallelism=1,
    )
    projection = next(n.node_id for n in program.dag.nodes if n.operator.startswith("projection"))
    source = program.source_nodes["impulse"][0]
    gate = threading.Event()
    program.dag.insert_after(projection, "gate", "Gate", lambda ctx: Gate(gate))
    job = start_job(program, state_dir=None, listener=Recorder())

    def backpressure(node_id: int) -> float:
        c = job.metrics()[node_id][0]
        return 1 - (c.queue_rem + 1) / (c.queue_size + 1)

    try:
        _wait(
            lambda: backpressure(projection) > 0.85 and backpressure(source) > 0.85,
            what="backpressure to rise",
        )
        assert job.metrics()[projection][0].queue_rem == 0  # its output queue is full: the gate is slow
        gate.set()
        _wait(
            lambda: backpressure(projection) < 0.5 and backpressure(source) < 0.5, what="backpressure to fall"
        )
    finally:
        gate.set()
        job.stop("immediate")
        assert job.join(30)
    assert job.metrics()[projection][0].queue_size == CAPACITY


class Probe(Operator):
    def __init__(self, passed: threading.Event, at: list[int]):
        self.passed, self.at = passed, at

    def process(self, stream, batch, out):
        out.emit(stream, batch)

    def on_barrier(self, epoch, out):
        self.at.append(time.time_ns() // 1000)
        self.passed.set()
        return SubtaskState(0)


class Delay(Operator):
    """Holds its barrier ``seconds`` after the other input's barrier passed the probe."""

    def __init__(self, passed: threading.Event, seconds: float, released: list[int]):
        self.passed, self.seconds, self.released = passed, seconds, released

    def process(self, stream, batch, out):
        out.emit(stream, batch)

    def on_barrier(self, epoch, out):
        assert self.passed.wait(10)
        time.sleep(self.seconds)  # the delay under test, not a wait for something to happen
        self.released.append(time.time_ns() // 1000)
        return SubtaskState(0)


def test_alignment_of_a_subtask_whose_input_is_delayed_is_at_least_that_delay(tmp_path):
    program = plan_query(
        "CREATE TABLE a WITH (connector = 'impulse', event_rate = '500');\n"
        "CREATE TABLE b WITH (connector = 'impulse', event_rate = '500');\n"
        "SELECT counter FROM a UNION ALL SELECT counter FROM b",
        parallelism=1,
    )
    union = next(n for n in program.dag.nodes if n.operator.startswith("projection"))
    assert len(program.dag.inputs(union.node_id)) == 2
    passed, probe_at, released = threading.Event(), [], []
    delay = 0.4
    program.dag.insert_after(
        program.source_nodes["a"][1], "probe", "Probe", lambda ctx: Probe(passed, probe_at)
    )
    program.dag.insert_after(
        program.source_nodes["b"][1], "delay", "Delay", lambda ctx: Delay(passed, delay, released)
    )
    recorder = Recorder()
    job = start_job(program, state_dir=str(tmp_path), listener=recorder)
    try:
        _wait(lambda: recorder.rows, what="rows")
        epoch = job.checkpoint()
        _wait(
            lambda: any(r.epoch == epoch and r.finish_time for r in recorder.checkpoints), what="checkpoint"
        )
    finally:
        job.stop("immediate")
        assert job.join(30)
    report = next(r for r in recorder.checkpoints if r.epoch == epoch and r.finish_time)
    (sub,) = next(o for o in report.operators if o.node_id == union.node_id).subtasks
    alignment = next(s for s in sub.spans if s.event == "Alignment")
    # the delayed barrier arrived after it was released, and the wait began when the first barrier came
    assert alignment.finish_time >= released[0]
    hop = alignment.start_time - probe_at[0]  # how long the first barrier took from the probe to the union
    assert hop >= 0
    assert alignment.finish_time - alignment.start_time >= delay * 1e6 - hop
    assert alignment.finish_time - alignment.start_time >= delay * 1e6 / 2
    for o in report.operators:  # single-input subtasks do not wait
        if o.node_id != union.node_id and o.operator_id not in ("probe", "delay"):
            for s in o.subtasks:
                span = next(x for x in s.spans if x.event == "Alignment")
                assert span.finish_time - span.start_time < delay * 1e6


WINDOW_SQL = (
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '2000', "
    "event_time_interval = '1000000');\n"
    "SELECT count(*) AS c FROM impulse GROUP BY tumble(interval '1 hour')"
)


def _stopped_window_rows(mode: str) -> tuple[list, int]:
    program = plan_query(WINDOW_SQL)
    recorder = Recorder()
    job = start_job(program, state_dir=None, listener=recorder)
    source = program.source_nodes["impulse"][0]
    _wait(lambda: job.metrics()[source][0].messages_sent >= 200, what="rows from the source")
    job.stop(mode)
    assert job.join(30)
    assert recorder.ended == "stopped"
    return recorder.rows, job.metrics()[source][0].messages_sent


def test_graceful_stop_emits_the_open_windows_and_immediate_does_not():
    rows, sent = _stopped_window_rows("graceful")
    assert rows == [{"c": sent}]  # the open hour closed with every row the source sent
    rows, sent = _stopped_window_rows("immediate")
    assert rows == [] and sent >= 200


def test_stateful_operators_run_as_separate_subtask_threads():
    program = plan_query(
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\n"
        "SELECT counter % 3 AS k, count(*) FROM impulse GROUP BY 1",
        parallelism=2,
    )
    before = set(threading.enumerate())
    job = start_job(program, state_dir=None, listener=Recorder())
    try:
        _wait(
            lambda: (
                job.metrics()[program.queries[0].node_id][1].messages_recv
                + job.metrics()[program.queries[0].node_id][0].messages_recv
                > 0
            ),
            what="rows at the aggregate",
        )
        started = set(threading.enumerate()) - before  # this job's threads, not other tests'
        names = {t.name for t in started}
        for node in program.dag.nodes:
            for i in range(node.parallelism):
                assert f"arroyo-{node.operator_id}-{i}" in names
    finally:
        job.stop("immediate")
        assert job.join(30)
    assert not [t.name for t in started if t.name.startswith("arroyo-") and t.is_alive()]
    assert pa  # pyarrow imported for the operators above


class SlowSnapshot(Operator):
    """Its snapshot takes ``seconds`` and its state is ``size`` bytes of table."""

    def __init__(self, index: int, seconds: float):
        self.index, self.seconds = index, seconds

    def process(self, stream, batch, out):
        out.emit(stream, batch)

    def on_barrier(self, epoch, out):
        time.sleep(self.seconds)  # the snapshot's cost under test
        return SubtaskState(self.index, {}, {"blob": pa.table({"x": list(range(10_000))})})


def test_sync_and_async_spans_are_timed_in_the_subtask_that_does_the_work(tmp_path):
    program = plan_query(
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter FROM impulse",
        parallelism=1,
    )
    wm = program.source_nodes["impulse"][1]
    program.dag.insert_after(wm, "slow_snapshot", "SlowSnapshot", lambda ctx: SlowSnapshot(ctx.index, 0.2))
    recorder = Recorder()
    job = start_job(program, state_dir=str(tmp_path), listener=recorder)
    try:
        _wait(lambda: recorder.rows, what="rows")
        epoch = job.checkpoint()
        _wait(
            lambda: any(r.epoch == epoch and r.finish_time for r in recorder.checkpoints), what="checkpoint"
        )
    finally:
        job.stop("immediate")
        assert job.join(30)
    report = next(r for r in recorder.checkpoints if r.epoch == epoch and r.finish_time)
    slow = next(o for o in report.operators if o.operator_id == "slow_snapshot").subtasks[0]
    spans = {s.event: s for s in slow.spans}
    assert spans["Sync"].finish_time - spans["Sync"].start_time >= 200_000
    assert (
        spans["Async"].start_time >= spans["Sync"].finish_time and slow.bytes > 80_000
    )  # 10,000 int64 in Arrow IPC
    sink = next(o for o in report.operators if o.operator_id.startswith("sink_preview")).subtasks[0]
    assert [s.event for s in sink.spans] == ["Alignment", "Sync", "Async", "Committing"]
    # downstream of the slow snapshot, the barrier arrived only after it: the wait shows where it happened
    assert next(s for s in sink.spans if s.event == "Alignment").start_time >= spans["Sync"].finish_time
