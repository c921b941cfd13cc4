"""Live output fan-out: engine sink batches → every SSE subscriber of a job.

Each batch is encoded once into an ``OutputData`` JSON payload; subscribers only add
their own ``id:`` line. A subscriber's queue is bounded: when a slow client lets it fill,
new events are dropped for that client (the job never waits) and the drops are reported
through ``on_drops`` so the server can log them as a job warning.

Previews also keep their run's output from its first row in a :class:`ReplayBuffer`
(bounded in rows and bytes): a subscriber that connects late, even after the run ended,
gets it replayed first. Beyond Arroyo's wire format the stream may carry two named
events, which an ``EventSource`` listening for ``message`` never sees:

* ``event: replay_dropped`` ``{"dropped_rows": N, "max_rows": R, "max_bytes": B}``, first,
  when the replay buffer had to drop the oldest N rows before this subscriber came;
* ``event: run_end`` ``{"run_id": N, "state": "Stopping"}``, last, when the run's sinks
  closed; ``state`` is the job state that ended the run (Stopping, CheckpointStopping,
  Restarting, Rescaling, Finishing, Failing, Recovering, or a terminal state).
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


class _Raw(bytes):
    """An already framed named event (no ``id:``: the message ids stay contiguous)."""


def named_event(name: str, data: dict[str, Any]) -> _Raw:
    return _Raw(b"event: %s\ndata: %s\n\n" % (name.encode(), encode(data)))


class ReplayBuffer:
    """A run's encoded output events, oldest first; drops the oldest beyond its bounds."""

    def __init__(self, max_rows: int, max_bytes: int):
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._events: deque[tuple[bytes, int]] = deque()
        self.rows = 0
        self.bytes = 0
        self.dropped_rows = 0
        self.dropped_events = 0

    def add(self, payload: bytes, rows: int) -> None:
        self._events.append((payload, rows))
        self.rows += rows
        self.bytes += len(payload)
        while self._events and (self.rows > self.max_rows or self.bytes > self.max_bytes):
            old, n = self._events.popleft()
            self.rows -= n
            self.bytes -= len(old)
            self.dropped_rows += n
            self.dropped_events += 1

    def snapshot(self) -> list[bytes | _Raw]:
        """What a new subscriber gets first: the drop notice (if any), then every event kept."""
        out: list[bytes | _Raw] = []
        if self.dropped_rows:
            out.append(
                named_event(
                    "replay_dropped",
                    {
                        "dropped_rows": self.dropped_rows,
                        "max_rows": self.max_rows,
                        "max_bytes": self.max_bytes,
                    },
                )
            )
        out.extend(p for p, _ in self._events)
        return out


class Subscriber:
    """One SSE connection: a bounded queue filled by engine threads, drained by asyncio."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_events: int):
        self._loop = loop
        self._queue: deque[bytes] = deque()
        self._max_events = max_events
        self._replay_pending = 0  # replayed events still queued: they do not count against the bound
        self._wake = asyncio.Event()
        self._wake_pending = False
        self.closed = False
        self.dropped_rows = 0
        self.reported_drops = 0
        self._next_id = 0

    # engine side ---------------------------------------------------------------------
    def preload(self, items: list[bytes | _Raw]) -> None:
        """The replay, queued before any live event (the replay buffer bounds it)."""
        self._queue.extend(items)
        self._replay_pending += len(items)
        self._signal()

    def offer(self, payload: bytes, rows: int) -> None:
        if self.closed:
            return
        if len(self._queue) - self._replay_pending >= self._max_events:
            self.dropped_rows += rows
            return
        self._queue.append(payload)
        self._signal()

    def close(self, last: _Raw | None = None) -> None:
        if not self.closed and last is not None:
            self._queue.append(last)
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
                n = min(len(self._queue), max_events_per_chunk)
                for _ in range(n):
                    payload = self._queue.popleft()
                    if isinstance(payload, _Raw):
                        parts.append(payload)
                        continue
                    parts.append(b"data: %s\nid: %d\n\n" % (payload, self._next_id))
                    self._next_id += 1
                self._replay_pending = max(0, self._replay_pending - n)
                yield b"".join(parts)
                continue
            if self.closed:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), keepalive_s)
            except asyncio.TimeoutError:
                yield KEEPALIVE


class OutputHub:
    """All subscribers of one job's preview sinks.

    ``replay`` (max rows, max bytes) turns on the replay buffer (previews); without it
    the hub behaves as Arroyo: live data only, subscriptions only while a run is open.
    """

    def __init__(
        self,
        on_drops: Callable[[int], None],
        max_events: int = 256,
        drop_report_s: float = 5.0,
        replay: tuple[int, int] | None = None,
        on_replay_drops: Callable[[int], None] | None = None,
    ):
        self._lock = threading.Lock()
        self._subs: set[Subscriber] = set()
        self._waiting: set[Subscriber] = set()  # subscribed before the first run opened
        self._on_drops = on_drops
        self._on_replay_drops = on_replay_drops
        self._max_events = max_events
        self._drop_report_s = drop_report_s
        self._last_report = 0.0
        self._accepting = False
        self._replay_bounds = replay
        self._replay: ReplayBuffer | None = None
        self._end: _Raw | None = None  # the last run's run_end event
        self.run_id: int | None = None

    @property
    def has_replay(self) -> bool:
        """A run's output is kept (a late subscriber gets it replayed)."""
        return self._replay is not None

    def open(self, run_id: int | None = None) -> None:
        """A run with live sinks started: subscriptions are accepted until the sinks close."""
        with self._lock:
            self._accepting = True
            self.run_id = run_id
            self._end = None
            if self._replay_bounds is not None:
                self._replay = ReplayBuffer(*self._replay_bounds)
            self._subs |= self._waiting
            self._waiting.clear()

    def subscribe(self, loop: asyncio.AbstractEventLoop, wait_for_run: bool = False) -> Subscriber:
        """A new subscriber: the replay (if kept) then live rows; ``wait_for_run`` lets a
        subscriber that comes before the first run wait for it instead of ending at once."""
        sub = Subscriber(loop, self._max_events)
        with self._lock:
            if self._replay is not None:
                sub.preload(self._replay.snapshot())
            if self._accepting:
                self._subs.add(sub)
            elif self._replay is not None:
                sub.close(self._end)  # the run ended: its replay, then the end marker
            elif wait_for_run and self._end is None:  # nothing ended yet: the run is still to come
                self._waiting.add(sub)
            else:
                sub.closed = True  # the sink already closed: the stream ends at once
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)
            self._waiting.discard(sub)
        sub.closed = True
        self._report(force=True, subs=[sub])

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subs) + len(self._waiting)

    def publish(
        self, operator_id: str, subtask_idx: int, rows: Any, timestamps: list[int], start_id: int
    ) -> None:
        with self._lock:
            if not self._subs and self._replay is None:
                return  # nobody listens and nothing is kept: skip the encoding entirely
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
        with self._lock:  # buffer and fan-out together: a new subscriber sees each event once
            if self._replay is not None:
                self._replay.add(payload, n)
            subs = list(self._subs)
            for sub in subs:
                sub.offer(payload, n)
        self._report(force=False, subs=subs)

    def close_all(self, state: str | None = None) -> None:
        """The run's sinks closed (stop, finish, TTL, restart): every open stream ends,
        with a ``run_end`` event naming the job state that ended the run."""
        with self._lock:
            was_open = self._accepting
            self._accepting = False
            if was_open or self._end is None:
                self._end = named_event("run_end", {"run_id": self.run_id, "state": state})
            subs = list(self._subs | self._waiting)
            self._subs.clear()
            self._waiting.clear()
            replay_dropped = self._replay.dropped_rows if (was_open and self._replay) else 0
        for sub in subs:
            sub.close(self._end)
        self._report(force=True, subs=subs)
        if replay_dropped and self._on_replay_drops is not None:
            self._on_replay_drops(replay_dropped)

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
