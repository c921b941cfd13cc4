"""The operators of a planned program, each behind the one :class:`Operator` interface.

This is the only place that knows the kinds of operators; the planner puts a ``build``
function from here on every node of the DAG and the runtime calls it per subtask.
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .catalog import TS, TableDef
from .dag import SubtaskContext
from .operator_api import Collector, Operator, OperatorError, SubtaskState
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
from .prepared import PreparedQuery
from .sinks import sink_class
from .sources import DEFAULT_BATCH, OP_COL, SourceError, SourceSubtask, open_source
from .translate import TIME_COL
from .window_agg import WindowedAggOp

FLUSH_SECONDS = 0.25  # an updating query with new rows emits its changes at least this often
ONE_SECOND = 1_000_000_000


def stream_schema(program: Any, name: str) -> pa.Schema:
    """What flows on a table's stream: its columns, ``_timestamp``, and ``__op`` for changelogs."""
    from .planner import _input_schema

    table = program.tables[name]
    schema = _input_schema(table, False)
    if table.updating or name in {q.target for q in program.queries if q.kind == "updating"}:
        schema = schema.append(pa.field(OP_COL, pa.string()))
    return schema


def conform_to(out: pa.Table, schema: pa.Schema) -> pa.Table:
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


# ---- sources and watermarks ---------------------------------------------------------------


def build_source(table: TableDef):
    def build(ctx: SubtaskContext) -> SourceSubtask:
        states = {s.index: s.small for s in ctx.restored or []}
        try:
            return open_source(
                table,
                ctx.index,
                ctx.parallelism,
                ctx.batch_size,
                states.get(ctx.index, {}),
                ctx.report_error,
                list(states.values()) if ctx.restored is not None else None,
            )
        except SourceError as err:
            raise OperatorError(str(err)) from None

    return build


class WatermarkOperator(Operator):
    """Arroyo's watermark generator: the max event time seen (or the table's expression),
    by default minus one second; +∞ once its source ended."""

    def __init__(self, table: TableDef, udfs: list[Any]):
        self.table, self.udfs = table, udfs
        self.wm = NEG_INF
        self.ended = False
        self._expr: PreparedQuery | None = None

    def restore(self, states: list[SubtaskState] | None) -> None:
        finite = [w for s in states or [] if (w := s.small.get("watermark", NEG_INF)) < POS_INF]
        self.wm = min(finite) if finite else NEG_INF

    def process(self, stream: str, batch: pa.RecordBatch, out: Collector) -> None:
        out.emit(stream, batch)
        self.wm = max(self.wm, self._watermark(stream, batch))
        out.watermark(self.wm)

    def _watermark(self, name: str, batch: pa.RecordBatch) -> int:
        if batch.num_rows == 0:
            return NEG_INF
        wm = self.table.watermark
        if wm is not None and wm[1]:
            from .planner import new_context

            if self._expr is None:  # planned once (compiled when row-wise)
                self._expr = PreparedQuery(
                    new_context(self.udfs), f"SELECT {wm[1]} AS __wm FROM {name}", {name: batch.schema}
                )
            try:
                value = self._expr.run({name: batch}).column(0)
                latest = pc.max(pc.cast(value, TS))
            except Exception as err:  # DataFusion raises plain exceptions
                raise OperatorError(f"cannot evaluate watermark expression: {err}", wm[1]) from None
            return latest.value if latest.is_valid else NEG_INF
        latest_ts = _max_ts(batch.column(TIME_COL))
        if latest_ts is None:
            return NEG_INF
        return latest_ts if wm is not None else latest_ts - ONE_SECOND

    def on_watermark(self, wm: int, out: Collector) -> int | None:
        if wm >= POS_INF:  # the source ended: everything downstream may close
            self.ended = True
            return POS_INF
        return None

    def on_barrier(self, epoch: int, out: Collector) -> SubtaskState:
        return SubtaskState(0, {"watermark": POS_INF if self.ended else self.wm})


def build_watermark(table: TableDef, udfs: list[Any]):
    return lambda ctx: WatermarkOperator(table, udfs)


# ---- keys (the shuffle in front of a stateful query) -------------------------------------


class KeyOperator(Operator):
    def __init__(self, q: Any, parallelism: int, udfs: list[Any]):
        self.router = KeyRouter(q, parallelism, udfs)
        self.sql = q.shape.sql

    def process(self, stream: str, batch: pa.RecordBatch, out: Collector) -> None:
        try:
            parts = self.router.route(stream, batch)
        except Exception as err:  # DataFusion raises plain exceptions
            raise OperatorError(f"error evaluating query: {err}", self.sql) from None
        for i, part in parts:
            out.emit(stream, part, partition=i)


def build_key(q: Any, udfs: list[Any]):
    return lambda ctx: KeyOperator(q, ctx.parallelism, udfs)


# ---- queries -------------------------------------------------------------------------------


class _Query(Operator):
    def __init__(self, q: Any, program: Any, ctx: SubtaskContext):
        self.q, self.program, self.index, self.n = q, program, ctx.index, ctx.parallelism
        self.schemas = {t: stream_schema(program, t) for t in q.shape.inputs}
        target = program.tables.get(q.target)
        self.memory_schema = target.schema if target is not None and target.kind == "memory" else None

    def _emit(self, out: Collector, result: pa.Table | None) -> None:
        if result is None or result.num_rows == 0:
            return
        if self.memory_schema is not None:  # read by other queries as that table's rows
            result = conform_to(result, self.memory_schema)
        out.emit(self.q.target, result)

    def _error(self, err: QueryError) -> OperatorError:
        return OperatorError(f"error evaluating query: {err}", self.q.shape.sql)

    def _restored_parts(
        self, states: list[SubtaskState] | None, keys: list[str] | None = None
    ) -> dict[str, pa.Table]:
        """This subtask's share of the restored tables (rows re-partitioned by key)."""
        router = KeyRouter(self.q, self.n, self.program.udfs)
        parts: dict[str, list[pa.Table]] = {}
        for s in states or []:
            for name, table in s.tables.items():
                routed = router.route_keys(table, keys) if keys is not None else router.route(name, table)
                parts.setdefault(name, []).extend(part for i, part in routed if i == self.index)
        return {name: pa.concat_tables(v) for name, v in parts.items() if v}


class StatelessOperator(_Query):
    def __init__(self, q, program, ctx):
        super().__init__(q, program, ctx)
        self.op = StatelessOp(q, self.schemas, program.udfs)

    def process(self, stream: str, batch: pa.RecordBatch, out: Collector) -> None:
        try:
            self._emit(out, self.op.process(stream, batch))
        except QueryError as err:
            raise self._error(err) from None


class WindowOperator(_Query):
    op: WindowedOp | WindowedAggOp

    def restore(self, states: list[SubtaskState] | None) -> None:
        emitted = [s.small.get("emitted", NEG_INF) for s in states or []]
        first = min(emitted) if emitted else NEG_INF
        inc = self.q.shape.incremental
        if inc is None:
            self.op = WindowedOp(self.q, self.schemas, self.program.udfs, self._restored_parts(states), first)
            return
        # partials are routed by their group keys (the window is not a shuffle key); raw rows
        # of an older checkpoint by the query's keys
        keys = [k for k in inc.keys if k != inc.window_key] if self.q.shape.key_exprs else []
        state = WindowedAggOp.STATE
        own = [
            SubtaskState(s.index, s.small, {n: t for n, t in s.tables.items() if n == state})
            for s in states or []
        ]
        raw = [
            SubtaskState(s.index, s.small, {n: t for n, t in s.tables.items() if n != state})
            for s in states or []
        ]
        parts = {**self._restored_parts(raw), **self._restored_parts(own, keys)}
        self.op = WindowedAggOp(self.q, self.schemas, self.program.udfs, parts, first)

    def process(self, stream: str, batch: pa.RecordBatch, out: Collector) -> None:
        try:
            self.op.process(stream, batch)  # pre-aggregation runs the query's partial step
        except QueryError as err:
            raise self._error(err) from None

    def on_watermark(self, wm: int, out: Collector) -> int | None:
        try:
            self._emit(out, self.op.on_watermark(wm))
        except QueryError as err:
            raise self._error(err) from None
        return wm

    def on_barrier(self, epoch: int, out: Collector) -> SubtaskState:
        return SubtaskState(self.index, {"emitted": self.op.emitted}, self.op.snapshot())


class UpdatingOperator(_Query):
    """Emits its changes once a batch worth of rows arrived, on a timer, before a barrier
    (output matches the state) and at the end."""

    op: UpdatingOp | IncrementalAggOp

    def __init__(self, q, program, ctx):
        super().__init__(q, program, ctx)
        self.flush_rows = ctx.batch_size or DEFAULT_BATCH
        self.last_flush = 0.0

    def restore(self, states: list[SubtaskState] | None) -> None:
        if self.q.shape.incremental is not None:
            parts = self._restored_parts(states, self.q.shape.incremental.keys)
            self.op = IncrementalAggOp(self.q, self.schemas, self.program.udfs, parts)
        else:
            self.op = UpdatingOp(self.q, self.schemas, self.program.udfs, self._restored_parts(states))

    def _flush(self, out: Collector) -> None:
        self.last_flush = time.monotonic()
        if self.op.dirty_rows:
            try:
                self._emit(out, self.op.flush())
            except QueryError as err:
                raise self._error(err) from None

    def process(self, stream: str, batch: pa.RecordBatch, out: Collector) -> None:
        try:
            self.op.process(stream, batch)
        except QueryError as err:
            raise self._error(err) from None
        if self.op.dirty_rows >= self.flush_rows:
            self._flush(out)

    def on_tick(self, now: float, out: Collector) -> float | None:
        if self.op.dirty_rows and now - self.last_flush >= FLUSH_SECONDS:
            self._flush(out)
        return now + FLUSH_SECONDS

    def on_barrier(self, epoch: int, out: Collector) -> SubtaskState:
        self._flush(out)
        try:
            return SubtaskState(self.index, {}, self.op.snapshot())
        except QueryError as err:
            raise self._error(err) from None

    def on_end(self, out: Collector) -> None:
        self._flush(out)


def build_query(q: Any, program: Any):
    cls = {"stateless": StatelessOperator, "windowed": WindowOperator, "updating": UpdatingOperator}[q.kind]
    return lambda ctx: cls(q, program, ctx)


# ---- sinks -------------------------------------------------------------------------------


class SinkOperator(Operator):
    def __init__(self, plan: Any, ctx: SubtaskContext):
        self.plan, self.index, self.listener = plan, ctx.index, ctx.listener
        self.sink: Any = None

    def restore(self, states: list[SubtaskState] | None) -> None:
        state = next((s.small for s in states or [] if s.index == self.index), {})
        try:
            self.sink = sink_class(self.plan.connector)(
                self.plan, self.index, state, self.listener, states is None
            )
        except OSError as err:
            raise OperatorError(f"cannot open sink: {err}", retryable=True) from None

    def process(self, stream: str, batch: pa.RecordBatch, out: Collector) -> None:
        try:
            self.sink.write(batch)
        except OSError as err:
            raise OperatorError(f"sink cannot write: {err}", retryable=True) from None

    def on_barrier(self, epoch: int, out: Collector) -> SubtaskState:
        return SubtaskState(self.index, self.sink.snapshot())

    def commit(self, epoch: int) -> bool:
        self._commit()
        return True

    def _commit(self) -> None:
        try:
            self.sink.commit()
        except OSError as err:
            raise OperatorError(f"sink cannot commit: {err}", retryable=True) from None

    def on_end(self, out: Collector) -> None:
        self._commit()  # every row reached the sink: make it durable (transactions commit)

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()


def build_sink(plan: Any):
    return lambda ctx: SinkOperator(plan, ctx)
