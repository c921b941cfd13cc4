"""Checks of connector options at planning time (no connection is made while planning)."""

from __future__ import annotations

import json
from typing import Any

from .formats import check_raw_schema

_ENUMS: dict[str, dict[str, tuple[str, ...]]] = {
    "kafka": {
        "source.offset": ("latest", "earliest", "group"),
        "source.read_mode": ("read_uncommitted", "read_committed"),
        "sink.commit_mode": ("at_least_once", "exactly_once"),
        "auth.type": ("none", "sasl"),
        "bad_data": ("fail", "drop"),
    },
    "polling_http": {"method": ("get", "post", "put", "patch"), "emit_behavior": ("all", "changed")},
    "redis": {"target": ("string", "list", "hash"), "target.operation": ("append", "prepend")},
    "mqtt": {"qos": ("atmostonce", "atleastonce", "exactlyonce")},
}
_REQUIRED = {
    "kafka": ("bootstrap_servers", "topic"),
    "filesystem": ("path",),
    "delta": ("path",),
    "sse": ("endpoint",),
    "websocket": ("endpoint",),
    "polling_http": ("endpoint",),
    "webhook": ("endpoint",),
    "mqtt": ("topic",),
}
_NEEDS_FORMAT = {"kafka", "filesystem"}


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
    if connector == "redis" and kind == "sink":
        if opts.get("target", "string") == "hash" and not opts.get("target.field_column"):
            return "a redis hash target needs 'target.field_column' (the column whose value names the hash field)"
    if connector == "nats":
        if opts.get("stream") or opts.get("source.stream"):
            return "NATS JetStream sources are not supported by the embedded engine; use a NATS Core subject"
        if not (opts.get("subject") or opts.get(f"{kind}.subject")):
            return "nats table requires option 'subject'"
    if connector in ("filesystem", "delta"):
        from .filesystem import check_options

        if connector == "delta" and fmt not in (None, "parquet"):
            return "a delta table stores Parquet files: use format = 'parquet'"
        return check_options(kind, fmt or "parquet", opts)
    if fmt == "parquet" and connector != "filesystem":
        return f"format 'parquet' is for filesystem tables; {connector} takes json, debezium_json, raw_string or raw_bytes"
    if kind == "source" and fmt in ("raw_string", "raw_bytes"):
        import pyarrow as pa

        data = pa.schema([f for f in schema if f.name not in metadata]) if schema is not None else None
        return check_raw_schema(fmt, data)
    return None


def _flat(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, bool):
        out[prefix] = "true" if value else "false"
    elif isinstance(value, list):  # e.g. websocket subscription_messages: a JSON array
        out[prefix] = json.dumps(value)
    elif value is not None:
        out[prefix] = str(value)


_KAFKA_PROFILE = {
    "bootstrapServers": "bootstrap_servers",
    "connectionProperties": "connection_properties",
    "schemaRegistryEnum.endpoint": "schema_registry.endpoint",
    "schemaRegistryEnum.apiKey": "schema_registry.api_key",
    "schemaRegistryEnum.apiSecret": "schema_registry.api_secret",
}


def _kafka(config: dict[str, Any], profile: dict[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    cfg = dict(config)
    kind = cfg.pop("type", None)
    if isinstance(kind, dict):  # the console's Source | Sink object
        side = "sink" if {"commit_mode", "key_field", "timestamp_field"} & set(kind) else "source"
        out["type"] = side
        _flat(side, kind, out)
    elif kind is not None:
        out["type"] = str(kind)
    _flat("", cfg, out)
    if profile:
        flat: dict[str, str] = {}
        _flat("", profile, flat)
        for key, value in flat.items():
            if key.startswith("authentication."):
                out["auth.type"] = "sasl"
                out[f"auth.{key.partition('.')[2]}"] = value
                continue
            for name, sql in _KAFKA_PROFILE.items():
                if key == name or key.startswith(name + "."):
                    out.setdefault(sql + key[len(name) :], value)
    return out


_REDIS_TARGET = {
    "keyPrefix": ("string", "target.key_prefix"),
    "keyColumn": ("string", "target.key_column"),
    "ttlSecs": ("string", "target.ttl_secs"),
    "listPrefix": ("list", "target.key_prefix"),
    "listKeyColumn": ("list", "target.key_column"),
    "maxLength": ("list", "target.max_length"),
    "operation": ("list", "target.operation"),
    "hashKeyPrefix": ("hash", "target.key_prefix"),
    "hashKeyColumn": ("hash", "target.key_column"),
    "hashFieldColumn": ("hash", "target.field_column"),
}


def _redis(config: dict[str, Any], profile: dict[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {"type": "lookup" if "lookup" in (config.get("connectorType") or {}) else "sink"}
    target = ((config.get("connectorType") or {}).get("target")) or {}
    for key, value in target.items():
        if key in _REDIS_TARGET:
            kind, sql = _REDIS_TARGET[key]
            out["target"] = kind
            out[sql] = str(value).lower() if key == "operation" else str(value)
    _flat("", {k: v for k, v in config.items() if k != "connectorType"}, out)
    connection = (profile or {}).get("connection") or {}
    if connection.get("address"):
        out["address"] = connection["address"]
    for key in ("username", "password"):
        if (profile or {}).get(key):
            out[key] = str(profile[key])  # type: ignore[index]
    return out


def _nats(config: dict[str, Any], profile: dict[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    kind = config.get("connectorType") or {}
    if "sinkType" in kind:
        out["type"], out["subject"] = "sink", str((kind["sinkType"] or {}).get("subject", ""))
    elif "sourceType" in kind:
        source = kind["sourceType"] or {}
        out["type"] = "source"
        if "stream" in source:
            out["stream"] = str(source["stream"])
        out["subject"] = str(source.get("subject", ""))
    _flat("", {k: v for k, v in config.items() if k != "connectorType"}, out)
    p = profile or {}
    if p.get("servers"):
        out["servers"] = str(p["servers"])
    auth = p.get("authentication") or {}
    for key in ("username", "password"):
        if auth.get(key):
            out[key] = str(auth[key])
    return out


def _mqtt(config: dict[str, Any], profile: dict[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    cfg = dict(config)
    kind = cfg.pop("type", None)
    if isinstance(kind, dict):
        out["type"] = "sink" if "retain" in kind else "source"
        if "retain" in kind:
            out["sink.retain"] = "true" if kind["retain"] in (True, "true") else "false"
    _flat("", cfg, out)
    names = {"clientPrefix": "client_prefix", "maxPacketSize": "max_packet_size"}
    flat: dict[str, str] = {}
    _flat("", profile or {}, flat)
    for key, value in flat.items():
        out.setdefault(names.get(key, key), value)
    return out


def from_console(connector: str, config: dict[str, Any], profile: dict[str, Any] | None) -> dict[str, str]:
    """A console table config (+ its connection profile) as SQL options."""
    if connector == "kafka":
        return _kafka(config, profile)
    if connector == "redis":
        return _redis(config, profile)
    if connector == "nats":
        return _nats(config, profile)
    if connector == "mqtt":
        return _mqtt(config, profile)
    out: dict[str, str] = {}
    _flat("", {**(profile or {}), **config}, out)
    return out
