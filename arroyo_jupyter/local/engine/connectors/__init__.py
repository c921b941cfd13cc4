"""Connectors to outside systems (Kafka, …): one module per connector, found through this registry.

The registry names classes as ``module:Class`` strings and imports them on first use, so
that planning a query never imports a client library it does not need (and ``catalog``
can read the connector names without an import cycle).
"""

from __future__ import annotations

import importlib
from typing import Any

# connector → "module:Class" of its SourceSubtask / Sink
SOURCES: dict[str, str] = {
    "kafka": "kafka:KafkaSource",
}
SINKS: dict[str, str] = {
    "kafka": "kafka:KafkaSink",
}
# the serialization formats these connectors read and write (besides json and debezium_json)
FORMATS = {"raw_string", "raw_bytes"}


def _load(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def source_class(connector: str) -> Any | None:
    ref = SOURCES.get(connector)
    return _load(ref) if ref else None


def sink_class(connector: str) -> Any | None:
    ref = SINKS.get(connector)
    return _load(ref) if ref else None


def check_options(
    connector: str, kind: str, fmt: str | None, opts: dict[str, str], schema: Any, metadata: dict[str, str]
) -> str | None:
    """Why a table's options do not fit its connector (checked when planning), or None."""
    if connector not in SOURCES and connector not in SINKS:
        return None
    from .options import check

    return check(connector, kind, fmt, opts, schema, metadata)
