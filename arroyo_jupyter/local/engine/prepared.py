"""Queries prepared once per operator and executed per batch.

DataFusion's Python API binds a plan to the tables registered when it was planned, so
re-running a plan over a new batch means parsing and planning the SQL again (≈0.7 ms a
batch, most of a filter's cost). A :class:`PreparedQuery` plans its SQL once at operator
start; when the optimized plan is a row-wise chain (TableScan → Filter* → Projection) whose
expressions are in the subset below, it compiles them once into Arrow compute calls and runs
those per batch. Anything else (aggregates, joins, UDFs, functions) keeps running through
DataFusion.

A compiled plan must agree with DataFusion: its first batch is run both ways and compared;
on any difference the query keeps using DataFusion for good, and a compiled batch that
raises is re-run by DataFusion (whose error, or answer, is the one that counts).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

Evaluator = Callable[[pa.RecordBatch], Any]  # → pa.Array or pa.Scalar

_CAST_TYPES = {
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Utf8": pa.string(),
    "Boolean": pa.bool_(),
}
_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": pc.add,
    "-": pc.subtract,
    "*": pc.multiply,
    "/": pc.divide,
    "%": pc.remainder,
    "=": pc.equal,
    "!=": pc.not_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
    "AND": pc.and_kleene,
    "OR": pc.or_kleene,
    "||": lambda a, b: pc.binary_join_element_wise(a, b, ""),
}


class _Unsupported(Exception):
    pass


def _column(name: str) -> Evaluator:
    return lambda b: b.column(name)


def _compile_expr(expr: Any) -> Evaluator:
    v = expr.to_variant()
    kind = type(v).__name__
    if kind == "Alias":
        return _compile_expr(v.expr())
    if kind == "Column":
        return _column(v.name())
    if kind == "Literal":
        value = expr.python_value()
        if not isinstance(value, pa.Scalar) or pa.types.is_null(value.type):
            raise _Unsupported("literal")
        return lambda b: value
    if kind == "BinaryExpr":
        fn = _BINARY.get(v.op())
        if fn is None:
            raise _Unsupported(v.op())
        left, right = _compile_expr(v.left()), _compile_expr(v.right())
        return lambda b: fn(left(b), right(b))
    if kind in ("Not", "Negative", "IsNull", "IsNotNull"):
        unary = {"Not": pc.invert, "Negative": pc.negate, "IsNull": pc.is_null, "IsNotNull": pc.is_valid}[
            kind
        ]
        inner = _compile_expr(v.expr())
        return lambda b: unary(inner(b))
    if kind == "Cast":
        text = expr.canonical_name()
        target = _CAST_TYPES.get(text[text.rfind(" AS ") + 4 : -1]) if text.endswith(")") else None
        if target is None:
            raise _Unsupported("cast")
        inner = _compile_expr(v.expr())
        return lambda b: pc.cast(inner(b), target)
    raise _Unsupported(kind)


def _compile_plan(plan: Any, out_schema: pa.Schema) -> tuple[str, Callable[[pa.RecordBatch], pa.RecordBatch]]:
    """(input table, function batch → result batch) for TableScan → Filter* → [Projection]."""
    node = plan.to_variant()
    projection = None
    if type(node).__name__ == "Projection":
        projection = [_compile_expr(e) for e in node.projections()]
        plan = plan.inputs()[0]
        node = plan.to_variant()
    filters: list[Evaluator] = []
    while type(node).__name__ in ("Filter", "SubqueryAlias"):
        if type(node).__name__ == "Filter":
            filters.append(_compile_expr(node.predicate()))
        plan = plan.inputs()[0]
        node = plan.to_variant()
    if type(node).__name__ != "TableScan" or node.filters() or node.fetch() is not None:
        raise _Unsupported(type(node).__name__)
    table = node.table_name()
    scanned = [name for _, name in node.projection()] if node.projection() else None
    if projection is None:
        if scanned is None:
            raise _Unsupported("scan without projection")
        projection = [_column(n) for n in scanned]
    filters.reverse()  # innermost first
    if len(projection) != len(out_schema):
        raise _Unsupported("projection width")

    def run(batch: pa.RecordBatch) -> pa.RecordBatch:
        for predicate in filters:
            mask = predicate(batch)
            if isinstance(mask, pa.Scalar):
                mask = pa.repeat(mask, batch.num_rows)
            batch = batch.filter(mask)
        n = batch.num_rows
        columns = []
        for evaluate, field in zip(projection, out_schema, strict=True):
            value = evaluate(batch)
            if isinstance(value, pa.Scalar):
                value = pa.repeat(value, n)
            if isinstance(value, pa.ChunkedArray):
                value = value.combine_chunks()
            columns.append(value.cast(field.type) if value.type != field.type else value)
        return pa.RecordBatch.from_arrays(columns, schema=out_schema)

    return table, run


class PreparedQuery:
    """One SQL statement over named input tables, planned once, run per batch."""

    def __init__(self, ctx: Any, sql: str, schemas: dict[str, pa.Schema]):
        self.ctx, self.sql, self.schemas = ctx, sql, schemas
        self._compiled: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None
        self._input: str | None = None
        self._verified = False
        for name, schema in schemas.items():
            register(ctx, name, schema.empty_table())
        try:
            df = ctx.sql(sql)
            self._input, self._compiled = _compile_plan(df.optimized_logical_plan(), _nullable(df.schema()))
        except Exception:  # not row-wise, or not planable without data: DataFusion runs it
            self._compiled = None

    @property
    def compiled(self) -> bool:
        return self._compiled is not None

    def run(self, tables: dict[str, pa.Table | pa.RecordBatch]) -> pa.Table:
        """The query over ``tables`` (missing inputs are empty). DataFusion errors propagate."""
        if self._compiled is not None and set(tables) <= {self._input}:
            batch = tables.get(self._input)  # type: ignore[arg-type]
            if isinstance(batch, pa.RecordBatch):
                try:
                    fast = pa.Table.from_batches([self._compiled(batch)])
                except Exception:  # the real engine decides: its answer or its error
                    fast = None
                if fast is not None and self._verified:
                    return fast
                slow = self._datafusion(tables)
                if fast is not None and fast.cast(_nullable(slow.schema)).equals(
                    slow.cast(_nullable(slow.schema))
                ):
                    self._verified = True
                elif fast is not None or not self._verified:
                    self._compiled = (
                        None  # disagreed (or failed before agreeing once): DataFusion from now on
                    )
                return slow
        return self._datafusion(tables)

    def _datafusion(self, tables: dict[str, pa.Table | pa.RecordBatch]) -> pa.Table:
        for name, schema in self.schemas.items():
            register(self.ctx, name, tables.get(name, schema.empty_table()))
        return self.ctx.sql(self.sql).to_arrow_table()


def _nullable(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_nullable(True) for f in schema])


def register(ctx: Any, name: str, data: pa.Table | pa.RecordBatch) -> None:
    """``data`` as table ``name`` of ``ctx`` (replacing what was there)."""
    ctx.deregister_table(name)
    batches = data.to_batches() if isinstance(data, pa.Table) else [data]
    if not batches:
        batches = [pa.RecordBatch.from_pylist([], schema=data.schema)]
    ctx.register_record_batches(name, [batches])
