"""JSON in and out, the way Arroyo's JSON format reads and writes rows.

Out: one object per row, explicit nulls, timestamps as naive RFC 3339 with the shortest of
0/3/6/9 fraction digits (``2023-10-09T17:13:20.200``), structs as nested objects.
In: newline-delimited objects; timestamps as RFC 3339 strings or integers (µs, as Debezium).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_EPOCH = dt.datetime(1970, 1, 1)


def format_timestamp_ns(ns: int) -> str:
    secs, frac = divmod(int(ns), 1_000_000_000)
    base = (_EPOCH + dt.timedelta(seconds=secs)).strftime("%Y-%m-%dT%H:%M:%S")
    if frac == 0:
        return base
    if frac % 1_000_000 == 0:
        return f"{base}.{frac // 1_000_000:03d}"
    if frac % 1_000 == 0:
        return f"{base}.{frac // 1_000:06d}"
    return f"{base}.{frac:09d}"


TIMESTAMP_FORMATS = ("rfc3339", "unix_millis")  # Arroyo's json.timestamp_format; rfc3339 is its default


def _column_values(arr: pa.Array, ts_format: str = "rfc3339") -> list[Any]:
    """A column as JSON-ready Python values."""
    t = arr.type
    if pa.types.is_timestamp(t):
        ints = arr.cast(pa.timestamp("ns", tz=t.tz)).cast(pa.int64())
        if ts_format == "unix_millis":  # integer milliseconds since the epoch
            return [None if v is None else v // 1_000_000 for v in ints.to_pylist()]
        return [None if v is None else format_timestamp_ns(v) for v in ints.to_pylist()]
    if pa.types.is_struct(t):
        names = [t.field(i).name for i in range(t.num_fields)]
        children = [_column_values(arr.field(i), ts_format) for i in range(t.num_fields)]
        valid = arr.is_valid().to_pylist()
        return [
            dict(zip(names, vals, strict=False)) if ok else None
            for ok, *vals in zip(valid, *children, strict=False)
        ]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        flat = _column_values(arr.flatten(), ts_format)
        offsets = arr.offsets.to_pylist()
        valid = arr.is_valid().to_pylist()
        base = offsets[0] if offsets else 0
        return [
            flat[offsets[i] - base : offsets[i + 1] - base] if valid[i] else None for i in range(len(arr))
        ]
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return [None if v is None else base64.b64encode(v).decode() for v in arr.to_pylist()]
    if pa.types.is_float32(t):  # shortest float32 text, as Arroyo (Rust) writes it: 320.1, not 320.100006…
        return [None if v is None else float(str(np.float32(v))) for v in arr.to_pylist()]
    if pa.types.is_decimal(t):
        return [None if v is None else float(v) if isinstance(v, Decimal) else v for v in arr.to_pylist()]
    if pa.types.is_date(t):
        return [None if v is None else v.isoformat() for v in arr.to_pylist()]
    return arr.to_pylist()


def batch_rows(batch: pa.RecordBatch | pa.Table, timestamp_format: str = "rfc3339") -> list[dict[str, Any]]:
    """Rows of a batch as dicts of JSON-ready values (hidden columns must be dropped first);
    timestamps as ``json.timestamp_format`` says (RFC 3339 text by default, or unix_millis)."""
    names = batch.schema.names
    columns = [
        _column_values(
            batch.column(i) if isinstance(batch, pa.RecordBatch) else batch.column(i).combine_chunks(),
            timestamp_format,
        )
        for i in range(batch.num_columns)
    ]
    return (
        [dict(zip(names, values, strict=False)) for values in zip(*columns, strict=False)]
        if columns
        else [{} for _ in range(batch.num_rows)]
    )


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


# ---- reading -----------------------------------------------------------------------------


def parse_timestamps(values: list[Any]) -> pa.Array:
    """RFC 3339 strings or integer µs → timestamp[ns] (naive UTC)."""
    if all(v is None or isinstance(v, str) for v in values):
        arr = pa.array(values, pa.string())
        try:
            return pc.cast(arr, pa.timestamp("ns", tz="UTC")).cast(pa.timestamp("ns"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    out: list[int | None] = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, bool):
            raise ValueError(f"expected a timestamp, got {v!r}")
        elif isinstance(v, (int, float)):
            out.append(int(v * 1000))  # µs → ns
        elif isinstance(v, str):
            parsed = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
            delta = parsed - _EPOCH
            out.append((delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000)
        else:
            raise ValueError(f"expected a timestamp, got {v!r}")
    return pa.array(out, pa.int64()).cast(pa.timestamp("ns"))


def to_array(values: list[Any], typ: pa.DataType, json_column: bool = False) -> pa.Array:
    """Python values decoded from JSON → an Arrow array of the declared type."""
    if json_column:
        return pa.array(
            [None if v is None else v if isinstance(v, str) else dumps(v) for v in values], pa.string()
        )
    if pa.types.is_timestamp(typ):
        return parse_timestamps(values).cast(typ)
    if pa.types.is_struct(typ):
        mask = np.array([v is None for v in values], dtype=bool)
        children = [to_array([None if v is None else v.get(f.name) for v in values], f.type) for f in typ]
        return pa.StructArray.from_arrays(children, fields=list(typ), mask=pa.array(mask))
    if pa.types.is_string(typ):
        return pa.array(
            [None if v is None else v if isinstance(v, str) else dumps(v) for v in values], pa.string()
        )
    if pa.types.is_floating(typ):
        return pa.array([None if v is None else float(v) for v in values], typ)
    return pa.array(values, typ)


GENERATED = b"arroyo.generated"  # field metadata: the SQL of a GENERATED ALWAYS AS (…) column


def rows_to_batch(rows: list[dict[str, Any]], schema: pa.Schema, json_columns: set[str]) -> pa.RecordBatch:
    """Decoded JSON rows as a batch of ``schema``; generated columns computed from the others."""
    arrays = [
        None if is_generated(f) else to_array([r.get(f.name) for r in rows], f.type, f.name in json_columns)
        for f in schema
    ]
    out = pa.schema([pa.field(f.name, f.type) for f in schema])
    if any(a is None for a in arrays):
        return compute_generated(arrays, schema, len(rows))
    return pa.RecordBatch.from_arrays(arrays, schema=out)


def is_generated(f: pa.Field) -> bool:
    return bool(f.metadata and GENERATED in f.metadata)


def compute_generated(arrays: list[pa.Array | None], schema: pa.Schema, num_rows: int) -> pa.RecordBatch:
    """Fill the generated columns (``None`` in ``arrays``): DataFusion evaluates each expression
    over the row's other columns and casts it to the declared type, as Arroyo's virtual fields.
    Raises ValueError with DataFusion's message when an expression does not plan."""
    from datafusion import SessionContext

    from .functions import register_builtins

    physical = [(f, a) for f, a in zip(schema, arrays, strict=True) if a is not None]
    base = pa.RecordBatch.from_arrays(
        [a for _, a in physical] or [pa.nulls(num_rows)],
        schema=pa.schema([pa.field(f.name, f.type) for f, _ in physical] or [pa.field("__none", pa.null())]),
    )
    ctx = SessionContext()
    register_builtins(ctx)
    ctx.register_record_batches("__row", [[base]])
    generated = [f for f, a in zip(schema, arrays, strict=True) if a is None]
    items = ", ".join(
        f'CAST(({f.metadata[GENERATED].decode()}) AS {_sql_type(f.type)}) AS "{f.name}"' for f in generated
    )
    try:
        table = ctx.sql(f"SELECT {items} FROM __row").to_arrow_table()
    except Exception as err:  # DataFusion raises plain exceptions
        raise ValueError(str(err).split("\n")[0]) from None
    values = iter(table.column(i).combine_chunks() for i in range(len(generated)))
    filled = [a if a is not None else next(values).cast(f.type) for f, a in zip(schema, arrays, strict=True)]
    return pa.RecordBatch.from_arrays(filled, schema=pa.schema([pa.field(f.name, f.type) for f in schema]))


def _sql_type(t: pa.DataType) -> str:
    """An Arrow type in DataFusion's SQL (for the cast of a generated column)."""
    names = {
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INT",
        pa.int64(): "BIGINT",
        pa.uint8(): "TINYINT UNSIGNED",
        pa.uint16(): "SMALLINT UNSIGNED",
        pa.uint32(): "INT UNSIGNED",
        pa.uint64(): "BIGINT UNSIGNED",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
        pa.string(): "VARCHAR",
        pa.binary(): "BYTEA",
        pa.date32(): "DATE",
    }
    if pa.types.is_timestamp(t):
        return "TIMESTAMP"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision}, {t.scale})"
    if t in names:
        return names[t]
    raise ValueError(f"a generated column cannot be of type {t}")


def debezium_changes(value: dict[str, Any], rows: list, ops: list) -> int:
    """Append the rows of one Debezium change; returns how many."""
    op = value.get("op")
    before, after = value.get("before"), value.get("after")
    if op in ("c", "r") and isinstance(after, dict):
        rows.append(after)
        ops.append("c")
        return 1
    if op == "u" and isinstance(before, dict) and isinstance(after, dict):
        rows.extend([before, after])
        ops.extend(["ub", "ua"])
        return 2
    if op == "d" and isinstance(before, dict):
        rows.append(before)
        ops.append("d")
        return 1
    raise ValueError(f"not a Debezium change (op {op!r})")
