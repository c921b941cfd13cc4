"""Live output fan-out: engine sink batches → every SSE subscriber of a job.

Each batch is encoded once into an ``OutputData`` JSON payload; subscribers only add
their own ``id:`` line. A subscriber's queue is bounded: when a slow client lets it fill,
new events are dropped for that client (the job never waits) and the drops are reported
through ``on_drops`` so the server can log them as a job warning.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from .rows_json import batch_json, encode

KEEPALIVE = b": keep-alive\n\n"


class Subscriber:
    """One SSE connection: a bounded queue filled by engine threads, drained by asyncio."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_events: int):
        self._loop = loop
        self._queue: deque[bytes] = deque()
        self._max_events = max_events
        self._wake = asyncio.Event()
        self._wake_pending = False
        self.closed = False
        self.dropped_rows = 0
        self.reported_drops = 0
        self._next_id = 0

    # engine side ---------------------------------------------------------------------
    def offer(self, payload: bytes, rows: int) -> None:
        if self.closed:
            return
        if len(self._queue) >= self._max_events:
            self.dropped_rows += rows
            return
        self._queue.append(payload)
        self._signal()

    def close(self) -> None:
        self.closed = True
        self._signal()

    def _signal(self) -> None:
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:  # the event loop is gone: the connection is over anyway
            pass

    # asyncio side --------------------------------------------------------------------
    async def chunks(self, keepalive_s: float, max_events_per_chunk: int = 1000) -> AsyncIterator[bytes]:
        """SSE bytes, many events per chunk; ends when the sink closes."""
        while True:
            self._wake_pending = False
            self._wake.clear()
            if self._queue:
                parts: list[bytes] = []
                for _ in range(min(len(self._queue), max_events_per_chunk)):
                    payload = self._queue.popleft()
                    parts.append(b"data: %s\nid: %d\n\n" % (payload, self._next_id))
                    self._next_id += 1
                yield b"".join(parts)
                continue
            if self.closed:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), keepalive_s)
            except asyncio.TimeoutError:
                yield KEEPALIVE


class OutputHub:
    """All subscribers of one job's preview sinks."""

    def __init__(self, on_drops: Callable[[int], None], max_events: int = 256, drop_report_s: float = 5.0):
        self._lock = threading.Lock()
        self._subs: set[Subscriber] = set()
        self._on_drops = on_drops
        self._max_events = max_events
        self._drop_report_s = drop_report_s
        self._last_report = 0.0
        self._accepting = False

    def open(self) -> None:
        """A run with live sinks started: subscriptions are accepted until the sinks close."""
        with self._lock:
            self._accepting = True

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> Subscriber:
        sub = Subscriber(loop, self._max_events)
        with self._lock:
            if self._accepting:
                self._subs.add(sub)
            else:
                sub.closed = True  # the sink already closed: the stream ends at once
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)
        sub.closed = True
        self._report(force=True, subs=[sub])

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subs)

    def publish(
        self, operator_id: str, subtask_idx: int, rows: Any, timestamps: list[int], start_id: int
    ) -> None:
        with self._lock:
            subs = list(self._subs)
        if not subs:
            return  # nobody listens: skip the encoding entirely
        payload = encode(
            {
                "operator_id": operator_id,
                "subtask_idx": subtask_idx,
                "timestamps": [max(0, int(t)) for t in timestamps],
                "start_id": start_id,
                "batch": batch_json(rows),
            }
        )
        n = rows.num_rows
        for sub in subs:
            sub.offer(payload, n)
        self._report(force=False, subs=subs)

    def close_all(self) -> None:
        """The sink closed (stop, finish, TTL): every open stream ends."""
        with self._lock:
            self._accepting = False
            subs = list(self._subs)
            self._subs.clear()
        for sub in subs:
            sub.close()
        self._report(force=True, subs=subs)

    def _report(self, force: bool, subs: list[Subscriber]) -> None:
        """Count drops not yet reported; tell the job at most every few seconds."""
        now = time.monotonic()
        if not force and now - self._last_report < self._drop_report_s:
            return
        new = 0
        for sub in subs:
            pending = sub.dropped_rows - sub.reported_drops
            if pending:
                sub.reported_drops += pending
                new += pending
        if new:
            self._last_report = now
            self._on_drops(new)
