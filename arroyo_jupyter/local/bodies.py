"""Request bodies of the API as msgspec structs (unknown fields are ignored, as serde does)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

StopName = Literal["none", "checkpoint", "graceful", "immediate", "force"]
Language = Literal["python", "rust"]


class UdfIn(msgspec.Struct):
    definition: str
    language: Language | None = None


class PipelinePost(msgspec.Struct):
    name: str
    query: str
    parallelism: int
    udfs: list[UdfIn] | None = None
    checkpoint_interval_micros: int | None = None
    state_url: str | None = None
    tags: dict[str, str] | None = None
    env_vars: dict[str, str] | None = None
    scheduler_config: Any = None


class PreviewPost(msgspec.Struct):
    query: str
    udfs: list[UdfIn] | None = None
    enable_sinks: bool | None = None


class ValidateQueryPost(msgspec.Struct):
    query: str
    udfs: list[UdfIn] | None = None


class PipelinePatch(msgspec.Struct):
    stop: StopName | None = None
    parallelism: int | None = None
    checkpoint_interval_micros: int | None = None
    env_vars: dict[str, str] | None = None
    scheduler_config: Any = msgspec.UNSET


class PipelineRestart(msgspec.Struct):
    force: bool | None = None
    ignore_state: bool | None = None


class ConnectionProfilePost(msgspec.Struct):
    name: str
    connector: str
    config: Any


class ConnectionTablePost(msgspec.Struct):
    name: str
    connector: str
    config: Any
    connection_profile_id: str | None = None
    schema: dict[str, Any] | None = None


class UdfPost(msgspec.Struct):
    prefix: str
    definition: str
    language: Language | None = None
    description: str | None = None


class ValidateUdfPost(msgspec.Struct):
    definition: str
    language: Language | None = None


class SchemaBody(msgspec.Struct):
    format: Any = None
    fields: Any = None
    definition: Any = None
