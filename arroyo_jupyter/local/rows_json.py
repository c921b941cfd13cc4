"""Arrow record batches → the JSON text Arroyo's preview sink sends (arrow's JSON writer).

Explicit nulls, timestamps as RFC 3339-style text at full precision, structs as objects,
decimals as numbers. Conversion of temporal columns happens in Arrow (vectorised); only
the final ``to_pylist`` walks values, and msgspec encodes them.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

_encoder = msgspec.json.Encoder(decimal_format="number")


def _jsonable(arr: pa.Array) -> pa.Array:
    """The same values with every temporal type turned into ISO text (recursively)."""
    t = arr.type
    if pa.types.is_timestamp(t):
        fmt = "%Y-%m-%dT%H:%M:%S" + ("%z" if t.tz else "")
        return pc.strftime(arr, format=fmt)
    if pa.types.is_date(t) or pa.types.is_time(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_duration(t):
        return pc.cast(arr, pa.int64())
    if pa.types.is_struct(t):
        if not any(_needs_conversion(f.type) for f in t):
            return arr
        children = [_jsonable(arr.field(i)) for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(
            children, names=[f.name for f in t], mask=arr.is_null() if arr.null_count else None
        )
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if not _needs_conversion(t.value_type):
            return arr
        values = _jsonable(arr.values)
        return pa.ListArray.from_arrays(arr.offsets, values, mask=arr.is_null() if arr.null_count else None)
    return arr


def _needs_conversion(t: pa.DataType) -> bool:
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t) or pa.types.is_duration(t):
        return True
    if pa.types.is_struct(t):
        return any(_needs_conversion(f.type) for f in t)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _needs_conversion(t.value_type)
    return False


def batch_rows(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """Row dicts ready for JSON, without the hidden ``_timestamp`` column."""
    if "_timestamp" in batch.schema.names:
        batch = batch.drop_columns(["_timestamp"])
    if any(_needs_conversion(f.type) for f in batch.schema):
        batch = pa.RecordBatch.from_arrays([_jsonable(c) for c in batch.columns], names=batch.schema.names)
    return batch.to_pylist()


_CONTROL_CHARS = r"[\x00-\x1f]"


def _json_values(arr: pa.Array) -> pa.Array:
    """Each value's JSON text, computed column-wise in Arrow where the type allows."""
    t = arr.type
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        text = pc.cast(arr, pa.string())
    elif pa.types.is_floating(t):
        finite = pc.if_else(pc.is_finite(arr), arr, pa.scalar(None, t))  # NaN/inf → null
        text = pc.cast(finite, pa.string())
    elif (pa.types.is_string(t) or pa.types.is_large_string(t)) and not pc.any(
        pc.match_substring_regex(arr, _CONTROL_CHARS)
    ).as_py():
        escaped = pc.replace_substring(pc.replace_substring(arr, "\\", "\\\\"), '"', '\\"')
        text = pc.binary_join_element_wise('"', escaped, '"', "")
    else:  # nested, temporal, binary, decimal, strings with control characters
        text = pa.array([_encoder.encode(v).decode() for v in _jsonable(arr).to_pylist()], pa.string())
    return pc.fill_null(text, "null")


def batch_json(batch: pa.RecordBatch) -> str:
    """The ``OutputData.batch`` string: a JSON array of row objects.

    Built column-wise: every column becomes JSON text in Arrow, one element-wise join
    makes the row objects; Python touches only the final strings (~3x faster than
    building row dicts).
    """
    if "_timestamp" in batch.schema.names:
        batch = batch.drop_columns(["_timestamp"])
    if batch.num_rows == 0:
        return "[]"
    if batch.num_columns == 0:
        return "[" + ",".join(["{}"] * batch.num_rows) + "]"
    parts: list[Any] = []
    for i, (name, column) in enumerate(zip(batch.schema.names, batch.columns, strict=True)):
        key = _encoder.encode(name).decode()
        parts.append(("{" if i == 0 else ",") + key + ":")
        parts.append(_json_values(column))
    parts.append("}")
    rows = pc.binary_join_element_wise(*parts, "")
    return "[" + ",".join(rows.to_pylist()) + "]"


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)
