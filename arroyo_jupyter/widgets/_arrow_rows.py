"""Rows (dicts, as the output stream decodes them) → Arrow columns, and back out.

The output table keeps its rows as Arrow record batches and sends the browser Arrow IPC,
so this is the one place that decides column types:

- a batch's columns are learned from every row, in first-seen order;
- nested values become structs and lists (expandable in the grid);
- a column whose values do not share one type (``1`` here, ``"x"`` there) becomes text,
  so one odd value never loses a batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..api.output_frame import columns_of

__all__ = ["concat", "ipc", "to_columns", "to_pandas_columns"]

_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, default=str, ensure_ascii=False)


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except _ARROW_ERRORS:
        return pa.array([_text(v) for v in values], pa.string())


def to_columns(rows: Sequence[Any], known: Sequence[str]) -> tuple[list[str], list[pa.Array]]:
    """The columns (``known`` first, then keys first seen in ``rows``) and one Arrow array
    per column (missing keys are nulls). Arrow infers keys and types over every row in C++;
    rows that are not all objects, or a key whose values do not share a type, take the
    slower per-column path."""
    n = len(rows)
    try:
        struct = pa.array(rows)
    except _ARROW_ERRORS:
        struct = None
    if struct is not None and (n == 0 or pa.types.is_struct(struct.type)):
        fields = [struct.type.field(i).name for i in range(struct.type.num_fields)] if n else []
        columns = list(dict.fromkeys([*known, *fields]))
        at = {name: i for i, name in enumerate(fields)}
        return columns, [struct.field(at[c]) if c in at else pa.nulls(n) for c in columns]
    records = [r if isinstance(r, dict) else {"value": r} for r in rows]
    columns = columns_of(records, known)
    return columns, [_column([r.get(c) for r in records]) for c in columns]


def _as_text(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    try:
        return col.cast(pa.string())
    except _ARROW_ERRORS:
        return pa.array([_text(v) for v in col.to_pylist()], pa.string())


def concat(tables: list[pa.Table]) -> pa.Table:
    """Tables of one sink with compatible schemas (new columns, int → float, null → typed)
    unified; columns whose types conflict become text."""
    if not tables:
        return pa.table({})
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except _ARROW_ERRORS:
        types: dict[str, set[pa.DataType]] = {}
        for t in tables:
            for field in t.schema:
                if not pa.types.is_null(field.type):
                    types.setdefault(field.name, set()).add(field.type)
        clash = {name for name, ts in types.items() if len(ts) > 1}
        fixed = []
        for t in tables:
            for name in clash & set(t.schema.names):
                i = t.schema.get_field_index(name)
                t = t.set_column(i, name, _as_text(t.column(i)))
            fixed.append(t)
        return pa.concat_tables(fixed, promote_options="permissive")


def to_pandas_columns(table: pa.Table) -> dict[str, Any]:
    """Columns for a DataFrame: flat types through pandas, nested ones as Python objects
    (dicts and lists, as the stream gave them)."""
    out: dict[str, Any] = {}
    for name, col in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_nested(col.type):
            out[name] = col.to_pylist()
        elif pa.types.is_null(col.type):
            out[name] = [None] * len(col)
        else:
            out[name] = col.to_pandas()
    return out


_EXACT = 2**53  # integers a JS number holds exactly


def _for_js(col: pa.Array) -> pa.Array:
    """64-bit integers that a JS number holds exactly go as float64: the browser reads them
    as one Float64Array instead of converting BigInts one by one."""
    if not pa.types.is_integer(col.type) or col.type.bit_width < 64 or len(col) == 0:
        return col
    lo, hi = pc.min_max(col).values()
    if lo.as_py() is None or (-_EXACT <= lo.as_py() and hi.as_py() <= _EXACT):
        return col.cast(pa.float64())
    return col


def ipc(batch: pa.RecordBatch, meta: dict[str, Any]) -> bytes:
    """One batch as an Arrow IPC stream, ``meta`` as JSON in the schema's metadata."""
    cols = [_for_js(c) for c in batch.columns]
    fields = [pa.field(f.name, c.type) for f, c in zip(batch.schema, cols, strict=True)]
    schema = pa.schema(fields, metadata={"arroyo": json.dumps(meta, default=str)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_batch(pa.RecordBatch.from_arrays(cols, schema=schema))
    return sink.getvalue().to_pybytes()
