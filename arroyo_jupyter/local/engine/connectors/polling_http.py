"""Arroyo's ``polling_http`` source: requests ``endpoint`` every ``poll_interval_ms``
(default 1000) with ``method`` (GET), ``headers`` and ``body``; each response body is one
message. ``emit_behavior = 'changed'`` emits a body only when it differs from the last one
(the last body's hash is checkpointed)."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from ..catalog import TableDef
from .background import BackgroundSource, Unreachable, parse_headers
from .formats import ErrorSink


class PollingHttpSource(BackgroundSource):
    def __init__(
        self,
        table: TableDef,
        index: int,
        parallelism: int,
        batch_size: int,
        state: dict[str, Any],
        on_error: ErrorSink,
        all_states: list[dict[str, Any]] | None = None,
    ):
        opts = table.options
        self.endpoint = opts["endpoint"]
        self.what = f"the endpoint {self.endpoint}"
        self.method = opts.get("method", "GET").upper()
        self.headers = parse_headers(opts.get("headers"))
        self.body = opts.get("body")
        self.interval = int(opts.get("poll_interval_ms", "1000")) / 1000
        self.changed_only = opts.get("emit_behavior", "all") == "changed"
        self.client = httpx.Client(timeout=10.0)
        merged = {k: v for s in (all_states or [state]) for k, v in s.items()}
        super().__init__(table, index, batch_size, merged, on_error)

    def restore(self, state: dict[str, Any]) -> None:
        self.last_hash: str | None = state.get("last_hash")

    def connect_and_read(self, emit: Any) -> None:
        try:
            response = self.client.request(
                self.method, self.endpoint, headers=self.headers, content=self.body
            )
        except httpx.HTTPError as err:
            raise Unreachable(f"cannot reach {self.what}: {err or type(err).__name__}") from None
        if response.status_code >= 400:
            raise Unreachable(f"{self.what} answered HTTP {response.status_code}")
        digest = hashlib.sha256(response.content).hexdigest()
        if not (self.changed_only and digest == self.last_hash):
            emit(response.content)
        self.last_hash = digest
        self.stopping.wait(self.interval)

    def snapshot(self) -> dict[str, Any]:
        return {"last_hash": self.last_hash} if self.last_hash else {}

    def close(self) -> None:
        super().close()
        self.client.close()


def test_connection(opts: dict[str, str]) -> list[str]:
    endpoint = opts["endpoint"]
    try:
        response = httpx.request(
            opts.get("method", "GET").upper(),
            endpoint,
            headers=parse_headers(opts.get("headers")),
            content=opts.get("body"),
            timeout=5.0,
        )
    except httpx.HTTPError as err:
        raise OSError(f"cannot reach {endpoint}: {err or type(err).__name__}") from None
    if response.status_code >= 400:
        raise OSError(f"{endpoint} answered HTTP {response.status_code}")
    return [f"{endpoint} answered HTTP {response.status_code} ({len(response.content)} bytes)"]
