"""Run a planned program: sources → operators → sinks, with watermarks and checkpoints.

One driver thread moves batches through the graph. Every operator has ``parallelism``
subtasks (separate state, separate counters); stateful queries receive rows hash-partitioned
on their keys. Between two rounds of source batches every operator is idle, so a checkpoint
there is barrier-aligned by construction: each subtask snapshots its state, writes it to its
own files, and the epoch's metadata file is written last. The heavy lifting (expressions,
aggregates, joins) runs inside DataFusion and Arrow, which release the GIL.
"""

from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path
from typing import Any

import pyarrow as pa

from . import state as st
from .interface import CheckpointReport, OperatorCheckpoint, Span, SubtaskCheckpoint, SubtaskCounters
from .operators import (
    NEG_INF,
    POS_INF,
    IncrementalAggOp,
    KeyRouter,
    QueryError,
    StatelessOp,
    UpdatingOp,
    WindowedOp,
    _max_ts,
)
from .planner import Program, _input_schema
from .sinks import sink_class
from .sources import DEFAULT_BATCH, OP_COL, SourceError, open_source
from .translate import TIME_COL

FLUSH_SECONDS = 0.25  # how often updating queries emit their changes at most
LINGER_S = 0.1  # a source batch waits this long for more rows (Arroyo's source-batch-linger)
ONE_SECOND = 1_000_000_000


def _us() -> int:
    return time.time_ns() // 1000


def _as_batch(data: pa.Table | pa.RecordBatch) -> pa.RecordBatch | None:
    if isinstance(data, pa.RecordBatch):
        return data if data.num_rows else None
    if data.num_rows == 0:
        return None
    batches = data.combine_chunks().to_batches()
    return batches[0] if len(batches) == 1 else pa.concat_batches(batches)


def _conform_to(out: pa.Table, schema: pa.Schema) -> pa.Table:
    """Query output → rows of a declared table: its column names and types, hidden columns kept."""
    visible = [i for i, n in enumerate(out.schema.names) if n not in (TIME_COL, OP_COL)]
    columns, fields = [], []
    for i, f in enumerate(schema):
        col = out.column(visible[i]) if i < len(visible) else pa.nulls(out.num_rows, f.type)
        columns.append(col.cast(f.type, safe=False) if col.type != f.type else col)
        fields.append(pa.field(f.name, f.type))
    for hidden in (TIME_COL, OP_COL):
        if hidden in out.schema.names:
            columns.append(out.column(hidden))
            fields.append(out.schema.field(hidden))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


class _Failure(Exception):
    def __init__(self, operator_id: str, subtask: int, message: str, details: str, retryable: bool):
        super().__init__(message)
        self.operator_id, self.subtask, self.message, self.details, self.retryable = (
            operator_id, subtask, message, details, retryable)


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
        self.root = Path(state_dir) if state_dir else None
        self.listener = listener
        self.interval = checkpoint_interval_s
        self.restore = restore
        self.ignore_before = ignore_state_before_epoch
        self.batch_size = batch_size
        self.every = checkpoint_every_batches
        self.stop_after = stop_after_epoch
        self.n = program.parallelism
        # updating queries emit their changes once a source batch worth of rows arrived (or on a timer)
        self.flush_rows = batch_size or DEFAULT_BATCH
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._requests: list[tuple[int, bool]] = []
        self._stop_mode: str | None = None
        self._next_epoch = 1
        self._latest: int | None = None
        self.outcome: str | None = None  # "finished" | "stopped" | "failed"
        self.failure: str | None = None
        self.counters: dict[int, dict[int, SubtaskCounters]] = {
            node["node_id"]: {i: SubtaskCounters(queue_size=32, queue_rem=32) for i in range(node["parallelism"])}
            for node in program.graph["nodes"]
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
        with self._lock:
            epoch = self._next_epoch
            self._next_epoch += 1
            self._requests.append((epoch, stop))
        self._wake.set()
        return epoch

    def stop(self, mode: str = "immediate") -> None:
        if mode not in ("graceful", "immediate", "force"):
            raise ValueError(f"unknown stop mode {mode!r}; use graceful, immediate or force")
        self._stop_mode = mode
        self._wake.set()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def metrics(self) -> dict[int, dict[int, SubtaskCounters]]:
        return {node: {i: SubtaskCounters(**vars(c)) for i, c in subs.items()} for node, subs in self.counters.items()}

    @property
    def latest_epoch(self) -> int | None:
        return self._latest

    # ---- setup ------------------------------------------------------------------------
    def _op_id(self, node_id: int) -> str:
        return self.program.op_ids[node_id]

    def _setup(self) -> None:
        p = self.program
        restored = None
        if self.root is not None and self.restore:
            restored = st.latest(self.root, self.ignore_before)
        self.restored_epoch = restored.epoch if restored else None
        if restored is not None:
            self._latest = restored.epoch
        fresh = restored is None

        def old(operator_id: str):
            return restored.subtasks(operator_id) if restored else []

        # sources and watermarks
        self.sources: dict[str, list] = {}
        self.source_wm: dict[str, list[int]] = {}
        self.wm_exprs: dict[str, Any] = {}
        for name, (src_id, wm_id) in p.source_nodes.items():
            table = p.tables[name]
            states = {i: s for i, s, _ in old(self._op_id(src_id))}
            subtasks = []
            for i in range(self.n):
                on_error = self._bad_data_reporter(self._op_id(src_id), i)
                try:
                    subtasks.append(open_source(table, i, self.n, self.batch_size, states.get(i, {}), on_error,
                                                list(states.values()) if restored else None))
                except SourceError as err:
                    raise _Failure(self._op_id(src_id), i, str(err), "", False) from None
            self.sources[name] = subtasks
            finite = [s.get("watermark", NEG_INF) for _, s, _ in old(self._op_id(wm_id))]
            finite = [w for w in finite if w < POS_INF]
            start_wm = min(finite) if finite else NEG_INF
            self.source_wm[name] = [start_wm] * self.n
            if table.watermark and table.watermark[1]:
                from .planner import new_context

                self.wm_exprs[name] = new_context([])
        # queries
        self.ops: dict[int, list] = {}
        self.routers: dict[int, KeyRouter] = {}
        self.query_wm: dict[int, int] = {}
        self.consumers: dict[str, list] = {}
        for q in p.queries:
            for t in q.shape.inputs:
                self.consumers.setdefault(t, []).append(q)
            schemas = {t: self._stream_schema(t) for t in q.shape.inputs}
            if q.kind == "stateless":
                self.ops[q.index] = [StatelessOp(q, schemas, p.udfs) for _ in range(self.n)]
                continue
            router = KeyRouter(q, self.n, p.udfs)
            self.routers[q.index] = router
            parts: dict[int, dict[str, list[pa.Table]]] = {i: {} for i in range(self.n)}
            emitted = []
            incremental = q.kind == "updating" and q.shape.incremental is not None
            for _, small, tables in old(self._op_id(q.node_id)):
                emitted.append(small.get("emitted", NEG_INF))
                for tname, table in tables.items():
                    if incremental and tname == IncrementalAggOp.STATE:
                        routed = router.route_keys(table, q.shape.incremental.keys)
                    else:
                        routed = router.route(tname, table)
                    for i, part in routed:
                        parts[i].setdefault(tname, []).append(part)
            merged = {i: {t: pa.concat_tables(v) for t, v in d.items()} for i, d in parts.items()}
            if q.kind == "windowed":
                start = min(emitted) if emitted else NEG_INF
                self.ops[q.index] = [WindowedOp(q, schemas, p.udfs, merged[i], start) for i in range(self.n)]
                self.query_wm[q.index] = start
            elif incremental:
                self.ops[q.index] = [IncrementalAggOp(q, schemas, p.udfs, merged[i]) for i in range(self.n)]
            else:
                self.ops[q.index] = [UpdatingOp(q, schemas, p.udfs, merged[i]) for i in range(self.n)]
        # sinks
        self.sinks: dict[str, list[tuple[Any, list]]] = {}
        by_node: dict[int, tuple[Any, list]] = {}
        for plan in p.sinks:
            node = next(nd for nd in p.graph["nodes"] if nd["node_id"] == plan.node_id)
            states = {i: s for i, s, _ in old(plan.operator_id)}
            cls = sink_class(plan.connector)
            instances = []
            for i in range(node["parallelism"]):
                try:
                    instances.append(cls(plan, i, states.get(i, {}), self.listener, fresh))
                except OSError as err:
                    raise _Failure(plan.operator_id, i, f"cannot open sink: {err}", "", True) from None
            self.sinks.setdefault(plan.table, []).append((plan, instances))
            by_node[plan.node_id] = (plan, instances)
        self.sink_edges: dict[int, list] = {}
        for e in p.graph["edges"]:
            if e["dest_id"] in by_node:
                self.sink_edges.setdefault(e["src_id"], []).append(by_node[e["dest_id"]])
        self.writers: dict[str, list] = {}
        for q in p.queries:
            target = p.tables.get(q.target)
            if target is not None and target.kind == "memory":
                self.writers.setdefault(q.target, []).append(q)
        self.stream_wm: dict[str, int] = {}

    def _stream_schema(self, name: str) -> pa.Schema:
        """What flows on a table's stream: its columns, ``_timestamp``, and ``__op`` for changelogs."""
        table = self.program.tables[name]
        schema = _input_schema(table, False)
        if table.updating or name in {q.target for q in self.program.queries if q.kind == "updating"}:
            schema = schema.append(pa.field(OP_COL, pa.string()))
        return schema

    def _bad_data_reporter(self, operator_id: str, index: int):
        def report(message: str, details: str) -> None:
            if self.listener is not None:
                self.listener.on_error(operator_id, index, message, details, True)

        return report

    # ---- data flow --------------------------------------------------------------------
    def _count(self, node_id: int | None, subtask: int, data: Any, recv: bool = True, sent: bool = True) -> None:
        if node_id is None:
            return
        c = self.counters[node_id].get(subtask)
        if c is None:
            return
        rows, size = data.num_rows, data.get_total_buffer_size()
        if recv:
            c.messages_recv += rows
            c.bytes_recv += size
        if sent:
            c.messages_sent += rows
            c.bytes_sent += size

    def _deliver(self, stream: str, data: Any, subtask: int) -> None:
        batch = _as_batch(data)
        if batch is None:
            return
        for q in self.consumers.get(stream, []):
            ops = self.ops[q.index]
            op_id = self._op_id(q.node_id)
            try:
                if q.kind == "stateless":
                    i = subtask % len(ops)
                    self._count(q.node_id, i, batch, sent=False)
                    out = ops[i].process(stream, batch)
                    self._emit(q, out, i)
                    continue
                self._count(q.key_node_id, subtask % self.n, batch)
                for i, part in self.routers[q.index].route(stream, batch):
                    part_batch = _as_batch(part)
                    if part_batch is not None:
                        self._count(q.node_id, i, part_batch, sent=False)
                        ops[i].process(stream, part_batch)
            except QueryError as err:
                raise _Failure(op_id, subtask, f"error evaluating query: {err}", q.shape.sql, False) from None

    def _emit(self, q: Any, out: pa.Table | None, subtask: int) -> None:
        if out is None or out.num_rows == 0:
            return
        self._count(q.node_id, subtask, out, recv=False)
        table = self.program.tables.get(q.target)
        if table is not None and table.kind == "memory":
            self._deliver(q.target, _conform_to(out, table.schema), subtask)
            return
        batch = _as_batch(out)
        for plan, instances in self.sink_edges.get(q.node_id, []):
            i = subtask % len(instances)
            try:
                instances[i].write(batch)
            except OSError as err:
                raise _Failure(plan.operator_id, i, f"sink cannot write: {err}", "", True) from None
            self._count(plan.node_id, i, batch, sent=False)

    def _source_batch(self, name: str, i: int, batch: pa.RecordBatch) -> None:
        src_id, wm_id = self.program.source_nodes[name]
        self._count(src_id, i, batch, recv=False)
        self._count(wm_id, i, batch)
        self.source_wm[name][i] = max(self.source_wm[name][i], self._watermark(name, batch))
        self._deliver(name, batch, i)

    def _watermark(self, name: str, batch: pa.RecordBatch) -> int:
        table = self.program.tables[name]
        if batch.num_rows == 0:
            return NEG_INF
        if table.watermark is not None:
            column, expr = table.watermark
            if expr:
                ctx = self.wm_exprs[name]
                from .operators import _register, _run

                _register(ctx, name, batch)
                try:
                    value = _run(ctx, f"SELECT max({expr}) FROM {name}").column(0)
                except Exception as err:  # DataFusion raises plain exceptions
                    raise _Failure(self._op_id(self.program.source_nodes[name][1]), 0,
                                   f"cannot evaluate watermark expression: {err}", expr, False) from None
                v = value.cast(pa.timestamp("ns")).cast(pa.int64())[0].as_py()
                return NEG_INF if v is None else int(v)
            latest = _max_ts(batch.column(TIME_COL))
            return NEG_INF if latest is None else latest
        latest = _max_ts(batch.column(TIME_COL))
        return NEG_INF if latest is None else latest - ONE_SECOND

    def _propagate(self, force_flush: bool) -> None:
        for name, subs in self.sources.items():
            wms = [POS_INF if s.finished else w for s, w in zip(subs, self.source_wm[name], strict=False)]
            self.stream_wm[name] = min(wms) if wms else POS_INF
        for q in self.program.queries:
            wm = min((self.stream_wm.get(t, NEG_INF) for t in q.shape.inputs), default=POS_INF)
            if q.kind == "windowed" and wm > self.query_wm.get(q.index, NEG_INF):
                self.query_wm[q.index] = wm
                for i, op in enumerate(self.ops[q.index]):
                    try:
                        out = op.on_watermark(wm)
                    except QueryError as err:
                        raise _Failure(self._op_id(q.node_id), i, f"error evaluating query: {err}", q.shape.sql,
                                       False) from None
                    self._emit(q, out, i)
            elif q.kind == "updating":
                now = time.monotonic()
                for i, op in enumerate(self.ops[q.index]):
                    due = now - getattr(op, "last_flush", 0.0) >= FLUSH_SECONDS
                    if op.dirty_rows and (force_flush or due or op.dirty_rows >= self.flush_rows):
                        op.last_flush = now
                        try:
                            out = op.flush()
                        except QueryError as err:
                            raise _Failure(self._op_id(q.node_id), i, f"error evaluating query: {err}",
                                           q.shape.sql, False) from None
                        self._emit(q, out, i)
            if q.target in self.writers:
                writers = self.writers[q.target]
                self.stream_wm[q.target] = min(
                    min((self.stream_wm.get(t, NEG_INF) for t in w.shape.inputs), default=POS_INF) for w in writers)

    # ---- checkpoints --------------------------------------------------------------------
    def _checkpoint(self, epoch: int, stopping: bool) -> None:
        assert self.root is not None
        self._propagate(force_flush=True)  # emit pending changes: output matches the state
        start = _us()
        report = CheckpointReport(epoch=epoch, stopping=stopping, start_time=start, finish_time=None)
        if self.listener is not None:  # the "started" report; the finished one is a separate object
            self.listener.on_checkpoint(CheckpointReport(epoch=epoch, stopping=stopping, start_time=start,
                                                         finish_time=None))
        directory = st.epoch_dir(self.root, epoch)
        directory.mkdir(parents=True, exist_ok=True)
        p = self.program
        operators: list[OperatorCheckpoint] = []

        def subtask(op_id: str, node_id: int, index: int, small: dict, tables: dict, commit=None) -> SubtaskCheckpoint:
            t_align = _us()
            spans = [Span("Alignment", "Time spent waiting for alignment barriers", start, t_align)]
            t0 = _us()
            small_state, table_state = small, tables
            t1 = _us()
            size = st.write_subtask(directory, op_id, index, small_state, table_state)
            t2 = _us()
            spans += [Span("Sync", "The synchronous part of checkpointing", t0, t1),
                      Span("Async", "The asynchronous part of checkpointing", t1, t2)]
            if commit is not None:
                commit()
                spans.append(Span("Committing", "Committing the checkpoint", t2, _us()))
            return SubtaskCheckpoint(index=index, bytes=size, spans=spans)

        ops_start = _us()
        for name, (src_id, wm_id) in p.source_nodes.items():
            subs = [subtask(self._op_id(src_id), src_id, i, s.snapshot(), {}) for i, s in enumerate(self.sources[name])]
            operators.append(self._operator(src_id, subs))
            wms = [subtask(self._op_id(wm_id), wm_id, i,
                           {"watermark": POS_INF if s.finished else self.source_wm[name][i]}, {})
                   for i, s in enumerate(self.sources[name])]
            operators.append(self._operator(wm_id, wms))
        for q in p.queries:
            if q.key_node_id is not None:
                operators.append(self._operator(q.key_node_id, [
                    subtask(self._op_id(q.key_node_id), q.key_node_id, i, {}, {}) for i in range(self.n)]))
            subs = []
            for i, op in enumerate(self.ops[q.index]):
                t_snap = _us()
                tables = op.snapshot()
                small = {"emitted": op.emitted} if isinstance(op, WindowedOp) else {}
                sc = subtask(self._op_id(q.node_id), q.node_id, i, small, tables)
                sc.spans[1] = Span("Sync", "The synchronous part of checkpointing", t_snap, sc.spans[1].finish_time)
                subs.append(sc)
            operators.append(self._operator(q.node_id, subs))
        commit_start = _us()
        for plans in self.sinks.values():
            for plan, instances in plans:
                subs = [subtask(plan.operator_id, plan.node_id, i, s.snapshot(), {}, s.commit)
                        for i, s in enumerate(instances)]
                operators.append(self._operator(plan.node_id, subs))
        ops_end = _us()
        st.write_metadata(directory, {
            "epoch": epoch, "parallelism": self.n, "stopping": stopping, "start_time": start,
            "operators": {o.operator_id: len(o.subtasks) for o in operators},
        })
        meta_end = _us()
        st.compact(self.root)
        finish = _us()
        report.events = [
            Span("Checkpointing", "The entire checkpointing process", start, finish),
            Span("CheckpointingOperators", "The time spent checkpointing operator states", ops_start, ops_end),
            Span("WritingMetadata", "Writing the final checkpoint metadata", ops_end, meta_end),
            Span("Compacting", "Compacting old checkpoints", meta_end, finish),
            Span("Committing", "Running two-phase commit for transactional connectors", commit_start, ops_end),
        ]
        for o in operators:
            o.started_metadata_write, o.finish_time = ops_end, meta_end
        report.operators = operators
        report.finish_time = finish
        self._latest = epoch
        if self.listener is not None:
            self.listener.on_checkpoint(report)

    def _operator(self, node_id: int, subtasks: list[SubtaskCheckpoint]) -> OperatorCheckpoint:
        return OperatorCheckpoint(operator_id=self._op_id(node_id), node_id=node_id,
                                  bytes=sum(s.bytes for s in subtasks), started_metadata_write=None,
                                  finish_time=None, subtasks=subtasks)

    # ---- main loop ----------------------------------------------------------------------
    def _main(self) -> None:
        try:
            self._setup()
            outcome = self._loop()
            if outcome == "finished":  # every row reached the sinks: make it durable (transactions commit)
                for plans in self.sinks.values():
                    for plan, instances in plans:
                        for i, s in enumerate(instances):
                            try:
                                s.commit()
                            except OSError as err:
                                raise _Failure(plan.operator_id, i, f"sink cannot commit: {err}", "", True) from None
        except _Failure as f:
            self._fail(f)
            return
        except Exception as err:  # an engine bug: report it as a job failure, never crash silently
            self._fail(_Failure("job", 0, f"internal error: {err}", traceback.format_exc(), False))
            return
        self._close()
        self.outcome = outcome
        if self.listener is not None:
            (self.listener.on_finished if outcome == "finished" else self.listener.on_stopped)()

    def _fail(self, f: _Failure) -> None:
        self.outcome, self.failure = "failed", f.message
        try:
            self._close()
        except Exception:  # closing after a failure must not hide the failure
            pass
        if self.listener is not None:
            self.listener.on_error(f.operator_id, f.subtask, f.message, f.details, f.retryable)
            self.listener.on_failed(f.message)

    def _close(self) -> None:
        for subs in getattr(self, "sources", {}).values():
            for src in subs:  # connector sources hold clients (sockets, threads)
                if hasattr(src, "close"):
                    src.close()
        for plans in getattr(self, "sinks", {}).values():
            for _, instances in plans:
                for s in instances:
                    s.close()

    def _loop(self) -> str:
        last_ckpt = last_batch = time.monotonic()
        batches = 0
        while True:
            if self._stop_mode is not None:
                return "stopped"
            produced = False
            for name, subs in self.sources.items():
                for i, src in enumerate(subs):
                    if src.finished:
                        continue
                    try:
                        batch = src.poll()
                    except SourceError as err:
                        raise _Failure(self._op_id(self.program.source_nodes[name][0]), i, str(err), "", False) from None
                    if batch is not None and batch.num_rows:
                        produced = True
                        batches += 1
                        self._source_batch(name, i, batch)
            done = all(s.finished for subs in self.sources.values() for s in subs)
            self._propagate(force_flush=done)
            # checkpoints: asked for, every N batches, or on the interval
            if self.root is not None:
                due = (self.every is not None and batches >= self.every) or (
                    self.interval is not None and time.monotonic() - last_ckpt >= self.interval)
                if due and not done:
                    with self._lock:
                        self._requests.append((self._next_epoch, False))
                        self._next_epoch += 1
                    batches = 0
                    last_ckpt = time.monotonic()
            while self._requests:
                with self._lock:
                    epoch, stop = self._requests.pop(0)
                if self.root is None:  # nowhere to write state: a stop request still stops
                    if stop:
                        return "stopped"
                    continue
                self._checkpoint(epoch, stop)
                if stop or (self.stop_after is not None and epoch >= self.stop_after):
                    return "stopped"
            if done:
                return "finished"
            if produced:
                last_batch = time.monotonic()
            else:
                due = min((s.next_due() for subs in self.sources.values() for s in subs if not s.finished),
                          default=time.monotonic())
                # Arroyo's source batch linger: a slow source's rows wait up to 100 ms for company,
                # so idle and slow jobs wake a few times a second, not per row (requests set _wake)
                wait = max(due, last_batch + LINGER_S) - time.monotonic()
                if wait > 0:
                    self._wake.wait(min(wait, FLUSH_SECONDS / 2))
                    self._wake.clear()


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
    """Start running ``program`` in a background thread; returns the runner."""
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
