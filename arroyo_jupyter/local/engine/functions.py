"""Functions the engine adds to DataFusion: Arroyo's JSON functions and operators, Python UDFs."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

_MISSING = object()


def _json_at(text: Any, path: str) -> Any:
    """The value at ``path`` (a JSON list of keys and indexes, as translate encodes it)."""
    if text is None:
        return _MISSING
    try:
        value = json.loads(text)
        keys = json.loads(path) if path else []
    except (TypeError, ValueError):
        return _MISSING
    for key in keys:
        if isinstance(value, dict) and isinstance(key, str) and key in value:
            value = value[key]
        elif isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
            value = value[key]
        else:
            return _MISSING
    return value


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _per_row(fn: Any, out_type: pa.DataType) -> Any:
    """A two-argument (json, path) scalar function over Arrow arrays."""

    def call(values: pa.Array, paths: pa.Array) -> pa.Array:
        return pa.array(
            [
                fn(_json_at(t, p)) if t is not None else None
                for t, p in zip(values.to_pylist(), paths.to_pylist(), strict=False)
            ],
            out_type,
        )

    return call


def _get(v: Any) -> str | None:  # ``->`` / json_get: the value as JSON text ('null' when absent, as Arroyo)
    return _text(None if v is _MISSING else v)


def _as_text(v: Any) -> str | None:  # ``->>`` / json_as_text
    return None if v is _MISSING or v is None else v if isinstance(v, str) else _text(v)


def _get_str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _get_int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63 else None


def _get_float(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _get_bool(v: Any) -> bool | None:
    return v if isinstance(v, bool) else None


def _get_json(v: Any) -> str | None:
    return None if v is _MISSING else _text(v)


def _contains(v: Any) -> bool:
    return v is not _MISSING


def _length(v: Any) -> int | None:
    return len(v) if isinstance(v, (list, dict)) else None


# name → (function of the value found, Arrow result type); translate rewrites
# json_get_x(json, key, …) and the operators to ``__name(json, '<keys as a JSON list>')``
JSON_FUNCTIONS: dict[str, tuple[Any, pa.DataType]] = {
    "json_get": (_get, pa.string()),
    "json_as_text": (_as_text, pa.string()),
    "json_get_str": (_get_str, pa.string()),
    "json_get_int": (_get_int, pa.int64()),
    "json_get_float": (_get_float, pa.float64()),
    "json_get_bool": (_get_bool, pa.bool_()),
    "json_get_json": (_get_json, pa.string()),
    "json_contains": (_contains, pa.bool_()),
    "json_length": (_length, pa.uint64()),
}


def _json_path_matches(value: Any, path: str) -> list[Any] | None:
    """Arroyo's ``extract_json`` paths (JSONPath): ``$``, ``.key``, ``['key']``, ``[n]``, ``[*]``, ``..key``."""
    if not path.startswith("$"):
        return None
    tokens = re.findall(r"\.\.(\w+)|\.(\w+|\*)|\[\s*(-?\d+|\*|'[^']*'|\"[^\"]*\")\s*\]|(.)", path[1:])
    current = [value]
    for deep, key, sub, junk in tokens:
        if junk:
            return None
        nxt: list[Any] = []
        for v in current:
            if deep:
                nxt.extend(_descendants(v, deep))
            elif key == "*" or sub == "*":
                nxt.extend(v.values() if isinstance(v, dict) else v if isinstance(v, list) else [])
            elif key or (sub and sub[0] in "'\""):
                name = key or sub[1:-1]
                if isinstance(v, dict) and name in v:
                    nxt.append(v[name])
            elif sub:
                i = int(sub)
                if isinstance(v, list) and -len(v) <= i < len(v):
                    nxt.append(v[i])
        current = nxt
    return current


def _descendants(v: Any, name: str) -> list[Any]:
    found: list[Any] = []
    if isinstance(v, dict):
        if name in v:
            found.append(v[name])
        for child in v.values():
            found.extend(_descendants(child, name))
    elif isinstance(v, list):
        for child in v:
            found.extend(_descendants(child, name))
    return found


def _extract(texts: pa.Array, paths: pa.Array, first_string: bool) -> pa.Array:
    out: list[Any] = []
    for text, path in zip(texts.to_pylist(), paths.to_pylist(), strict=False):
        try:
            matches = _json_path_matches(json.loads(text), path) if text is not None and path else None
        except ValueError:
            matches = None
        if first_string:
            out.append(
                None if not matches else matches[0] if isinstance(matches[0], str) else _text(matches[0])
            )
        else:
            out.append(None if matches is None else [_text(m) for m in matches])
    return pa.array(out, pa.string() if first_string else pa.list_(pa.string()))


def register_builtins(ctx: Any) -> None:
    from datafusion import udf

    for name, (fn, out_type) in JSON_FUNCTIONS.items():
        ctx.register_udf(
            udf(_per_row(fn, out_type), [pa.string(), pa.string()], out_type, "immutable", f"__{name}")
        )
    ctx.register_udf(
        udf(
            lambda t, p: _extract(t, p, False),
            [pa.string(), pa.string()],
            pa.list_(pa.string()),
            "immutable",
            "extract_json",
        )
    )
    ctx.register_udf(
        udf(
            lambda t, p: _extract(t, p, True),
            [pa.string(), pa.string()],
            pa.string(),
            "immutable",
            "extract_json_string",
        )
    )


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
