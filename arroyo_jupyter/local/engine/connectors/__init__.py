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
    "filesystem": "filesystem:FilesystemSource",
    "sse": "sse:SseSource",
    "websocket": "websocket:WebsocketSource",
    "polling_http": "polling_http:PollingHttpSource",
    "mqtt": "mqtt:MqttSource",
    "nats": "nats:NatsSource",
}
SINKS: dict[str, str] = {
    "kafka": "kafka:KafkaSink",
    "filesystem": "filesystem:FilesystemSink",
    "delta": "delta:DeltaSink",
    "webhook": "webhook:WebhookSink",
    "redis": "redis:RedisSink",
    "mqtt": "mqtt:MqttSink",
    "nats": "nats:NatsSink",
}
# the serialization formats these connectors read and write (besides json and debezium_json)
FORMATS = {"raw_string", "raw_bytes", "parquet", "avro"}


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


def console_options(
    connector: str, config: dict[str, Any], profile: dict[str, Any] | None
) -> dict[str, Any] | None:
    """A connection table's config (nested, as the console sends it) and its profile as the
    SQL options of ``CREATE TABLE … WITH (…)``; None for connectors not in this package."""
    if connector not in SOURCES and connector not in SINKS:
        return None
    from .options import from_console

    return from_console(connector, config, profile)


class ConnectionFailed(Exception):
    """A connection test that could not connect; the message says where and what to check."""


def _module(connector: str) -> Any | None:
    ref = SOURCES.get(connector) or SINKS.get(connector)
    return importlib.import_module(f"{__name__}.{ref.partition(':')[0]}") if ref else None


def test_connection(connector: str, options: dict[str, str]) -> list[str] | None:
    """Really connect with these SQL options; the steps that worked (None: nothing to test).
    Raises ConnectionFailed."""
    module = _module(connector)
    if module is None or not hasattr(module, "test_connection"):
        return None
    try:
        return list(module.test_connection(options))
    except (OSError, ValueError) as err:
        raise ConnectionFailed(str(err)) from None


def autocomplete(connector: str, options: dict[str, str]) -> dict[str, list[str]]:
    module = _module(connector)
    if module is None or not hasattr(module, "autocomplete"):
        return {}
    try:
        return dict(module.autocomplete(options))
    except (OSError, ValueError) as err:
        raise ConnectionFailed(str(err)) from None
