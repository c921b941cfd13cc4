"""The live output of a job (``GET …/output``) as iterators of OutputEvent.

``OutputStream`` (sync) and ``AsyncOutputStream`` share the SSE splitter and decoder;
they differ only in how bytes arrive. Both end cleanly when the server ends the
stream, raise StreamError if it is cut mid-event, and can be closed from another
thread or task: ``close()`` shuts the socket down so a blocked read wakes at once.

The server sends a keep-alive comment on an idle stream (every 15 s on Arroyo and the
embedded server), so a stream that brings no byte for ``read_timeout`` seconds (default
:data:`~arroyo_jupyter.api._config.STREAM_READ_TIMEOUT`, a few keep-alive periods) is
dead or stuck: the iterator raises StreamError instead of blocking forever.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import msgspec

from ._config import STREAM_READ_TIMEOUT
from .errors import StreamError
from .models import ReplayDropped, RunEnd
from .sse import GapTracker, OutputEvent, SSEEvent, SSEParser, decode_output_region

__all__ = ["AsyncOutputStream", "OutputStream"]


class _StreamState:
    """What both stream flavours keep: parser, gap tracker, counters, pending events."""

    def __init__(self, response: httpx.Response, label: str, read_timeout: float | None = None) -> None:
        self._response = response
        self._label = label
        # seconds without a byte before the stream counts as dead; None/0: wait forever
        self.read_timeout = STREAM_READ_TIMEOUT if read_timeout is None else read_timeout
        self._timed_out = False
        self._parser = SSEParser()
        self._gap_tracker = GapTracker()
        self._pending: deque[OutputEvent] = deque()
        self._closed = False
        self._ended = False
        self._lock = threading.Lock()
        self.rows_received = 0
        self.events_received = 0
        # the embedded server's named events (Arroyo sends none): why the run ended, and
        # how many of a preview's oldest rows its replay buffer no longer had
        self.run_end: RunEnd | None = None
        self.replay_dropped_rows = 0
        self._named: list[SSEEvent] = []

    @property
    def gaps(self) -> list[tuple[int, int]]:
        """(expected_start_id, got_start_id) of the most recent gaps (at most 1000)."""
        return list(self._gap_tracker.gaps)

    @property
    def missing_rows(self) -> int:
        """Rows lost so far: in gaps of ``start_id``, and before the stream connected
        (a preview's oldest rows the server no longer kept)."""
        return self._gap_tracker.missing_rows + self.replay_dropped_rows

    @property
    def closed(self) -> bool:
        return self._closed or self._ended

    def _take(self, chunk: bytes) -> None:
        events = decode_output_region(self._parser, self._parser.take(chunk), self._gap_tracker, self._named)
        if self._named:
            self._read_named()
        if events:
            self.rows_received += sum(map(len, [ev.rows for ev in events]))
            self.events_received += len(events)
            self._pending.extend(events)

    def _read_named(self) -> None:
        for ev in self._named:
            try:
                if ev.event == "run_end":
                    self.run_end = msgspec.json.decode(ev.data, type=RunEnd)
                elif ev.event == "replay_dropped":
                    self.replay_dropped_rows += msgspec.json.decode(ev.data, type=ReplayDropped).dropped_rows
            except (msgspec.DecodeError, msgspec.ValidationError):
                pass  # an event this client does not understand is ignored, as SSE says
        self._named.clear()

    def _check_end(self) -> None:
        """At the end of the body: a half-received event means the stream was cut."""
        self._ended = True
        self._pending.extend(
            decode_output_region(self._parser, self._parser.finish_region(), self._gap_tracker, self._named)
        )
        self._read_named()
        if self._parser.pending:
            raise StreamError(f"output stream of {self._label} was cut in the middle of an event")

    def _cut(self, exc: Exception) -> StreamError:
        self._ended = True
        if self._timed_out:
            return self._silent()
        return StreamError(f"output stream of {self._label} was cut: {type(exc).__name__}: {exc}")

    def _silent(self) -> StreamError:
        self._ended = True
        return StreamError(
            f"output stream of {self._label} sent nothing for {self.read_timeout:g} s, not even a "
            "keep-alive: the server or the connection is gone; open the stream again "
            "(or raise read_timeout)"
        )

    def _shutdown_socket(self) -> None:
        # Wakes a read blocked in another thread (or the event loop) right away.
        stream = self._response.extensions.get("network_stream")
        sock = getattr(stream, "get_extra_info", lambda _name: None)("socket") if stream else None
        if sock is not None and hasattr(sock, "shutdown"):  # asyncio gives a TransportSocket
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (
            f"<{type(self).__name__} {self._label} {state}: {self.rows_received} rows, "
            f"{len(self._gap_tracker.gaps)} gaps>"
        )


class OutputStream(_StreamState):
    """Iterator and context manager of OutputEvent; ``close()`` works from any thread."""

    def __init__(self, response: httpx.Response, label: str, read_timeout: float | None = None) -> None:
        super().__init__(response, label, read_timeout)
        self._chunks: Iterator[bytes] = response.iter_bytes()
        self._reading = False
        self._last_byte = time.monotonic()
        self._watchdog: threading.Thread | None = None

    def _watch(self) -> None:
        """Shut the socket down when a read has waited longer than read_timeout."""
        while not (self._closed or self._ended):
            timeout = self.read_timeout
            if not timeout:
                return
            idle = time.monotonic() - self._last_byte
            if self._reading and idle >= timeout:
                self._timed_out = True
                self._shutdown_socket()
                return
            time.sleep(min(1.0, max(0.01, timeout - idle if self._reading else timeout / 4)))

    def _arm(self) -> None:
        if self.read_timeout and self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch, name="arroyo-stream-watchdog", daemon=True)
            self._watchdog.start()

    def __iter__(self) -> OutputStream:
        return self

    def __next__(self) -> OutputEvent:
        while not self._pending:
            if self._closed or self._ended:
                self._release()
                raise StopIteration
            self._last_byte = time.monotonic()
            self._reading = True
            self._arm()
            try:
                chunk = next(self._chunks)
            except StopIteration:
                self._release()
                if self._timed_out:
                    raise self._silent() from None
                if not self._closed:
                    self._check_end()
                raise
            except (httpx.TransportError, httpx.StreamError) as exc:
                self._release()
                if self._closed:
                    raise StopIteration from None
                raise self._cut(exc) from None
            finally:
                self._reading = False
            self._last_byte = time.monotonic()
            self._take(chunk)
        return self._pending.popleft()

    def iter_rows(self) -> Iterator[dict[str, Any]]:
        """Just the rows, across events."""
        for event in self:
            yield from event.rows

    def close(self) -> None:
        """Stop the stream. Safe from another thread while one is iterating."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pending.clear()
        if self._reading:
            self._shutdown_socket()  # the reading thread wakes up and releases
        else:
            self._release()

    def _release(self) -> None:
        try:
            self._response.close()
        except Exception:  # closing must never fail the caller
            pass

    def __enter__(self) -> OutputStream:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if not self._closed and not self._ended:
            self.close()


class AsyncOutputStream(_StreamState):
    """Async iterator and context manager of OutputEvent.

    Stop it with ``await aclose()``, with ``close()`` from another task or thread, or
    by cancelling the consuming task.
    """

    def __init__(self, response: httpx.Response, label: str, read_timeout: float | None = None) -> None:
        super().__init__(response, label, read_timeout)
        self._chunks: AsyncIterator[bytes] = response.aiter_bytes()
        self._reading = False

    def __aiter__(self) -> AsyncOutputStream:
        return self

    async def __anext__(self) -> OutputEvent:
        while not self._pending:
            if self._closed or self._ended:
                await self._release()
                raise StopAsyncIteration
            self._reading = True
            try:
                if self.read_timeout:
                    chunk = await asyncio.wait_for(self._chunks.__anext__(), self.read_timeout)
                else:
                    chunk = await self._chunks.__anext__()
            except asyncio.TimeoutError:
                self._timed_out = True
                self._closed = True
                await self._release()
                raise self._silent() from None
            except StopAsyncIteration:
                await self._release()
                if not self._closed:
                    self._check_end()
                raise
            except (httpx.TransportError, httpx.StreamError) as exc:
                await self._release()
                if self._closed:
                    raise StopAsyncIteration from None
                raise self._cut(exc) from None
            except BaseException:  # cancelled: leave no connection behind
                self._closed = True
                await self._release()
                raise
            finally:
                self._reading = False
            self._take(chunk)
        return self._pending.popleft()

    async def iter_rows(self) -> AsyncIterator[dict[str, Any]]:
        async for event in self:
            for row in event.rows:
                yield row

    def close(self) -> None:
        """Stop the stream from another task or thread (the reader ends cleanly)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pending.clear()
        self._shutdown_socket()

    async def aclose(self) -> None:
        self.close()
        if not self._reading:
            await self._release()

    async def _release(self) -> None:
        try:
            await self._response.aclose()
        except Exception:
            pass

    async def __aenter__(self) -> AsyncOutputStream:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()
