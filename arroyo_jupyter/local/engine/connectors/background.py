"""Sources fed by a client that blocks (an HTTP stream, a websocket, a subscription): a
thread runs the client and queues payloads; ``poll`` drains the queue into batches.

These connectors read on subtask 0 only (one connection, as Arroyo runs them); the other
subtasks finish at once. A connection that fails is retried with backoff; when it has
failed for ``GIVE_UP_S`` without a success, the job fails with what was tried and what to
check.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

import numpy as np
import pyarrow as pa

from ..catalog import TS, TableDef
from ..sources import OP_COL, SourceError, SourceSubtask, now_ns
from ..translate import TIME_COL
from .formats import BadData, Decoder, ErrorSink

GIVE_UP_S = 10.0  # a connection that cannot be (re)made for this long fails the job
_MAX_QUEUED = 100_000  # payloads waiting for poll(): the reader blocks beyond this (backpressure)


def parse_headers(text: str | None) -> dict[str, str]:
    """Arroyo's ``headers`` option: ``Name: value,Other: value``."""
    out = {}
    for item in (text or "").split(","):
        if ":" in item:
            name, _, value = item.partition(":")
            out[name.strip()] = value.strip()
    return out


class Unreachable(Exception):
    """One failed connection attempt; the message names the endpoint and the reason."""


class BackgroundSource(SourceSubtask):
    """Subclasses implement ``connect_and_read(emit)``: connect, then call ``emit(payload)``
    per message until ``self.stopping`` is set or the connection ends (raise Unreachable)."""

    what = "the server"  # for messages: "the SSE endpoint https://…"

    def __init__(
        self, table: TableDef, index: int, batch_size: int, state: dict[str, Any], on_error: ErrorSink
    ):
        self.table, self.batch_size, self.on_error = table, batch_size, on_error
        self.decoder = Decoder(table, on_error)
        self.queue: queue.Queue[bytes] = queue.Queue(_MAX_QUEUED)
        self.stopping = threading.Event()
        self._failure: str | None = None
        self._thread: threading.Thread | None = None
        self.restore(state)
        if index != 0:
            self.finished = True
            return
        self._thread = threading.Thread(
            target=self._run, name=f"arroyo-{table.connector}-reader", daemon=True
        )
        self._thread.start()

    def restore(self, state: dict[str, Any]) -> None:
        """Take what ``snapshot`` saved (e.g. the last event id)."""

    def connect_and_read(self, emit: Any) -> None:
        raise NotImplementedError

    def _emit(self, payload: bytes) -> None:
        while not self.stopping.is_set():
            try:
                self.queue.put(payload, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        failing_since: float | None = None
        delay = 0.1
        while not self.stopping.is_set():
            try:
                self.connect_and_read(self._connected_emit)
                if self.done_reading():
                    return
                failing_since, delay = None, 0.1
                self.stopping.wait(0.1)  # the server ended the stream: reopen it
            except Unreachable as err:
                now = time.monotonic()
                if self._had_success:  # it worked for a while: a new outage starts now
                    failing_since, delay, self._had_success = None, 0.1, False
                failing_since = failing_since if failing_since is not None else now
                if now - failing_since >= GIVE_UP_S:
                    self._failure = f"{err}; gave up after {GIVE_UP_S:.0f} s of retries. {self.check_hint()}"
                    return
                self.report_retry(str(err))
                self.stopping.wait(delay)
                delay = min(delay * 2, 2.0)

    def report_retry(self, message: str) -> None:
        """Each failed attempt goes to the job's error log once per outage."""
        if not self._reported:
            self._reported = True
            self.on_error(f"{message}; retrying", "")

    _reported = False
    _had_success = False

    def _connected_emit(self, payload: bytes) -> None:
        self._had_success, self._reported = True, False
        self._emit(payload)

    def done_reading(self) -> bool:
        """A finite stream (none of the HTTP sources are)."""
        return False

    def check_hint(self) -> str:
        return "Check that the endpoint is up and reachable from this machine."

    def next_due(self) -> float:
        return time.monotonic() + (0.0 if not self.queue.empty() else 0.05)

    def poll(self) -> pa.RecordBatch | None:
        if self._failure is not None and self.queue.empty():
            raise SourceError(self._failure)
        payloads: list[bytes | None] = []
        while len(payloads) < self.batch_size:
            try:
                payloads.append(self.queue.get_nowait())
            except queue.Empty:
                break
        if not payloads:
            return None
        try:
            batch, _, ops = self.decoder.decode(payloads, lambda i: f"a message from {self.what}")
        except BadData as err:
            raise SourceError(str(err)) from None
        if batch is None:
            return None
        return stamp_now(batch, ops, self.table)

    def close(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(5)


def stamp_now(batch: pa.RecordBatch, ops: list[str] | None, table: TableDef) -> pa.RecordBatch:
    """Add ``_timestamp`` (the event time field, else now) and ``__op`` for changelogs."""
    field = table.event_time_field
    if field is not None:
        ts = batch.column(field).cast(TS)
        if ts.null_count:
            ts = pa.array(
                np.where(
                    ts.is_null().to_numpy(zero_copy_only=False),
                    now_ns(),
                    ts.cast(pa.int64()).fill_null(0).to_numpy(),
                )
            ).cast(TS)
    else:
        ts = pa.array(np.full(batch.num_rows, now_ns(), dtype=np.int64)).cast(TS)
    columns, fields = [*batch.columns, ts], [*batch.schema, pa.field(TIME_COL, TS, False)]
    if ops is not None:
        columns.append(pa.array(ops, pa.string()))
        fields.append(pa.field(OP_COL, pa.string()))
    return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))
