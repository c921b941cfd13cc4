"""HTTP plumbing shared by the route modules: errors, JSON bodies, pagination."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .bodies import check_fields
from .guards import body_too_large
from .planning import CLIENT_GONE

T = TypeVar("T")
log = logging.getLogger(__name__)
DEFAULT_PAGE = 10
MAX_U32 = 2**32 - 1


class ErrorAnswer(Exception):
    """An error answered as ``{"error": message}`` (Arroyo's ``ErrorResp``)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        return json_response({"error": self.message}, self.status)


class PlainError(Exception):
    """Arroyo answers bad path/query parameters with plain text, not JSON."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def not_found(what: str) -> ErrorAnswer:
    return ErrorAnswer(404, f"{what} not found")


def bad_request(message: str) -> ErrorAnswer:
    return ErrorAnswer(400, message)


_encoder = msgspec.json.Encoder()


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(obj), status_code=status, media_type="application/json")


async def _bounded_body(request: Request, limit: int) -> bytes:
    """The body, counted as it arrives: a chunked body over the limit is not read further."""
    parts: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ErrorAnswer(413, body_too_large(limit))
        parts.append(chunk)
    return b"".join(parts)


async def read_body(request: Request, model: type[T]) -> T:
    """Decode a JSON body into ``model`` with axum's statuses: 415, 400 (syntax), 422 (shape).

    The body size and the length of its fields are bounded (``ServerConfig``) and strings
    must not hold NUL characters.
    """
    ctype = request.headers.get("content-type", "")
    if not ctype.split(";")[0].strip().lower().endswith("json"):
        raise ErrorAnswer(415, "Expected request with `Content-Type: application/json`")
    config = request.app.state.ctx.config
    raw = await _bounded_body(request, config.max_body_bytes)
    try:
        parsed = msgspec.json.decode(raw, type=model)
    except msgspec.ValidationError as e:
        raise ErrorAnswer(422, f"Failed to deserialize the JSON body into the target type: {e}") from None
    except msgspec.DecodeError as e:
        raise ErrorAnswer(400, f"Failed to parse the request body as JSON: {e}") from None
    problem = check_fields(parsed, config)
    if problem:
        raise bad_request(problem)
    return parsed


def pagination(request: Request) -> tuple[int, str | None]:
    raw = request.query_params.get("limit")
    limit = DEFAULT_PAGE
    if raw not in (None, ""):
        try:
            limit = int(raw)
        except ValueError:
            raise PlainError(
                f"Failed to deserialize query string: limit: invalid digit found in string {raw!r}"
            ) from None
        if limit < 0:
            raise PlainError("Failed to deserialize query string: limit: invalid digit found in string")
        if limit > MAX_U32:  # Arroyo's limit is a u32 (and SQLite's integers are 64-bit)
            raise PlainError(
                "Failed to deserialize query string: limit: number too large to fit in target type"
            )
        if limit == 0:
            raise bad_request("Limit must be greater than 0")
    after = request.query_params.get("starting_after") or None
    return limit, after


def page(data: list[Any], has_more: bool) -> dict[str, Any]:
    return {"data": data, "hasMore": has_more}


Handler = Callable[..., Any]


def endpoint(body: type | None = None) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a blocking handler ``fn(request, body)``: parse the body, run it off the loop.

    The handler returns a JSON-able object, a Response, or raises ErrorAnswer/PlainError.
    """

    def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                parsed: Any = None
                if body is None:
                    result = await run_in_threadpool(fn, request, parsed)
                else:
                    parsed = await read_body(request, body)
                    result = await _run_watching_client(request, fn, parsed)
            except ErrorAnswer as e:
                return e.response()
            except PlainError as e:
                return PlainTextResponse(e.message, status_code=400)
            except RecursionError:  # a deeply nested query or body: the user's input, not a bug
                return json_response(
                    {"error": "the input is nested too deeply to process; simplify the nesting"}, 400
                )
            except OverflowError as e:  # an integer beyond what SQLite or the engine holds
                return json_response({"error": f"a number is too large: {e}; use a smaller value"}, 400)
            except Exception:  # a bug: log it, answer like Arroyo's log_and_map
                log.exception("error in %s", fn.__name__)
                return json_response({"error": "Something went wrong"}, 500)
            return result if isinstance(result, Response) else json_response(result)

        run.__name__ = fn.__name__
        return run

    return wrap


async def _run_watching_client(request: Request, fn: Handler, parsed: Any) -> Any:
    """Run ``fn`` in the thread pool; if the client disconnects meanwhile, tell planning
    (``CLIENT_GONE``) so the work it asked for stops instead of running on for nobody."""
    gone = threading.Event()
    token = CLIENT_GONE.set(gone)
    try:
        work = asyncio.ensure_future(run_in_threadpool(fn, request, parsed))
    finally:
        CLIENT_GONE.reset(token)
    while True:
        done, _ = await asyncio.wait({work}, timeout=0.25)
        if done:
            return work.result()
        if not gone.is_set() and await request.is_disconnected():
            gone.set()


def empty_ok() -> Response:
    return Response(b"", status_code=200)
