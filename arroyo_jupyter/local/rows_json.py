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


def batch_json(batch: pa.RecordBatch) -> str:
    """The ``OutputData.batch`` string: a JSON array of row objects."""
    return _encoder.encode(batch_rows(batch)).decode()


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)
