"""Run a planned program's DAG: one thread per subtask, bounded queues between them.

Arroyo's shape: every subtask of every node runs in its own thread; sources poll their
connector, operators read their inbox (one bounded queue per input channel, channels.py)
and call the operator through the one interface of operator_api.py. A slow operator fills
its inbox and blocks its inputs; that fill is the backpressure ``metrics()`` reports.

Watermarks, checkpoint barriers and end-of-data travel through the same queues. A
checkpoint starts at the sources; a subtask with several inputs stops reading each input
whose barrier arrived until all have (Alignment), snapshots its operator (Sync), forwards
the barrier, writes its state (Async) and, for sinks, commits (Committing) — each span
timed where it happens. The job writes the epoch's metadata once every subtask reported.
A subtask that already ended contributes its final state to later epochs.

Stop modes: ``graceful`` ends the sources; the end flows downstream and windows and pending
changes flush, as when bounded sources finish. ``immediate`` and ``force`` halt every
thread at once without flushing. A checkpoint with ``stop`` stops after its barrier.
DataFusion and Arrow release the GIL, so subtasks of a job run in parallel on their kernels.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from . import state as st
from .channels import CAPACITY, Halted, Inbox
from .dag import Node, SubtaskContext
from .interface import CheckpointReport, OperatorCheckpoint, Span, SubtaskCheckpoint, SubtaskCounters
from .operator_api import Operator, OperatorError, SubtaskState
from .operators import NEG_INF, POS_INF
from .planner import Program
from .sources import SourceError

LINGER_S = 0.1  # a source batch waits this long for more rows (Arroyo's source-batch-linger)
IDLE_WAKE_S = 0.125  # idle loops wake at most 8 times a second (requests wake them at once)

DATA, WATERMARK, BARRIER, END = "data", "watermark", "barrier", "end"


def _us() -> int:
    return time.time_ns() // 1000


def _as_batch(data: pa.Table | pa.RecordBatch) -> pa.RecordBatch | None:
    if isinstance(data, pa.RecordBatch):
        return data if data.num_rows else None
    if data.num_rows == 0:
        return None
    batches = data.combine_chunks().to_batches()
    return batches[0] if len(batches) == 1 else pa.concat_batches(batches)


class _Failure(Exception):
    def __init__(self, operator_id: str, subtask: int, message: str, details: str, retryable: bool):
        super().__init__(message)
        self.operator_id, self.subtask, self.message, self.details, self.retryable = (
            operator_id,
            subtask,
            message,
            details,
            retryable,
        )


@dataclass
class _Route:
    """Where one upstream subtask's output goes on one edge."""

    targets: list[tuple[Inbox, int]]  # per downstream subtask: (its inbox, this sender's channel there)
    shuffle: bool
    index: int  # the sender's subtask index

    def data_target(self, partition: int | None) -> tuple[Inbox, int]:
        if self.shuffle and partition is not None:
            return self.targets[partition % len(self.targets)]
        return self.targets[self.index % len(self.targets)]

    def all_targets(self) -> list[tuple[Inbox, int]]:
        return self.targets if self.shuffle else [self.targets[self.index % len(self.targets)]]


@dataclass
class _Subtask:
    node: Node
    index: int
    op: Any  # Operator, or SourceSubtask for source nodes
    counters: SubtaskCounters
    inbox: Inbox | None = None
    channels: int = 0
    routes: list[_Route] = field(default_factory=list)
    requests: deque[tuple[int, bool]] = field(default_factory=deque)  # sources: barriers to inject
    wake: threading.Event = field(default_factory=threading.Event)
    final: SubtaskState | None = None  # set once it ended: its state for every later epoch
    thread: threading.Thread | None = None

    @property
    def key(self) -> tuple[int, int]:
        return self.node.node_id, self.index


class _Out:
    """The Collector a subtask's operator writes to."""

    def __init__(self, sub: _Subtask):
        self.sub = sub
        self.pending_wm = NEG_INF
        self.sent_wm = NEG_INF

    def emit(self, stream: str, batch: pa.RecordBatch | pa.Table, partition: int | None = None) -> None:
        b = _as_batch(batch)
        if b is None:
            return
        c = self.sub.counters
        c.messages_sent += b.num_rows
        c.bytes_sent += b.get_total_buffer_size()
        for route in self.sub.routes:
            inbox, channel = route.data_target(partition)
            inbox.put(channel, (DATA, stream, b))

    def watermark(self, wm: int) -> None:
        self.pending_wm = max(self.pending_wm, wm)

    def flush_watermark(self) -> None:
        if self.pending_wm > self.sent_wm:
            self.sent_wm = self.pending_wm
            self.broadcast((WATERMARK, self.sent_wm))

    def broadcast(self, message: tuple) -> None:
        for route in self.sub.routes:
            for inbox, channel in route.all_targets():
                inbox.put(channel, message)


@dataclass
class _Epoch:
    epoch: int
    stopping: bool
    start: int
    reports: dict[tuple[int, int], SubtaskCheckpoint] = field(default_factory=dict)


class Job:
    """A running program; implements the ``Runner`` protocol of interface.py."""

    def __init__(
        self,
        program: Program,
        *,
        state_dir: str | None,
        listener: Any,
        checkpoint_interval_s: float | None = None,
        restore: bool = True,
        ignore_state_before_epoch: int | None = None,
        batch_size: int | None = None,
        checkpoint_every_batches: int | None = None,
        stop_after_epoch: int | None = None,
    ):
        self.program = program
        self.dag = program.dag
        self.root = Path(state_dir) if state_dir else None
        self.listener = listener
        self.interval = checkpoint_interval_s
        self.restore = restore
        self.ignore_before = ignore_state_before_epoch
        self.batch_size = batch_size
        self.every = checkpoint_every_batches
        self.stop_after = stop_after_epoch
        self._lock = threading.RLock()
        self._ready = threading.Event()
        self._halt = threading.Event()  # immediate stop or failure: every thread gives up
        self._graceful = threading.Event()
        self._wake = threading.Event()
        self._stop_mode: str | None = None
        self._stopping = False  # a stopping checkpoint was requested: no more epochs
        self._next_epoch = 1
        self._latest: int | None = None
        self._epochs: dict[int, _Epoch] = {}
        self._batches = 0
        self._failure: _Failure | None = None
        self._running = 0
        self.restored_epoch: int | None = None
        self.outcome: str | None = None  # "finished" | "stopped" | "failed"
        self.failure: str | None = None
        self.subtasks: list[_Subtask] = []
        self.counters: dict[int, dict[int, SubtaskCounters]] = {
            n.node_id: {
                i: SubtaskCounters(queue_size=CAPACITY, queue_rem=CAPACITY) for i in range(n.parallelism)
            }
            for n in self.dag.nodes
        }
        self._thread = threading.Thread(target=self._main, name="arroyo-engine", daemon=True)
        if self.root is not None:
            existing = st.all_epochs(self.root)
            self._next_epoch = (existing[-1] + 1) if existing else 1

    # ---- Runner API -------------------------------------------------------------------
    def start(self) -> Job:
        self._thread.start()
        return self

    def checkpoint(self, stop: bool = False) -> int:
        self._ready.wait(60)  # the subtasks exist (setup is quick)
        with self._lock:
            epoch = self._next_epoch
            self._next_epoch += 1
            stop = stop or (self.stop_after is not None and epoch >= self.stop_after)
            if self.root is None:  # nowhere to write state: a stop request still stops
                if stop:
                    self.stop("immediate")
                return epoch
            if (
                self._stopping
                or self._stop_mode is not None
                or self.outcome is not None
                or self._failure is not None
                or not self.subtasks
            ):
                return epoch  # stopping, ended or failed: no epoch can complete truthfully
            self._stopping = stop
            start = _us()
            st.epoch_dir(self.root, epoch).mkdir(parents=True, exist_ok=True)
            record = self._epochs[epoch] = _Epoch(epoch, stop, start)
            if self.listener is not None:  # the "started" report; the finished one is a separate object
                self.listener.on_checkpoint(
                    CheckpointReport(epoch=epoch, stopping=stop, start_time=start, finish_time=None)
                )
            for sub in self.subtasks:
                if sub.final is not None:  # ended before this epoch: its final state is its state
                    self._write_final(record, sub)
                elif sub.node.source:
                    sub.requests.append((epoch, stop))
                    sub.wake.set()
            self._maybe_complete(record)
        return epoch

    def stop(self, mode: str = "immediate") -> None:
        if mode not in ("graceful", "immediate", "force"):
            raise ValueError(f"unknown stop mode {mode!r}; use graceful, immediate or force")
        self._stop_mode = mode
        if mode == "graceful":
            self._graceful.set()
        else:
            self._halt.set()
        self._wake_all()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def metrics(self) -> dict[int, dict[int, SubtaskCounters]]:
        out: dict[int, dict[int, SubtaskCounters]] = {}
        for node_id, subs in self.counters.items():
            out[node_id] = {i: SubtaskCounters(**vars(c)) for i, c in subs.items()}
        for sub in self.subtasks:  # backpressure: how full the fullest output queue is now
            fill = max((inbox.fill(ch) for r in sub.routes for inbox, ch in r.all_targets()), default=0)
            out[sub.node.node_id][sub.index].queue_rem = max(0, CAPACITY - fill)
        return out

    @property
    def latest_epoch(self) -> int | None:
        return self._latest

    # ---- setup ------------------------------------------------------------------------
    def _setup(self) -> None:
        restored = None
        if self.root is not None and self.restore:
            restored = st.latest(self.root, self.ignore_before)
        self.restored_epoch = restored.epoch if restored else None
        if restored is not None:
            self._latest = restored.epoch
        by_key: dict[tuple[int, int], _Subtask] = {}
        for node in self.dag.nodes:
            old = None
            if restored is not None:
                old = [
                    SubtaskState(i, small, tables) for i, small, tables in restored.subtasks(node.operator_id)
                ]
            for i in range(node.parallelism):
                ctx = SubtaskContext(
                    i,
                    node.parallelism,
                    old,
                    self.listener,
                    self.batch_size,
                    self._bad_data_reporter(node.operator_id, i),
                )
                try:
                    op = node.build(ctx)
                    if not node.source:
                        op.restore(old)
                except OperatorError as err:
                    raise _Failure(node.operator_id, i, err.message, err.details, err.retryable) from None
                sub = _Subtask(node, i, op, self.counters[node.node_id][i])
                self.subtasks.append(sub)
                by_key[sub.key] = sub
        # channels: every (edge, upstream subtask) that can reach a downstream subtask
        for node in self.dag.nodes:
            for i in range(node.parallelism):
                by_key[(node.node_id, i)].inbox = Inbox(0, self._halt)
        for edge in self.dag.edges:
            up, down = self.dag.node(edge.src), self.dag.node(edge.dest)
            shuffle = edge.kind == "shuffle"
            for j in range(up.parallelism):
                targets = []
                for k in range(down.parallelism):
                    inbox = by_key[(down.node_id, k)].inbox
                    assert inbox is not None
                    reaches = shuffle or j % down.parallelism == k
                    if reaches:
                        inbox.queues.append(deque())
                    targets.append((inbox, len(inbox.queues) - 1 if reaches else -1))
                by_key[(up.node_id, j)].routes.append(_Route(targets, shuffle, j))
        for sub in self.subtasks:
            assert sub.inbox is not None
            sub.channels = len(sub.inbox.queues)
            if sub.node.source:
                sub.inbox = None

    def _bad_data_reporter(self, operator_id: str, index: int):
        def report(message: str, details: str) -> None:
            if self.listener is not None:
                self.listener.on_error(operator_id, index, message, details, True)

        return report

    # ---- subtask threads --------------------------------------------------------------
    def _run(self, sub: _Subtask) -> None:
        out = _Out(sub)
        try:
            if sub.node.source:
                ended = self._run_source(sub, out)
            else:
                ended = self._run_operator(sub, out)
            if ended is not None:
                out.broadcast((END,))
                self._ended(sub, ended)
        except Halted:
            pass
        except (OperatorError, SourceError) as err:
            e = err if isinstance(err, OperatorError) else OperatorError(str(err))
            self._fail(_Failure(sub.node.operator_id, sub.index, e.message, e.details, e.retryable))
        except Exception as err:  # an engine bug: report it as a job failure, never crash silently
            self._fail(
                _Failure(
                    sub.node.operator_id, sub.index, f"internal error: {err}", traceback.format_exc(), False
                )
            )
        finally:
            try:
                sub.op.close()
            except Exception:  # closing must not hide how the subtask ended
                pass
            with self._lock:
                self._running -= 1
            self._wake.set()

    def _run_source(self, sub: _Subtask, out: _Out) -> SubtaskState | None:
        """Poll the connector; inject barriers between batches. Returns the final state
        when it ended (finished or graceful stop), None after a stopping checkpoint."""
        src, stream = sub.op, sub.node.stream
        last_batch = time.monotonic()
        while True:
            if self._halt.is_set():
                raise Halted
            while sub.requests:
                epoch, stop = sub.requests.popleft()
                t = _us()
                small = src.snapshot()
                t_sync = _us()
                out.broadcast((BARRIER, epoch, stop))
                self._checkpointed(
                    sub,
                    epoch,
                    SubtaskState(sub.index, small),
                    [
                        Span("Alignment", "Time spent waiting for alignment barriers", t, t),
                        Span("Sync", "The synchronous part of checkpointing", t, t_sync),
                    ],
                )
                if stop:
                    return None
            if src.finished or self._graceful.is_set():
                return SubtaskState(sub.index, src.snapshot())
            batch = src.poll()
            now = time.monotonic()
            if batch is not None and batch.num_rows:
                out.emit(stream, batch)
                last_batch = now
                self._count_batch()
                continue
            if src.finished:
                continue
            # Arroyo's source batch linger: a slow source's rows wait up to 100 ms for company,
            # so idle and slow jobs wake a few times a second, not per row (requests wake at once)
            wait = max(src.next_due(), last_batch + LINGER_S) - now
            if wait > 0:
                sub.wake.wait(min(wait, IDLE_WAKE_S))
                sub.wake.clear()

    def _run_operator(self, sub: _Subtask, out: _Out) -> SubtaskState | None:
        op: Operator = sub.op
        inbox = sub.inbox
        assert inbox is not None
        n = sub.channels
        live = set(range(n))
        wms = [NEG_INF] * n
        current = NEG_INF
        blocked: set[int] = set()
        aligning: tuple[int, bool, int] | None = None  # (epoch, stop, first barrier µs)
        next_tick: float | None = time.monotonic()
        c = sub.counters

        def advance() -> None:
            nonlocal current
            wm = min(wms, default=POS_INF)
            if wm > current:
                current = wm
                forward = op.on_watermark(wm, out)
                if forward is not None:
                    out.watermark(forward)

        def aligned() -> bool:
            """Run the checkpoint once every live input's barrier arrived; True: stop now."""
            nonlocal aligning
            if aligning is None or not blocked >= live:
                return False
            epoch, stop, first = aligning
            t_aligned = _us()
            state = op.on_barrier(epoch, out)
            state.index = sub.index
            t_sync = _us()
            out.flush_watermark()
            out.broadcast((BARRIER, epoch, stop))
            self._checkpointed(
                sub,
                epoch,
                state,
                [
                    Span("Alignment", "Time spent waiting for alignment barriers", first, t_aligned),
                    Span("Sync", "The synchronous part of checkpointing", t_aligned, t_sync),
                ],
            )
            blocked.clear()
            aligning = None
            return stop

        while True:
            if next_tick is not None and time.monotonic() >= next_tick:
                next_tick = op.on_tick(time.monotonic(), out)
                out.flush_watermark()
            if not live:
                op.on_end(out)
                out.flush_watermark()
                return op.on_barrier(0, out)  # its state from now on
            timeout = None if next_tick is None else max(0.0, next_tick - time.monotonic())
            item = inbox.get(blocked, timeout)
            if item is None:
                continue
            ch, message = item
            kind = message[0]
            if kind == DATA:
                batch = message[2]
                c.messages_recv += batch.num_rows
                c.bytes_recv += batch.get_total_buffer_size()
                op.process(message[1], batch, out)
            elif kind == WATERMARK:
                wms[ch] = max(wms[ch], message[1])
                advance()
            elif kind == BARRIER:
                if aligning is None:
                    aligning = (message[1], message[2], _us())
                blocked.add(ch)
                if aligned():
                    return None
            else:  # END of this input
                live.discard(ch)
                blocked.discard(ch)
                wms[ch] = POS_INF
                advance()
                if aligned():  # the inputs still owing a barrier ended: the checkpoint completes
                    return None
            out.flush_watermark()

    # ---- checkpoints ------------------------------------------------------------------
    def _checkpointed(self, sub: _Subtask, epoch: int, state: SubtaskState, spans: list[Span]) -> None:
        """A subtask's part of ``epoch``: write its state (Async), commit (Committing), report."""
        assert self.root is not None
        t0 = _us()
        size = st.write_subtask(
            st.epoch_dir(self.root, epoch), sub.node.operator_id, sub.index, state.small, state.tables
        )
        t1 = _us()
        spans.append(Span("Async", "The asynchronous part of checkpointing", t0, t1))
        if not sub.node.source and sub.op.commit(epoch):
            spans.append(Span("Committing", "Committing the checkpoint", t1, _us()))
        with self._lock:
            record = self._epochs.get(epoch)
            if record is None:
                return
            record.reports[sub.key] = SubtaskCheckpoint(index=sub.index, bytes=size, spans=spans)
            self._maybe_complete(record)

    def _write_final(self, record: _Epoch, sub: _Subtask) -> None:
        assert self.root is not None and sub.final is not None
        t0 = _us()
        size = st.write_subtask(
            st.epoch_dir(self.root, record.epoch),
            sub.node.operator_id,
            sub.index,
            sub.final.small,
            sub.final.tables,
        )
        t1 = _us()
        record.reports[sub.key] = SubtaskCheckpoint(
            index=sub.index,
            bytes=size,
            spans=[
                Span("Alignment", "Time spent waiting for alignment barriers", t0, t0),
                Span("Sync", "The synchronous part of checkpointing", t0, t0),
                Span("Async", "The asynchronous part of checkpointing", t0, t1),
            ],
        )

    def _ended(self, sub: _Subtask, final: SubtaskState) -> None:
        final.index = sub.index
        with self._lock:
            sub.final = final
            for record in list(self._epochs.values()):
                if sub.key not in record.reports:
                    self._write_final(record, sub)
                    self._maybe_complete(record)

    def _maybe_complete(self, record: _Epoch) -> None:
        """Under the lock: once every subtask reported, write the metadata and report."""
        if len(record.reports) < len(self.subtasks) or record.epoch not in self._epochs:
            return
        for earlier in sorted(e for e in self._epochs if e < record.epoch):
            if len(self._epochs[earlier].reports) < len(self.subtasks):
                return  # epochs complete in order
        assert self.root is not None
        del self._epochs[record.epoch]
        ops_end = _us()
        operators = []
        for node in self.dag.nodes:
            subs = [record.reports[(node.node_id, i)] for i in range(node.parallelism)]
            operators.append(
                OperatorCheckpoint(
                    operator_id=node.operator_id,
                    node_id=node.node_id,
                    bytes=sum(s.bytes for s in subs),
                    started_metadata_write=None,
                    finish_time=None,
                    subtasks=subs,
                )
            )
        directory = st.epoch_dir(self.root, record.epoch)
        st.write_metadata(
            directory,
            {
                "epoch": record.epoch,
                "parallelism": self.program.parallelism,
                "stopping": record.stopping,
                "start_time": record.start,
                "operators": {o.operator_id: len(o.subtasks) for o in operators},
            },
        )
        meta_end = _us()
        st.compact(self.root)
        finish = _us()
        commits = [s for o in operators for sub in o.subtasks for s in sub.spans if s.event == "Committing"]
        commit_start = min((s.start_time for s in commits), default=ops_end)
        commit_end = max((s.finish_time for s in commits), default=ops_end)
        for o in operators:
            o.started_metadata_write, o.finish_time = ops_end, meta_end
        report = CheckpointReport(
            epoch=record.epoch,
            stopping=record.stopping,
            start_time=record.start,
            finish_time=finish,
            operators=operators,
            events=[
                Span("Checkpointing", "The entire checkpointing process", record.start, finish),
                Span(
                    "CheckpointingOperators",
                    "The time spent checkpointing operator states",
                    record.start,
                    ops_end,
                ),
                Span("WritingMetadata", "Writing the final checkpoint metadata", ops_end, meta_end),
                Span("Compacting", "Compacting old checkpoints", meta_end, finish),
                Span(
                    "Committing",
                    "Running two-phase commit for transactional connectors",
                    commit_start,
                    commit_end,
                ),
            ],
        )
        self._latest = record.epoch
        if self.listener is not None:
            self.listener.on_checkpoint(report)
        later = self._epochs.get(record.epoch + 1)
        if later is not None:
            self._maybe_complete(later)

    def _count_batch(self) -> None:
        if self.root is None or self.every is None:
            return
        with self._lock:
            self._batches += 1
            if self._batches < self.every:
                return
            self._batches = 0
        self.checkpoint()

    # ---- the job thread -----------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._setup()
        except _Failure as f:
            self._ready.set()
            self._fail(f)
            self._finish()
            return
        except Exception as err:  # an engine bug: report it as a job failure, never crash silently
            self._ready.set()
            self._fail(_Failure("job", 0, f"internal error: {err}", traceback.format_exc(), False))
            self._finish()
            return
        self._running = len(self.subtasks)
        for sub in self.subtasks:
            sub.thread = threading.Thread(
                target=self._run, args=(sub,), daemon=True, name=f"arroyo-{sub.node.operator_id}-{sub.index}"
            )
        for sub in self.subtasks:
            assert sub.thread is not None
            sub.thread.start()
        self._ready.set()
        last_ckpt = time.monotonic()
        while True:
            with self._lock:
                if self._running == 0:
                    break
            wait = IDLE_WAKE_S * 4
            if self.interval is not None and self.root is not None:
                wait = max(0.0, min(wait, last_ckpt + self.interval - time.monotonic()))
            self._wake.wait(wait)
            self._wake.clear()
            if (
                self.interval is not None
                and self.root is not None
                and time.monotonic() - last_ckpt >= self.interval
            ):
                last_ckpt = time.monotonic()
                if any(s.final is None for s in self.subtasks if s.node.source):
                    self.checkpoint()
        for sub in self.subtasks:
            assert sub.thread is not None
            sub.thread.join()
        self._finish()

    def _finish(self) -> None:
        if self._failure is not None:
            f = self._failure
            for sub in self.subtasks:  # subtasks that never started still close (sinks, clients)
                if sub.thread is None:
                    try:
                        sub.op.close()
                    except Exception:  # closing after a failure must not hide the failure
                        pass
            self.outcome, self.failure = "failed", f.message
            if self.listener is not None:
                self.listener.on_error(f.operator_id, f.subtask, f.message, f.details, f.retryable)
                self.listener.on_failed(f.message)
            return
        self.outcome = "stopped" if (self._stop_mode is not None or self._stopping) else "finished"
        if self.listener is not None:
            (self.listener.on_finished if self.outcome == "finished" else self.listener.on_stopped)()

    def _fail(self, f: _Failure) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = f
        self._halt.set()
        self._wake_all()

    def _wake_all(self) -> None:
        """Every waiting thread looks again (at a stop, a failure)."""
        for sub in self.subtasks:
            sub.wake.set()
            if sub.inbox is not None:
                sub.inbox.wake()
        self._wake.set()


def start_job(
    program: Program,
    *,
    state_dir: str | None,
    listener: Any,
    checkpoint_interval_s: float | None = None,
    restore: bool = True,
    ignore_state_before_epoch: int | None = None,
    batch_size: int | None = None,
    checkpoint_every_batches: int | None = None,
    stop_after_epoch: int | None = None,
) -> Job:
    """Start running ``program`` in background threads; returns the runner."""
    return Job(
        program,
        state_dir=state_dir,
        listener=listener,
        checkpoint_interval_s=checkpoint_interval_s,
        restore=restore,
        ignore_state_before_epoch=ignore_state_before_epoch,
        batch_size=batch_size,
        checkpoint_every_batches=checkpoint_every_batches,
        stop_after_epoch=stop_after_epoch,
    ).start()
