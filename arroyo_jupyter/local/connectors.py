"""The connectors the embedded engine runs, described as Arroyo's ``Connector`` objects.

``table_config`` is a JSON-Schema string, as Arroyo's connectors carry it; the server
checks connection-table configs against it (required options, option types).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config_schema import problem

_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="6" '
    'fill="none" stroke="currentColor"/></svg>'
)


@dataclass(frozen=True)
class ConnectorInfo:
    id: str
    name: str
    description: str
    source: bool
    sink: bool
    table_config: dict[str, Any]
    hidden: bool = False
    fixed_fields: list[dict[str, Any]] | None = None  # built-in schema (impulse, nexmark)
    options: dict[str, str] = field(default_factory=dict)
    connection_config: dict[str, Any] | None = None  # the connection profile's schema
    arroyo_schema: bool = False  # table_config is Arroyo's own (checked as JSON Schema)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "icon": _ICON,
            "description": self.description,
            "table_config": json.dumps(self.table_config),
            "enabled": True,
            "source": self.source,
            "sink": self.sink,
            "custom_schemas": self.fixed_fields is None,
            "testing": False,
            "hidden": self.hidden,
            "connection_config": json.dumps(self.connection_config) if self.connection_config else None,
        }


def _schema(title: str, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "title": title,
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def _f(name: str, typ: str, required: bool = True) -> dict[str, Any]:
    sql = {"int64": "BIGINT", "string": "TEXT", "timestamp": "TIMESTAMP(9)"}[typ]
    out: dict[str, Any] = {"name": name, "type": typ, "required": required, "sql_name": sql}
    if typ == "timestamp":
        out["unit"] = "nanosecond"
    return out


def _struct(name: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    inner = ", ".join(f"{f['name']} {f['sql_name']}" for f in fields)
    return {
        "name": name,
        "type": "struct",
        "fields": fields,
        "required": False,
        "sql_name": f"STRUCT <{inner}>",
    }


_SCHEMAS = Path(__file__).parent / "connector_schemas"  # Arroyo's own, copied unchanged


def _arroyo(id: str, name: str, description: str, source: bool, sink: bool) -> ConnectorInfo:
    """A connector whose table (and profile) schema is Arroyo's JSON Schema."""
    folder = _SCHEMAS / id
    profile = folder / "profile.json"
    return ConnectorInfo(
        id,
        name,
        description,
        source,
        sink,
        json.loads((folder / "table.json").read_text()),
        connection_config=json.loads(profile.read_text()) if profile.exists() else None,
        arroyo_schema=True,
    )


CONNECTORS: dict[str, ConnectorInfo] = {
    c.id: c
    for c in [
        ConnectorInfo(
            "blackhole",
            "Blackhole",
            "No-op sink that swallows all data",
            False,
            True,
            _schema("BlackholeTable", {}, []),
        ),
        ConnectorInfo(
            "impulse",
            "Impulse",
            "Periodic demo source",
            True,
            False,
            _schema(
                "ImpulseTable",
                {
                    "event_rate": {
                        "type": "number",
                        "title": "Event rate",
                        "description": "Events per second",
                    },
                    "event_time_interval": {"type": "integer", "description": "ns between event times"},
                    "message_count": {"type": "integer", "description": "Messages per subtask, then finish"},
                },
                ["event_rate"],
            ),
            fixed_fields=[_f("counter", "int64"), _f("subtask_index", "int64")],
        ),
        ConnectorInfo(
            "nexmark",
            "Nexmark",
            "Demo source for a simulated auction website",
            True,
            False,
            _schema(
                "NexmarkTable",
                {
                    "event_rate": {"type": "number", "description": "Events per second"},
                    "runtime": {"type": "number", "description": "Seconds to run, then finish"},
                },
                ["event_rate"],
            ),
            fixed_fields=[
                _struct(
                    "person",
                    [
                        _f(n, t)
                        for n, t in [
                            ("id", "int64"),
                            ("name", "string"),
                            ("email_address", "string"),
                            ("credit_card", "string"),
                            ("city", "string"),
                            ("state", "string"),
                            ("datetime", "timestamp"),
                            ("extra", "string"),
                        ]
                    ],
                ),
                _struct(
                    "auction",
                    [
                        _f(n, t)
                        for n, t in [
                            ("id", "int64"),
                            ("description", "string"),
                            ("item_name", "string"),
                            ("initial_bid", "int64"),
                            ("reserve", "int64"),
                            ("datetime", "timestamp"),
                            ("expires", "timestamp"),
                            ("seller", "int64"),
                            ("category", "int64"),
                            ("extra", "string"),
                        ]
                    ],
                ),
                _struct(
                    "bid",
                    [
                        _f(n, t)
                        for n, t in [
                            ("auction", "int64"),
                            ("bidder", "int64"),
                            ("price", "int64"),
                            ("channel", "string"),
                            ("url", "string"),
                            ("datetime", "timestamp"),
                            ("extra", "string"),
                        ]
                    ],
                ),
            ],
        ),
        ConnectorInfo(
            "preview",
            "Preview",
            "Preview sink for the web console",
            False,
            True,
            _schema("PreviewTable", {}, []),
            hidden=True,
        ),
        ConnectorInfo(
            "stdout",
            "StdOut",
            "Writes rows to standard output",
            False,
            True,
            _schema(
                "StdoutTable", {"format": {"type": "string", "enum": ["json", "debezium_json"]}}, ["format"]
            ),
        ),
        ConnectorInfo(
            "single_file",
            "Single File",
            "Reads or writes one local file of JSON lines",
            True,
            True,
            _schema(
                "SingleFileTable",
                {
                    "path": {"type": "string"},
                    "format": {"type": "string", "enum": ["json", "debezium_json"]},
                    "type": {"type": "string", "enum": ["source", "sink"]},
                },
                ["path", "format", "type"],
            ),
            hidden=True,
        ),
        _arroyo("kafka", "Kafka", "Confluent Cloud, Amazon MSK, or self-hosted", True, True),
        _arroyo("sse", "Server-Sent Events", "Connect to a SSE/EventSource server", True, False),
        _arroyo("websocket", "Websocket", "Connect to a Websocket server", True, False),
        _arroyo("polling_http", "Polling HTTP", "Poll an HTTP server to read data", True, False),
        _arroyo("webhook", "Webhook", "Sink results via Webhooks", False, True),
        _arroyo("redis", "Redis", "Write results to a Redis database", False, True),
        _arroyo("mqtt", "MQTT", "Read and write from an MQTT broker", True, True),
        _arroyo("nats", "NATS", "Read and write from a NATS cluster", True, True),
        _arroyo(
            "filesystem",
            "FileSystem",
            "Read and write JSON or Parquet files in a local directory",
            True,
            True,
        ),
        _arroyo("delta", "Delta Lake", "Write to a Delta Lake table in a local directory", False, True),
    ]
}

_JSON_TYPES = {
    "number": (int, float),
    "integer": (int,),
    "string": (str,),
    "boolean": (bool,),
}


def check_config(connector: ConnectorInfo, config: Any) -> str | None:
    """A short reason the table config does not fit the connector, or None."""
    if not isinstance(config, dict):
        return "config must be a JSON object"
    if connector.arroyo_schema:
        return problem(connector.table_config, config)
    schema = connector.table_config
    for name in schema["required"]:
        if name not in config:
            return f"missing field `{name}`"
    for name, value in config.items():
        prop = schema["properties"].get(name)
        if prop is None:
            return f"unknown field `{name}`, expected one of {sorted(schema['properties'])}"
        types = _JSON_TYPES.get(prop.get("type", ""), ())
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        # Arroyo accepts option values quoted as strings too ('100')
        if not ok and isinstance(value, str) and prop.get("type") in ("number", "integer"):
            try:
                float(value) if prop["type"] == "number" else int(value)
                ok = True
            except ValueError:
                ok = False
        if not ok:
            return f"invalid type for `{name}`: expected {prop.get('type')}"
        if "enum" in prop and value not in prop["enum"]:
            return f"`{name}` must be one of {prop['enum']}"
    return None


def check_profile_config(connector: ConnectorInfo, config: Any) -> str | None:
    """A short reason a connection profile's config does not fit, or None."""
    if connector.connection_config is None:
        return None
    return problem(connector.connection_config, config)


def table_type(connector: ConnectorInfo, config: dict[str, Any]) -> str:
    kind = config.get("type")
    if isinstance(kind, dict):  # Arroyo's oneOf Source | Sink (e.g. kafka's offset vs commit_mode)
        return "sink" if {"commit_mode", "key_field", "timestamp_field", "retain"} & set(kind) else "source"
    nested = config.get("connectorType")
    if isinstance(nested, dict):  # redis and nats: {"target": …} / {"sinkType": …} / {"sourceType": …}
        if "lookup" in nested:  # redis: a lookup table (joined with JOIN … ON)
            return "lookup"
        return "sink" if {"target", "sinkType"} & set(nested) else "source"
    if "type" in config:
        return str(config["type"])
    return "source" if connector.source else "sink"


def table_schema(connector: ConnectorInfo, given: dict[str, Any] | None) -> dict[str, Any]:
    """The schema a table reports: built-in for fixed-schema connectors, else as given."""
    base: dict[str, Any] = {
        "format": None,
        "bad_data": None,
        "framing": None,
        "definition": None,
        "fields": [],
        "inferred": None,
        "primary_keys": [],
    }
    if connector.fixed_fields is not None:
        return {**base, "fields": connector.fixed_fields}
    return {**base, **(given or {})}
