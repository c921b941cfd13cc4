"""The one place that builds requests and parses responses (no I/O here).

Each operation is a function returning a :class:`Call`: method, path, query, body and
how to decode a successful answer. ``Client`` and ``AsyncClient`` only send Calls and
hand the answer back to :func:`parse_response`, so both behave identically.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from urllib.parse import quote

import msgspec

from ..states import parse_stop_type
from . import models as m
from .errors import (
    ArgumentError,
    ArroyoConnectionError,
    ArroyoError,
    NotFoundError,
    SqlDiagnostic,
    SqlError,
    error_for_status,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable

    from .follow import OutputFollower
    from .stream import AsyncOutputStream, OutputStream

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP request to the API, and how to read its successful answer."""

    method: str
    path: str  # relative to the API root, e.g. "/pipelines/pl_x"
    parse: Callable[[bytes], T]
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    sql: bool = False  # a 400 here is a planner error -> SqlError

    @property
    def idempotent(self) -> bool:
        return self.method == "GET"

    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json"} if self.body is not None else {}

    def content(self) -> bytes | None:
        return None if self.body is None else msgspec.json.encode(self.body)


class Page(Generic[T]):
    """One page of a paginated collection: ``data``, ``has_more`` and the next cursor."""

    __slots__ = ("data", "has_more")

    def __init__(self, data: list[T], has_more: bool) -> None:
        self.data = data
        self.has_more = has_more

    def __iter__(self) -> Iterator[T]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> T:
        return self.data[index]

    @property
    def next_cursor(self) -> str | None:
        """The ``starting_after`` for the next page (the last item's id), if any."""
        if not self.has_more or not self.data:
            return None
        return getattr(self.data[-1], "id", None)

    def map(self, fn: Callable[[T], U]) -> Page[U]:
        return Page([fn(x) for x in self.data], self.has_more)

    def __repr__(self) -> str:
        return f"Page({len(self.data)} items, has_more={self.has_more})"


class _WirePage(msgspec.Struct, Generic[T]):
    data: list[T]
    has_more: bool = msgspec.field(default=False, name="hasMore")  # camelCase on the wire


class _WireList(msgspec.Struct, Generic[T]):
    data: list[T]


def _decoder(tp: Any) -> Callable[[bytes], Any]:
    return msgspec.json.Decoder(tp).decode


def _page_parser(item: Any) -> Callable[[bytes], Page[Any]]:
    decode = msgspec.json.Decoder(_WirePage[item]).decode  # type: ignore[valid-type]

    def parse(content: bytes) -> Page[Any]:
        wire = decode(content)
        return Page(wire.data, wire.has_more)

    return parse


def _list_parser(item: Any) -> Callable[[bytes], list[Any]]:
    decode = msgspec.json.Decoder(_WireList[item]).decode  # type: ignore[valid-type]
    return lambda content: decode(content).data


def _ignore(content: bytes) -> None:
    return None


def _pong(content: bytes) -> bool:
    return True  # "Pong" from a real engine; Prism answers an empty 200


_validation_decode = msgspec.json.Decoder(m._WireValidation).decode


def _parse_validation(content: bytes) -> m.QueryValidationResult:
    return m.validation_from_wire(_validation_decode(content))


_PIPELINE = _decoder(m.Pipeline)
_PIPELINE_PAGE = _page_parser(m.Pipeline)
_JOBS = _list_parser(m.Job)
_ERRORS_PAGE = _page_parser(m.JobLogMessage)
_CHECKPOINTS = _list_parser(m.Checkpoint)
_TRANSITIONS = _list_parser(m.StateTransition)
_CHECKPOINT_GROUPS = _list_parser(m.OperatorCheckpointGroup)
_METRIC_GROUPS = _list_parser(m.OperatorMetricGroup)
_CONNECTORS = _list_parser(m.Connector)
_PROFILES = _list_parser(m.ConnectionProfile)
_PROFILE = _decoder(m.ConnectionProfile)
_TABLES_PAGE = _page_parser(m.ConnectionTable)
_TABLE = _decoder(m.ConnectionTable)
_TEST_MESSAGE = _decoder(m.TestSourceMessage)
_AUTOCOMPLETE = _decoder(m.ConnectionAutocompleteResp)
_UDFS = _list_parser(m.GlobalUdf)
_UDF = _decoder(m.GlobalUdf)
_UDF_VALIDATION = _decoder(m.UdfValidationResult)


# --- request building ----------------------------------------------------------------


def _seg(value: str, what: str) -> str:
    """A path segment, checked and percent-encoded."""
    if not isinstance(value, str) or not value.strip():
        raise ArgumentError(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def _compact(**fields: Any) -> dict[str, Any]:
    """A JSON body without the fields left as None (older servers reject unknown nulls)."""
    return {k: v for k, v in fields.items() if v is not None}


def _paging(limit: int | None, starting_after: str | None) -> dict[str, Any]:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ArgumentError(f"limit must be an int >= 1 (the server rejects 0), got {limit!r}")
    return _compact(limit=limit, starting_after=starting_after)


def _udfs(udfs: Any) -> list[dict[str, Any]] | None:
    """Accept Udf structs, dicts, or bare definition strings (Python by default)."""
    if udfs is None:
        return None
    out: list[dict[str, Any]] = []
    for u in udfs:
        if isinstance(u, str):
            out.append({"definition": u, "language": "python"})
        elif isinstance(u, m.Udf):
            out.append(msgspec.to_builtins(u))
        elif isinstance(u, Mapping) and "definition" in u:
            out.append(dict(u))
        else:
            raise ArgumentError(
                f"a UDF must be a definition string, a Udf or a dict with 'definition', not {u!r}"
            )
    return out


def _stop(mode: Any) -> str:
    try:
        return parse_stop_type(mode).value
    except ValueError as exc:
        raise ArgumentError(str(exc)) from None


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentError(f"{what} must be an int >= 1, got {value!r}")
    return value


def _job_path(pipeline_id: str, job_id: str) -> str:
    return f"/pipelines/{_seg(pipeline_id, 'pipeline_id')}/jobs/{_seg(job_id, 'job_id')}"


def ping() -> Call[bool]:
    return Call("GET", "/ping", _pong)


def list_pipelines(limit: int | None = None, starting_after: str | None = None) -> Call[Page[m.Pipeline]]:
    return Call("GET", "/pipelines", _PIPELINE_PAGE, params=_paging(limit, starting_after))


def get_pipeline(pipeline_id: str) -> Call[m.Pipeline]:
    return Call("GET", f"/pipelines/{_seg(pipeline_id, 'pipeline_id')}", _PIPELINE)


def create_pipeline(
    name: str,
    query: str,
    *,
    parallelism: int = 1,
    checkpoint_interval_micros: int | None = None,
    udfs: Any = None,
    tags: dict[str, str] | None = None,
    env_vars: dict[str, str] | None = None,
    scheduler_config: Any = None,
    state_url: str | None = None,
    pipeline_id: str | None = None,
) -> Call[m.Pipeline]:
    if not isinstance(name, str) or not name.strip():
        raise ArgumentError("a pipeline needs a non-empty name")
    if not isinstance(query, str):
        raise ArgumentError(f"query must be a SQL string, got {type(query).__name__}")
    body = _compact(
        name=name,
        query=query,
        parallelism=_positive_int(parallelism, "parallelism"),
        checkpoint_interval_micros=checkpoint_interval_micros,
        udfs=_udfs(udfs),
        tags=tags,
        env_vars=env_vars,
        scheduler_config=scheduler_config,
        state_url=state_url,
    )
    if pipeline_id is not None:  # newer engines: PUT creates under a chosen id
        return Call("PUT", f"/pipelines/{_seg(pipeline_id, 'pipeline_id')}", _PIPELINE, body=body, sql=True)
    return Call("POST", "/pipelines", _PIPELINE, body=body, sql=True)


def create_preview(query: str, *, udfs: Any = None, enable_sinks: bool = False) -> Call[m.Pipeline]:
    if not isinstance(query, str):
        raise ArgumentError(f"query must be a SQL string, got {type(query).__name__}")
    body = _compact(query=query, udfs=_udfs(udfs), enable_sinks=bool(enable_sinks))
    return Call("POST", "/pipelines/preview", _PIPELINE, body=body, sql=True)


def validate_query(query: str, *, udfs: Any = None) -> Call[m.QueryValidationResult]:
    if not isinstance(query, str):
        raise ArgumentError(f"query must be a SQL string, got {type(query).__name__}")
    body = _compact(query=query, udfs=_udfs(udfs))
    return Call("POST", "/pipelines/validate_query", _parse_validation, body=body)


def patch_pipeline(
    pipeline_id: str,
    *,
    stop: Any = None,
    parallelism: int | None = None,
    checkpoint_interval_micros: int | None = None,
    env_vars: dict[str, str] | None = None,
    scheduler_config: Any = None,
) -> Call[m.Pipeline]:
    body = _compact(
        stop=None if stop is None else _stop(stop),
        parallelism=None if parallelism is None else _positive_int(parallelism, "parallelism"),
        checkpoint_interval_micros=checkpoint_interval_micros,
        env_vars=env_vars,
        scheduler_config=scheduler_config,
    )
    return Call("PATCH", f"/pipelines/{_seg(pipeline_id, 'pipeline_id')}", _PIPELINE, body=body)


def restart_pipeline(
    pipeline_id: str, *, force: bool = False, ignore_state: bool = False
) -> Call[m.Pipeline]:
    body: dict[str, Any] = {"force": bool(force)}
    if ignore_state:  # newer engines only; older ones ignore unknown fields
        body["ignore_state"] = True
    return Call("POST", f"/pipelines/{_seg(pipeline_id, 'pipeline_id')}/restart", _PIPELINE, body=body)


def delete_pipeline(pipeline_id: str) -> Call[None]:
    return Call("DELETE", f"/pipelines/{_seg(pipeline_id, 'pipeline_id')}", _ignore)


def get_pipeline_jobs(pipeline_id: str) -> Call[list[m.Job]]:
    return Call("GET", f"/pipelines/{_seg(pipeline_id, 'pipeline_id')}/jobs", _JOBS)


def list_jobs() -> Call[list[m.Job]]:
    return Call("GET", "/jobs", _JOBS)


def get_job_errors(
    pipeline_id: str, job_id: str, *, limit: int | None = None, starting_after: str | None = None
) -> Call[Page[m.JobLogMessage]]:
    return Call(
        "GET", _job_path(pipeline_id, job_id) + "/errors", _ERRORS_PAGE, params=_paging(limit, starting_after)
    )


def get_checkpoints(pipeline_id: str, job_id: str) -> Call[list[m.Checkpoint]]:
    return Call("GET", _job_path(pipeline_id, job_id) + "/checkpoints", _CHECKPOINTS)


def get_checkpoint_details(
    pipeline_id: str, job_id: str, epoch: int
) -> Call[list[m.OperatorCheckpointGroup]]:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ArgumentError(f"epoch must be an int >= 0, got {epoch!r}")
    path = _job_path(pipeline_id, job_id) + f"/checkpoints/{epoch}/operator_checkpoint_groups"
    return Call("GET", path, _CHECKPOINT_GROUPS)


def get_operator_metric_groups(pipeline_id: str, job_id: str) -> Call[list[m.OperatorMetricGroup]]:
    return Call("GET", _job_path(pipeline_id, job_id) + "/operator_metric_groups", _METRIC_GROUPS)


def get_job_state_transitions(pipeline_id: str, job_id: str) -> Call[list[m.StateTransition]]:
    """The embedded server's additive endpoint (Arroyo has none): 404 Route not found there."""
    return Call("GET", _job_path(pipeline_id, job_id) + "/state_transitions", _TRANSITIONS)


def no_such_route(exc: NotFoundError) -> bool:
    """A 404 for the route itself (an Arroyo cluster without an additive endpoint)."""
    return "Route not found" in exc.message


def output_path(pipeline_id: str, job_id: str) -> str:
    return _job_path(pipeline_id, job_id) + "/output"


def list_connectors() -> Call[list[m.Connector]]:
    return Call("GET", "/connectors", _CONNECTORS)


def list_connection_profiles() -> Call[list[m.ConnectionProfile]]:
    return Call("GET", "/connection_profiles", _PROFILES)


def _profile_body(name: str, connector: str, config: Any) -> dict[str, Any]:
    if not name or not connector:
        raise ArgumentError("a connection profile needs a name and a connector (e.g. 'kafka')")
    return {"name": name, "connector": connector, "config": {} if config is None else config}


def create_connection_profile(name: str, connector: str, config: Any = None) -> Call[m.ConnectionProfile]:
    return Call("POST", "/connection_profiles", _PROFILE, body=_profile_body(name, connector, config))


def test_connection_profile(name: str, connector: str, config: Any = None) -> Call[m.TestSourceMessage]:
    body = _profile_body(name, connector, config)
    return Call("POST", "/connection_profiles/test", _TEST_MESSAGE, body=body)


def delete_connection_profile(profile_id: str) -> Call[None]:
    return Call("DELETE", f"/connection_profiles/{_seg(profile_id, 'profile_id')}", _ignore)


def get_connection_profile_autocomplete(profile_id: str) -> Call[m.ConnectionAutocompleteResp]:
    path = f"/connection_profiles/{_seg(profile_id, 'profile_id')}/autocomplete"
    return Call("GET", path, _AUTOCOMPLETE)


def list_connection_tables(
    limit: int | None = None, starting_after: str | None = None
) -> Call[Page[m.ConnectionTable]]:
    return Call("GET", "/connection_tables", _TABLES_PAGE, params=_paging(limit, starting_after))


def _table_body(
    name: str, connector: str, config: Any, connection_profile_id: str | None, schema: Any
) -> dict[str, Any]:
    if not name or not connector:
        raise ArgumentError("a connection table needs a name and a connector (e.g. 'impulse')")
    return _compact(
        name=name,
        connector=connector,
        config={} if config is None else config,
        connection_profile_id=connection_profile_id,
        schema=schema,
    )


def create_connection_table(
    name: str,
    connector: str,
    config: Any = None,
    *,
    connection_profile_id: str | None = None,
    schema: Any = None,
) -> Call[m.ConnectionTable]:
    body = _table_body(name, connector, config, connection_profile_id, schema)
    return Call("POST", "/connection_tables", _TABLE, body=body)


def test_connection_table(
    name: str,
    connector: str,
    config: Any = None,
    *,
    connection_profile_id: str | None = None,
    schema: Any = None,
) -> Call[list[m.TestSourceMessage]]:
    # The answer is a short text/event-stream of TestSourceMessage; read it whole.
    from .sse import parse_test_messages

    body = _table_body(name, connector, config, connection_profile_id, schema)
    return Call("POST", "/connection_tables/test", parse_test_messages, body=body)


def test_schema(schema: dict[str, Any]) -> Call[None]:
    if not isinstance(schema, Mapping):
        raise ArgumentError("schema must be a ConnectionSchema dict, e.g. {'format': {'type': 'json'}}")
    return Call("POST", "/connection_tables/schemas/test", _ignore, body=dict(schema))


def delete_connection_table(table_id: str) -> Call[None]:
    return Call("DELETE", f"/connection_tables/{_seg(table_id, 'table_id')}", _ignore)


def list_udfs() -> Call[list[m.GlobalUdf]]:
    return Call("GET", "/udfs", _UDFS)


def _language(language: str) -> str:
    if language not in ("python", "rust"):
        raise ArgumentError(f"language must be 'python' or 'rust', got {language!r}")
    return language


def create_udf(
    prefix: str, definition: str, *, language: str = "python", description: str | None = None
) -> Call[m.GlobalUdf]:
    if not isinstance(definition, str) or not definition.strip():
        raise ArgumentError("a UDF needs its source code as `definition`")
    body = _compact(
        prefix=prefix, definition=definition, language=_language(language), description=description
    )
    return Call("POST", "/udfs", _UDF, body=body)


def validate_udf(definition: str, *, language: str = "python") -> Call[m.UdfValidationResult]:
    body = {"definition": definition, "language": _language(language)}
    return Call("POST", "/udfs/validate", _UDF_VALIDATION, body=body)


def delete_udf(udf_id: str) -> Call[None]:
    return Call("DELETE", f"/udfs/{_seg(udf_id, 'udf_id')}", _ignore)


# --- response parsing ----------------------------------------------------------------

_PLAN_HEADER = "Failed to plan query:"
# Raw planner texts of older engines (before "Failed to plan query:" existed).
_PLANNER_PREFIXES = (
    "Error during planning",
    "SQL error",
    "sql parser error",
    "Schema error",
    "This feature is not implemented",
    "Invalid argument error",
    "Query is empty",
    "Type error",
)
_POSITION = re.compile(r"Line: (\d+), Column:? (\d+)")


def sql_diagnostics(message: str) -> list[SqlDiagnostic] | None:
    """Diagnostics from a create/preview 400 body, or None if it is not a SQL error."""
    text = message.strip()
    if text.startswith(_PLAN_HEADER):
        bullets = [b.strip() for b in text[len(_PLAN_HEADER) :].split("\n * ")]
        bullets = [b[2:].strip() if b.startswith("* ") else b for b in bullets]
        return [_with_position(b) for b in bullets if b] or [SqlDiagnostic(text)]
    if text.startswith(_PLANNER_PREFIXES):
        return [_with_position(text)]
    return None


def _with_position(message: str) -> SqlDiagnostic:
    found = _POSITION.search(message)
    if not found:
        return SqlDiagnostic(message)
    line, column = int(found.group(1)), int(found.group(2))
    return SqlDiagnostic(message, line, column, line, column)


def is_html(headers: Mapping[str, str], content: bytes) -> bool:
    ctype = headers.get("content-type", "").lower()
    if "text/html" in ctype:
        return True
    head = content[:200].lstrip().lower()
    return head.startswith(b"<!doctype html") or head.startswith(b"<html")


def wrong_base_path(api_root: str) -> ArroyoConnectionError:
    return ArroyoConnectionError(
        f"{api_root} serves a web page, not the Arroyo API: check the base path "
        "(give the server's URL, e.g. http://host:5115, or the exact API root with api_root=)"
    )


_EMPTY_BODY_MESSAGES = {
    401: "unauthorized: the server needs an API key; pass api_key= or set ARROYO_API_KEY",
    403: "forbidden: this API key may not do that",
    404: "not found",
    405: "method not allowed: this server does not support this operation (an older Arroyo version?)",
    415: "unsupported media type: the body must be JSON",
    502: "bad gateway: the server (or its leader) is not available; try again later",
    503: "service unavailable; try again later",
}


def error_message(status: int, headers: Mapping[str, str], content: bytes) -> str:
    """The server's error text from a JSON, plain-text, HTML or empty body."""
    text = content.decode("utf-8", errors="replace").strip()
    if not text:
        return _EMPTY_BODY_MESSAGES.get(status, f"HTTP {status} with an empty body")
    if text.startswith("{"):
        try:
            obj = msgspec.json.decode(content)
        except msgspec.DecodeError:
            obj = None
        if isinstance(obj, dict):
            for key in ("error", "detail", "message", "title"):  # Arroyo's, then RFC 7807's
                if isinstance(obj.get(key), str):
                    return obj[key]
    if is_html(headers, content):
        return _EMPTY_BODY_MESSAGES.get(status, f"HTTP {status}") + " (the server sent an HTML page)"
    return text if len(text) <= 500 else text[:500] + "…"


def raise_for_error(call: Call[Any], status: int, headers: Mapping[str, str], content: bytes) -> None:
    if status < 400:
        return
    message = error_message(status, headers, content)
    if call.sql and status == 400:
        diagnostics = sql_diagnostics(message)
        if diagnostics is not None:
            raise SqlError(status, message, diagnostics, method=call.method, path=call.path)
    if status == 405:  # say what it most likely means, whatever the body
        message = f"{_EMPTY_BODY_MESSAGES[405]} ({message})" if content.strip() else _EMPTY_BODY_MESSAGES[405]
    raise error_for_status(status, message, method=call.method, path=call.path)


def parse_response(
    call: Call[T], status: int, headers: Mapping[str, str], content: bytes, api_root: str
) -> T:
    """The decoded answer, or the right ArroyoError for it."""
    raise_for_error(call, status, headers, content)
    if is_html(headers, content):
        raise wrong_base_path(api_root)
    try:
        return call.parse(content)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        preview = content[:120].decode("utf-8", errors="replace")
        raise ArroyoError(
            f"unexpected answer to {call.method} {call.path} from {api_root}: {exc} (body starts {preview!r}); "
            "is this an Arroyo API of a supported version?"
        ) from None


def is_event_stream(status: int, headers: Mapping[str, str]) -> bool:
    """Whether an answer to GET …/output can be read as SSE (Prism sends no content type)."""
    ctype = headers.get("content-type", "").lower()
    return 200 <= status < 300 and (not ctype or "event-stream" in ctype)


def stream_refused(
    call: Call[Any], status: int, headers: Mapping[str, str], content: bytes, api_root: str
) -> ArroyoError:
    """The error for an output request that did not open an event stream."""
    try:
        raise_for_error(call, status, headers, content)
    except ArroyoError as exc:
        return exc
    if is_html(headers, content):
        return wrong_base_path(api_root)
    ctype = headers.get("content-type") or "no content type"
    return ArroyoError(
        f"expected an event stream from GET {call.path} at {api_root}, got HTTP {status} ({ctype})"
    )


@dataclass
class RetryState:
    """Counts attempts of one call and says whether (and how long) to wait and retry."""

    attempts: int
    backoff: Callable[[int], float]
    statuses: frozenset[int]
    done: int = field(default=0)

    def after_status(self, call: Call[Any], status: int, headers: Mapping[str, str]) -> float | None:
        if not call.idempotent or status not in self.statuses:
            return None
        return self._next(headers.get("retry-after"))

    def after_error(self, call: Call[Any], request_sent: bool) -> float | None:
        # Nothing was sent if the connection failed: safe to retry any method.
        if request_sent and not call.idempotent:
            return None
        return self._next(None)

    def _next(self, retry_after: str | None) -> float | None:
        if self.done >= self.attempts:
            return None
        delay = self.backoff(self.done)
        if retry_after and retry_after.strip().isdigit():
            delay = max(delay, min(float(retry_after), 30.0))
        self.done += 1
        return delay


# --- what handles need of a client -----------------------------------------------------------


class Sender(Protocol):
    """The public surface of :class:`~arroyo_jupyter.api.Client` that handles depend on.

    Handles build their requests here (``Call``s) and only ask the client to send them,
    to open an output stream, or to follow the output over runs.
    """

    def send(self, call: Call[T]) -> T: ...

    def stream_output(
        self, pipeline_id: str, job_id: str, read_timeout: float | None = None
    ) -> OutputStream: ...

    def follow_output(
        self,
        pipeline_id: str,
        *,
        runs: int | None = None,
        poll_s: float = 0.5,
        wake: threading.Event | None = None,
    ) -> OutputFollower: ...


class AsyncSender(Protocol):
    """The same for :class:`~arroyo_jupyter.api.AsyncClient`."""

    def send(self, call: Call[T]) -> Awaitable[T]: ...

    def stream_output(
        self, pipeline_id: str, job_id: str, read_timeout: float | None = None
    ) -> Awaitable[AsyncOutputStream]: ...


def iter_pages(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of a paginated collection; ``fetch(cursor)`` returns one page."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.data
        previous, cursor = cursor, page.next_cursor
        if cursor is None:
            return
        if cursor == previous:  # a server that does not advance would loop forever
            raise ArroyoError(
                f"pagination stuck: the server answered starting_after={cursor!r} with the same page"
            )


async def aiter_pages(fetch: Callable[[str | None], Awaitable[Page[T]]]) -> AsyncIterator[T]:
    """The same as :func:`iter_pages` for an async ``fetch``."""
    cursor: str | None = None
    while True:
        page = await fetch(cursor)
        for item in page.data:
            yield item
        previous, cursor = cursor, page.next_cursor
        if cursor is None:
            return
        if cursor == previous:
            raise ArroyoError(
                f"pagination stuck: the server answered starting_after={cursor!r} with the same page"
            )
