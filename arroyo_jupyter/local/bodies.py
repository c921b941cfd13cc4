"""Request bodies of the API as msgspec structs (unknown fields are ignored, as serde does),
and the limits their fields must keep."""

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


# -- limits on what a body may hold -----------------------------------------------------
_SHORT_FIELDS = {"name", "prefix", "connector", "connection_profile_id", "state_url", "language"}
_LONG_FIELDS = {"query", "definition", "description"}
_MAX_DEPTH = 64  # JSON nesting inside config / schema / scheduler_config


def check_fields(body: Any, config: Any) -> str | None:
    """A short reason the decoded body breaks a field limit, or None.

    Names and ids are at most ``max_name_chars``, SQL and UDF code at most
    ``max_query_bytes``; no string anywhere may hold a NUL character.
    """
    if not isinstance(body, msgspec.Struct):
        return None
    for name in body.__struct_fields__:
        value = getattr(body, name)
        if isinstance(value, str):
            if name in _SHORT_FIELDS and len(value) > config.max_name_chars:
                return f"{name} is too long ({len(value)} characters; at most {config.max_name_chars})"
            if name in _LONG_FIELDS and len(value.encode()) > config.max_query_bytes:
                return (
                    f"{name} is too large ({len(value.encode())} bytes; at most {config.max_query_bytes}); "
                    "shorten it or raise the server's max_query_bytes"
                )
        problem = _walk(name, value, 0, config)
        if problem:
            return problem
    return None


def _walk(name: str, value: Any, depth: int, config: Any) -> str | None:
    if depth > _MAX_DEPTH:
        return f"{name} is nested too deeply (at most {_MAX_DEPTH} levels)"
    if isinstance(value, str):
        return f"{name} must not contain NUL characters" if "\x00" in value else None
    if isinstance(value, msgspec.Struct):
        return check_fields(value, config)
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str) and len(k) > config.max_name_chars:
                return f"a key of {name} is too long (at most {config.max_name_chars} characters)"
            problem = _walk(name, k, depth + 1, config) or _walk(name, v, depth + 1, config)
            if problem:
                return problem
    elif isinstance(value, list):
        for v in value:
            problem = _walk(name, v, depth + 1, config)
            if problem:
                return problem
    return None
