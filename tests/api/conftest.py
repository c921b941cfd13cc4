"""Fixtures: a Prism mock of the official spec, and a scriptable local HTTP server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from .spec import SPEC_PATH

REPO = Path(__file__).resolve().parents[2]
PRISM = REPO / "node_modules" / ".bin" / "prism"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PrismServer:
    root: str  # Prism serves the spec's /v1/... paths at its root
    log: Path

    def violations(self) -> list[str]:
        return [line for line in self.log.read_text(errors="replace").splitlines() if "Violation" in line]


@pytest.fixture(scope="session")
def prism(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrismServer]:
    if not PRISM.exists() or shutil.which("node") is None:
        pytest.skip("Prism is not installed (npm ci)")
    port = free_port()
    log = tmp_path_factory.mktemp("prism") / "prism.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC_PATH)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so we can stop prism and the node processes it spawns
        )
    root = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(root + "/v1/ping", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Prism did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)
        yield PrismServer(root, log)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# --- a scriptable HTTP server ---------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[BaseHTTPRequestHandler, Seen], None]


def reply(
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes | str = b"",
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> None:
    data = body.encode() if isinstance(body, str) else body
    h.send_response(status)
    if content_type:
        h.send_header("Content-Type", content_type)
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


@dataclass
class FaultServer:
    """HTTP/1.1 on 127.0.0.1:<free port>; ``routes[(METHOD, path)] = handler``."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    fallback: Handler | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def json(self, method: str, path: str, status: int, body: Any) -> None:
        import json

        text = json.dumps(body)
        self.route(method, path, lambda h, _s: reply(h, status, text))

    def hits(self, method: str, path: str) -> int:
        return sum(1 for s in self.seen if s.method == method and s.path == path)


def _make_handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            seen = Seen(self.command, path, query, {k.lower(): v for k, v in self.headers.items()}, body)
            server.seen.append(seen)
            handler = server.routes.get((self.command, path)) or server.fallback
            try:
                if handler is None:
                    reply(self, 404, '{"error":"Route not found"}')
                else:
                    handler(self, seen)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    return H


@pytest.fixture
def server() -> Iterator[FaultServer]:
    fs = FaultServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(fs))
    httpd.daemon_threads = True
    fs.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fs
    finally:
        fs.stop_event.set()  # releases handlers that hold a stream open
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
