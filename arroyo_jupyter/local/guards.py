"""What stands between the network and the routes: Host and Origin checks, body size.

Like Jupyter's server: a request whose ``Host`` is not one of the server's own names is
refused (DNS rebinding), and a browser request from a foreign ``Origin`` is refused before
any route runs (a page the user happens to visit must not drive a key-less server).
Bodies are bounded: a ``Content-Length`` over the limit is refused without reading the
body, and a chunked body is counted as it arrives (see ``http.read_body``).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from .config import ServerConfig

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
MAX_PATH_SEGMENT = 256


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    """``example.com:80`` → ``example.com``; ``[::1]:5115`` → ``::1``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _refuse(send: Send, status: int, message: str) -> None:
    body = ('{"error": "' + message.replace('"', "'") + '"}').encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Guard:
    """Host, Origin, path and Content-Length checks in front of the whole app."""

    def __init__(self, app: ASGIApp, config: ServerConfig, bound_host: str):
        self.app = app
        self.config = config
        self.bound_host = bound_host.lower()
        # Bound beyond loopback (only allowed with a key): any Host, as Jupyter's allow_remote_access
        self.any_host = config.allow_remote_access or not is_loopback(self.bound_host)
        self.hostnames = _LOOPBACK_NAMES | {h.lower() for h in config.local_hostnames} | {self.bound_host}
        self.origins = {o.rstrip("/").lower() for o in config.allowed_origins}

    def host_allowed(self, host_header: str) -> bool:
        return self.any_host or _hostname(host_header) in self.hostnames

    def origin_allowed(self, origin: str, host_header: str, scheme: str) -> bool:
        origin = origin.rstrip("/").lower()
        if "*" in self.origins or origin in self.origins:
            return True
        parts = urlsplit(origin)
        # the server's own origin (its console or API docs served from it)
        return (
            bool(parts.scheme) and f"{parts.scheme}://{parts.netloc}" == f"{scheme}://{host_header.lower()}"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.host_allowed(host):
            await _refuse(
                send,
                403,
                f"Host '{_hostname(host)}' is not a name of this server; "
                "use localhost or 127.0.0.1, or add the name to the server's local_hostnames",
            )
            return
        origin = headers.get(b"origin")
        if origin is not None and not self.origin_allowed(
            origin.decode("latin-1"), host, scope.get("scheme", "http")
        ):
            await _refuse(
                send,
                403,
                f"requests from origin {origin.decode('latin-1')} are not allowed; "
                "add it to the server's allowed_origins (--allowed-origins) to call this server from that page",
            )
            return
        path = scope.get("path", "")
        if "\x00" in path or any(len(seg) > MAX_PATH_SEGMENT for seg in path.split("/")):
            await _refuse(
                send, 400, f"invalid path: segments must be at most {MAX_PATH_SEGMENT} characters, no NUL"
            )
            return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                await _refuse(send, 400, "invalid Content-Length")
                return
            if size > self.config.max_body_bytes:
                await _refuse(send, 413, body_too_large(self.config.max_body_bytes))
                return
        await self.app(scope, receive, send)


def body_too_large(limit: int) -> str:
    return (
        f"request body too large (limit {limit // (1024 * 1024)} MiB); "
        "send less, or raise the server's max_body_bytes"
    )
