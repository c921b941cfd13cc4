"""Arroyo's ``delta`` sink: the filesystem sink's Parquet files, committed to a Delta Lake
table's transaction log (``_delta_log/NNNNNNNNNNNNNNNNNNNN.json``) at each checkpoint.

Files move out of staging first and are added to the log after, so a reader of the table
never sees a file the log does not list. Subtasks commit concurrently the way Delta's
writers do: each claims the next version by creating its log file exclusively, and tries
the following version when another writer took it. ``partitioning.fields`` become the
table's partition columns (``field=value`` folders).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import pyarrow as pa

from .filesystem import FilesystemSink, _Part

LOG = "_delta_log"


def delta_type(t: pa.DataType) -> Any:
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_uint8(t):
        return "byte"
    if pa.types.is_int16(t) or pa.types.is_uint16(t):
        return "short"
    if pa.types.is_int32(t):
        return "integer"
    if pa.types.is_integer(t):
        return "long"
    if pa.types.is_float32(t):
        return "float"
    if pa.types.is_floating(t):
        return "double"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "binary"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp_ntz" if t.tz is None else "timestamp"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision},{t.scale})"
    if pa.types.is_struct(t):
        return {"type": "struct", "fields": [_field(f) for f in t]}
    if pa.types.is_list(t):
        return {"type": "array", "elementType": delta_type(t.value_type), "containsNull": True}
    raise ValueError(f"type {t} has no Delta Lake mapping")


def _field(f: pa.Field) -> dict[str, Any]:
    return {"name": f.name, "type": delta_type(f.type), "nullable": True, "metadata": {}}


class DeltaSink(FilesystemSink):
    def __init__(self, plan: Any, index: int, state: dict[str, Any], listener: Any, fresh: bool):
        plan.options.setdefault("format", "parquet")
        if plan.options["format"] != "parquet":
            raise OSError("a delta table stores Parquet files: use format = 'parquet'")
        super().__init__(plan, index, state, listener, fresh)
        self.log = self.root / LOG
        self.schema: pa.Schema = plan.schema

    def publish(self, parts: list[_Part]) -> None:
        if not parts:
            return
        now = int(time.time() * 1000)
        actions = [
            {
                "add": {
                    "path": p.final.relative_to(self.root).as_posix(),
                    "partitionValues": dict(kv.split("=", 1) for kv in p.partition if "=" in kv),
                    "size": p.final.stat().st_size,
                    "modificationTime": now,
                    "dataChange": True,
                }
            }
            for p in parts
        ]
        actions.append(
            {
                "commitInfo": {
                    "timestamp": now,
                    "operation": "STREAMING UPDATE",
                    "engineInfo": "arroyo-jupyter",
                }
            }
        )
        self._append(actions)

    def _append(self, actions: list[dict[str, Any]]) -> None:
        self.log.mkdir(parents=True, exist_ok=True)
        version = self._latest() + 1
        while True:
            if version == 0:  # the table's first commit also creates it
                body = [self._protocol(), self._metadata(), *actions]
            else:
                body = actions
            path = self.log / f"{version:020d}.json"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:  # another writer took this version: try the next
                version += 1
                continue
            with os.fdopen(fd, "w") as out:
                out.write("\n".join(json.dumps(a) for a in body) + "\n")
            return

    def _latest(self) -> int:
        versions = [int(p.stem) for p in self.log.glob("*.json") if p.stem.isdigit()]
        return max(versions, default=-1)

    def _protocol(self) -> dict[str, Any]:
        needs_ntz = any(pa.types.is_timestamp(f.type) and f.type.tz is None for f in self.schema)
        if needs_ntz:  # timestamp without time zone is a reader/writer table feature
            return {
                "protocol": {
                    "minReaderVersion": 3,
                    "minWriterVersion": 7,
                    "readerFeatures": ["timestampNtz"],
                    "writerFeatures": ["timestampNtz"],
                }
            }
        return {"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}

    def _metadata(self) -> dict[str, Any]:
        schema = {"type": "struct", "fields": [_field(f) for f in self.schema]}
        return {
            "metaData": {
                "id": str(uuid.uuid4()),
                "format": {"provider": "parquet", "options": {}},
                "schemaString": json.dumps(schema),
                "partitionColumns": list(self.fields),
                "configuration": {},
                "createdTime": int(time.time() * 1000),
            }
        }
