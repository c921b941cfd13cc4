"""HTTP plumbing shared by the route modules: errors, JSON bodies, pagination."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

T = TypeVar("T")
log = logging.getLogger(__name__)
DEFAULT_PAGE = 10


class ApiError(Exception):
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


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


_encoder = msgspec.json.Encoder()


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(obj), status_code=status, media_type="application/json")


async def read_body(request: Request, model: type[T]) -> T:
    """Decode a JSON body into ``model`` with axum's statuses: 415, 400 (syntax), 422 (shape)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.split(";")[0].strip().lower().endswith("json"):
        raise ApiError(415, "Expected request with `Content-Type: application/json`")
    raw = await request.body()
    try:
        return msgspec.json.decode(raw, type=model)
    except msgspec.ValidationError as e:
        raise ApiError(422, f"Failed to deserialize the JSON body into the target type: {e}") from None
    except msgspec.DecodeError as e:
        raise ApiError(400, f"Failed to parse the request body as JSON: {e}") from None


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
        if limit == 0:
            raise bad_request("Limit must be greater than 0")
    after = request.query_params.get("starting_after") or None
    return limit, after


def page(data: list[Any], has_more: bool) -> dict[str, Any]:
    return {"data": data, "hasMore": has_more}


Handler = Callable[..., Any]


def endpoint(body: type | None = None) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap a blocking handler ``fn(request, body)``: parse the body, run it off the loop.

    The handler returns a JSON-able object, a Response, or raises ApiError/PlainError.
    """

    def wrap(fn: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                parsed: Any = None
                if body is not None:
                    parsed = await read_body(request, body)
                result = await run_in_threadpool(fn, request, parsed)
            except ApiError as e:
                return e.response()
            except PlainError as e:
                return PlainTextResponse(e.message, status_code=400)
            except Exception:  # a bug: log it, answer like Arroyo's log_and_map
                log.exception("error in %s", fn.__name__)
                return json_response({"error": "Something went wrong"}, 500)
            return result if isinstance(result, Response) else json_response(result)

        run.__name__ = fn.__name__
        return run

    return wrap


def empty_ok() -> Response:
    return Response(b"", status_code=200)
