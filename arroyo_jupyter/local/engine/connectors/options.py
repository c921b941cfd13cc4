"""Checks of connector options at planning time (no connection is made while planning)."""

from __future__ import annotations

from typing import Any

from .formats import check_raw_schema

_ENUMS = {
    "kafka": {
        "source.offset": ("latest", "earliest", "group"),
        "source.read_mode": ("read_uncommitted", "read_committed"),
        "sink.commit_mode": ("at_least_once", "exactly_once"),
        "auth.type": ("none", "sasl"),
        "bad_data": ("fail", "drop"),
    },
}
_REQUIRED = {"kafka": ("bootstrap_servers", "topic")}
_NEEDS_FORMAT = {"kafka"}


def check(
    connector: str, kind: str, fmt: str | None, opts: dict[str, str], schema: Any, metadata: dict[str, str]
) -> str | None:
    for name in _REQUIRED.get(connector, ()):
        if not opts.get(name):
            return f"{connector} table requires option '{name}'"
    for name, allowed in _ENUMS.get(connector, {}).items():
        value = opts.get(name)
        if value is not None and value.lower() not in allowed:
            return f"invalid value '{value}' for {name}; use one of {', '.join(allowed)}"
    if connector in _NEEDS_FORMAT and fmt is None:
        return f"{connector} table requires a format, e.g. format = 'json'"
    if kind == "source" and fmt in ("raw_string", "raw_bytes"):
        import pyarrow as pa

        data = pa.schema([f for f in schema if f.name not in metadata]) if schema is not None else None
        return check_raw_schema(fmt, data)
    return None
