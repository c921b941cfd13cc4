"""The ASGI application: Arroyo's routes under /api/v1, bearer auth, guards, fallbacks."""

from __future__ import annotations

import hmac
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import routes_catalog, routes_jobs, routes_pipelines
from .context import Context
from .guards import Guard
from .http import json_response

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
_INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>arroyo_jupyter embedded server</title></head>
<body><h1>arroyo_jupyter embedded Arroyo server</h1>
<p>This serves Arroyo's REST API under <a href="/api/v1/ping"><code>/api/v1</code></a>;
its OpenAPI spec is at <a href="/api/v1/api-docs/openapi.json"><code>/api/v1/api-docs/openapi.json</code></a>.</p>
</body></html>
"""


class BearerAuth:
    """Every request needs ``Authorization: Bearer KEY`` when a key is set: else 401, empty."""

    def __init__(self, app: ASGIApp, api_key: str):
        self.app = app
        self._expected = f"Bearer {api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                await send(
                    {"type": "http.response.start", "status": 401, "headers": [(b"content-length", b"0")]}
                )
                await send({"type": "http.response.body", "body": b""})
                return
        await self.app(scope, receive, send)


@lru_cache(maxsize=1)
def openapi_spec() -> bytes:
    return OPENAPI_PATH.read_bytes()


async def ping(request: Request) -> Response:
    return json_response("Pong")


async def openapi(request: Request) -> Response:
    return Response(openapi_spec(), media_type="application/json")


async def api_not_found(request: Request) -> Response:
    return json_response({"error": "Route not found"}, 404)


async def outside_api(request: Request) -> Response:
    """Like Arroyo's console handler: pages (no ``.`` in the path) get HTML 200."""
    if "." in request.url.path.rsplit("/", 1)[-1]:
        return Response(b"404", status_code=404, media_type="text/plain")
    return HTMLResponse(_INDEX)


def create_app(context: Context, bound_host: str = "127.0.0.1") -> ASGIApp:
    api_routes: list[Any] = [
        Route("/ping", ping, methods=["GET"]),
        Route("/api-docs/openapi.json", openapi, methods=["GET"]),
        *routes_pipelines.ROUTES,
        *routes_jobs.ROUTES,
        *routes_catalog.ROUTES,
        Route("/{rest:path}", api_not_found, methods=_ALL_METHODS),
    ]
    app = Starlette(
        routes=[
            Mount("/api/v1", routes=api_routes),
            Route("/{rest:path}", outside_api, methods=_ALL_METHODS),
        ]
    )
    app.state.ctx = context
    config = context.config
    secured: ASGIApp = BearerAuth(app, config.api_key) if config.api_key else app
    # Only the allow-listed origins get CORS headers (the server's own need none); preflights
    # need no key. Foreign origins never reach this far: Guard refuses them.
    cors = CORSMiddleware(
        secured, allow_origins=list(config.allowed_origins), allow_methods=["*"], allow_headers=["*"]
    )
    return Guard(cors, config, bound_host)


def load_spec() -> dict[str, Any]:
    return json.loads(openapi_spec())
