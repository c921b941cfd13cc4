"""Arroyo's ``sse`` source: Server-Sent Events from ``endpoint`` (``headers``; ``events``:
the event types to keep, all when unset). The last event id is checkpointed and sent as
``Last-Event-ID`` when the stream is reopened (after a drop or a restore)."""

from __future__ import annotations

from typing import Any

import httpx

from ..catalog import TableDef
from .background import BackgroundSource, Unreachable, parse_headers
from .formats import ErrorSink


class SseSource(BackgroundSource):
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
        self.what = f"the SSE endpoint {self.endpoint}"
        self.headers = parse_headers(opts.get("headers"))
        self.events = {e.strip() for e in opts.get("events", "").split(",") if e.strip()}
        merged = {k: v for s in (all_states or [state]) for k, v in s.items()}
        super().__init__(table, index, batch_size, merged, on_error)

    def restore(self, state: dict[str, Any]) -> None:
        self.last_id: str | None = state.get("last_event_id")

    def connect_and_read(self, emit: Any) -> None:
        headers = {"Accept": "text/event-stream", **self.headers}
        if self.last_id:
            headers["Last-Event-ID"] = self.last_id
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(10.0, read=None)) as client,
                client.stream("GET", self.endpoint, headers=headers) as response,
            ):
                if response.status_code != 200:
                    raise Unreachable(f"{self.what} answered HTTP {response.status_code}")
                event, event_id = "message", None
                data: list[str] = []
                for line in response.iter_lines():
                    if self.stopping.is_set():
                        return
                    if line == "":  # dispatch
                        if data and (not self.events or event in self.events):
                            if event_id is not None:
                                self.last_id = event_id
                            emit("\n".join(data).encode())
                        event, data = "message", []
                        continue
                    name, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if name == "data":
                        data.append(value)
                    elif name == "event":
                        event = value or "message"
                    elif name == "id":
                        event_id = value
        except httpx.HTTPError as err:
            raise Unreachable(f"cannot read {self.what}: {err or type(err).__name__}") from None

    def snapshot(self) -> dict[str, Any]:
        return {"last_event_id": self.last_id} if self.last_id else {}


def test_connection(opts: dict[str, str]) -> list[str]:
    endpoint = opts["endpoint"]
    try:
        with (
            httpx.Client(timeout=5.0) as client,
            client.stream(
                "GET", endpoint, headers={"Accept": "text/event-stream", **parse_headers(opts.get("headers"))}
            ) as response,
        ):
            kind = response.headers.get("content-type", "")
            if response.status_code != 200:
                raise OSError(f"{endpoint} answered HTTP {response.status_code}")
            if "text/event-stream" not in kind:
                raise OSError(f"{endpoint} is not an event stream (content-type {kind or 'missing'})")
    except httpx.HTTPError as err:
        raise OSError(f"cannot connect to {endpoint}: {err or type(err).__name__}") from None
    return [f"Connected to {endpoint} (an event stream)"]
