"""The ``avro`` format for message connectors, on fastavro.

Reading: with a schema registry (``schema_registry.endpoint``, Confluent framing: a zero
byte, the 4-byte schema id, then the datum) each message's writer schema is fetched by id
(``GET /schemas/ids/{id}``) and cached; otherwise messages are raw datums
(``'avro.raw_datums' = 'true'``) of the inline ``'avro.schema'`` (Avro JSON), or of the
schema made from the table's columns. Writing: datums of ``'avro.schema'`` or of the
columns' schema; with a registry the schema is registered under ``{topic}-value`` (or
``value_subject``) and messages carry the Confluent framing.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
from typing import Any

import fastavro
import httpx
import pyarrow as pa

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def avro_type(t: pa.DataType, name: str) -> Any:
    """An Arrow type as an Avro type (timestamps as timestamp-micros longs)."""
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return (
            "long" if t.bit_width > 32 or (pa.types.is_unsigned_integer(t) and t.bit_width == 32) else "int"
        )
    if pa.types.is_float32(t):
        return "float"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "bytes"
    if pa.types.is_timestamp(t):
        return {"type": "long", "logicalType": "timestamp-micros"}
    if pa.types.is_struct(t):
        return {
            "type": "record",
            "name": f"{name}_struct",
            "fields": [{"name": f.name, "type": ["null", avro_type(f.type, f"{name}_{f.name}")]} for f in t],
        }
    if pa.types.is_list(t):
        return {"type": "array", "items": ["null", avro_type(t.value_type, f"{name}_item")]}
    raise ValueError(f"column '{name}' of type {t} has no Avro mapping")


def schema_for(schema: pa.Schema, name: str = "ArroyoAvro") -> dict[str, Any]:
    return {
        "type": "record",
        "name": name,
        "fields": [{"name": f.name, "type": ["null", avro_type(f.type, f.name)]} for f in schema],
    }


def _plain(value: Any) -> Any:
    """fastavro's logical values as the engine's JSON-ish values (timestamps in µs)."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        delta = aware - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class RegistryUnavailable(ConnectionError):
    """The schema registry cannot be reached or refuses (not bad data: the job fails)."""


class Registry:
    """The few Confluent Schema Registry endpoints the connector calls."""

    def __init__(self, endpoint: str, key: str | None = None, secret: str | None = None):
        auth = (key, secret or "") if key else None
        self.endpoint = endpoint.rstrip("/")
        self.client = httpx.Client(timeout=10.0, auth=auth)
        self.by_id: dict[int, Any] = {}

    def schema(self, schema_id: int) -> Any:
        if schema_id not in self.by_id:
            r = self._call("GET", f"/schemas/ids/{schema_id}")
            self.by_id[schema_id] = fastavro.parse_schema(json.loads(r["schema"]))
        return self.by_id[schema_id]

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        r = self._call("POST", f"/subjects/{subject}/versions", json={"schema": json.dumps(schema)})
        return int(r["id"])

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.client.request(method, self.endpoint + path, **kwargs)
        except httpx.HTTPError as err:
            raise RegistryUnavailable(
                f"cannot reach the schema registry at {self.endpoint}: {err or type(err).__name__}; check "
                "schema_registry.endpoint"
            ) from None
        if response.status_code >= 400:
            raise RegistryUnavailable(
                f"the schema registry at {self.endpoint} answered HTTP {response.status_code} to "
                f"{method} {path}: {response.text[:200]}"
            )
        return response.json()


def _registry(opts: dict[str, str]) -> Registry | None:
    endpoint = opts.get("schema_registry.endpoint")
    if not endpoint:
        return None
    return Registry(endpoint, opts.get("schema_registry.api_key"), opts.get("schema_registry.api_secret"))


class AvroCodec:
    def __init__(self, opts: dict[str, str], columns: pa.Schema):
        self.registry = _registry(opts)
        inline = opts.get("avro.schema")
        self.schema_json = json.loads(inline) if inline else schema_for(columns)
        self.schema = fastavro.parse_schema(self.schema_json)
        self.subject = opts.get("value_subject") or f"{opts.get('topic', 'arroyo')}-value"
        self._schema_id: int | None = None

    def decode(self, payload: bytes) -> dict[str, Any]:
        """One message → a row; ValueError when it is not a datum of the schema."""
        try:
            if self.registry is not None and payload[:1] == b"\0" and len(payload) >= 5:
                (schema_id,) = struct.unpack(">I", payload[1:5])
                writer = self.registry.schema(schema_id)
                value = fastavro.schemaless_reader(io.BytesIO(payload[5:]), writer, None)
            else:
                value = fastavro.schemaless_reader(io.BytesIO(payload), self.schema, None)
        except (EOFError, IndexError, UnicodeDecodeError, struct.error, TypeError) as err:
            raise ValueError(f"not an Avro datum of the schema: {err or type(err).__name__}") from None
        if not isinstance(value, dict):
            raise ValueError("the Avro datum is not a record")
        return _plain(value)

    def encode(self, row: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        if self.registry is not None:
            if self._schema_id is None:
                self._schema_id = self.registry.register(self.subject, self.schema_json)
            out.write(b"\0" + struct.pack(">I", self._schema_id))
        fastavro.schemaless_writer(out, self.schema, row)
        return out.getvalue()
