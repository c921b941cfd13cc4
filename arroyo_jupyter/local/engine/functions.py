"""Functions the engine adds to DataFusion: JSON operators and user-defined Python UDFs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa


def _json_lookup(text: Any, path: str) -> tuple[bool, Any]:
    if text is None:
        return False, None
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return False, None
    for key in path.split(".") if path else []:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.lstrip("-").isdigit() and -len(value) <= int(key) < len(value):
            value = value[int(key)]
        else:
            return False, None
    return True, value


def json_get(values: pa.Array, paths: pa.Array) -> pa.Array:
    """``json -> 'key'``: the value as JSON text (``'null'`` when the key is absent, as Arroyo)."""
    out = []
    for text, path in zip(values.to_pylist(), paths.to_pylist(), strict=False):
        if text is None:
            out.append(None)
            continue
        _, value = _json_lookup(text, path or "")
        out.append(json.dumps(value, separators=(",", ":")))
    return pa.array(out, pa.string())


def json_get_str(values: pa.Array, paths: pa.Array) -> pa.Array:
    """``json ->> 'key'``: the value as text; NULL when absent or null."""
    out = []
    for text, path in zip(values.to_pylist(), paths.to_pylist(), strict=False):
        found, value = _json_lookup(text, path or "")
        if not found or value is None:
            out.append(None)
        elif isinstance(value, str):
            out.append(value)
        else:
            out.append(json.dumps(value, separators=(",", ":")))
    return pa.array(out, pa.string())


def register_builtins(ctx: Any) -> None:
    from datafusion import udf

    for name, fn in (("__json_get", json_get), ("__json_get_str", json_get_str)):
        ctx.register_udf(udf(fn, [pa.string(), pa.string()], pa.string(), "immutable", name))


def register_udfs(ctx: Any, udfs: Sequence[Any]) -> None:
    """Register user UDFs (``arroyo_udf.UdfDef`` objects) with a DataFusion context."""
    from datafusion import udf

    for d in udfs:
        ctx.register_udf(udf(d.vectorised(), d.arg_types, d.return_type, "volatile", d.name))


def load_udfs(items: Sequence[Any]) -> list[Any]:
    """UDF definitions: ``@udf`` functions, or Python source text / ``{definition}`` dicts."""
    from arroyo_udf import UdfDef, collect_udfs

    defs: list[UdfDef] = []
    for item in items:
        if isinstance(item, UdfDef):
            defs.append(item)
        elif isinstance(getattr(item, "__arroyo_udf__", None), UdfDef):  # a function decorated with @udf
            defs.append(item.__arroyo_udf__)
        else:
            source = item.get("definition", "") if isinstance(item, dict) else str(item)
            defs.extend(collect_udfs(source))
    return defs

