"""Server-Sent Events on raw bytes, and Arroyo's output events decoded from them.

The splitter works on whatever byte chunks the network gives (``\\n``, ``\\r\\n`` or
``\\r`` line ends, comments, multi-line ``data``, ``id``/``event`` fields) and keeps
only the unfinished event between chunks, so memory stays bounded. Payloads are
decoded with msgspec; ``batch`` (a JSON array inside a JSON string) is decoded again.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from .errors import StreamError
from .models import OutputData, TestSourceMessage, micros_to_datetime

__all__ = [
    "GapTracker",
    "OutputEvent",
    "SSEEvent",
    "SSEParser",
    "decode_output_events",
    "decode_output_region",
    "parse_test_messages",
]

_NL2 = b"\n\n"


class SSEEvent(NamedTuple):
    data: bytes  # the data lines joined with "\n"
    id: str | None  # the last event id seen (SSE semantics: it persists)
    event: str | None  # the event type; None means the default "message"


def _last_blank_line(chunk: bytes) -> int:
    """Index of the last "\n\n" in chunk, or -1.

    Walks back over single newlines (memrchr-fast) instead of a two-byte search over
    the whole chunk: a big event's data line holds no newline at all.
    """
    p = chunk.rfind(b"\n")
    while p > 0:
        if chunk[p - 1] == 10:
            return p - 1
        p = chunk.rfind(b"\n", 0, p - 1)
    return -1


class SSEParser:
    """Incremental SSE splitter: ``feed(chunk)`` returns the events it completes.

    Only each new chunk is scanned (line ends normalised, boundaries searched), and an
    unfinished event is kept as a list of pieces, so a large event spread over many
    chunks costs one join, not a copy per chunk.
    """

    __slots__ = ("_cr", "_parts", "last_id")

    def __init__(self) -> None:
        self._parts: list[bytes] = []  # the unfinished event, line ends already "\n"
        self._cr = False  # the previous chunk ended in "\r": maybe half of "\r\n"
        self.last_id: str | None = None

    @property
    def pending(self) -> bool:
        """True if an event has started but not ended (a cut stream loses it)."""
        for line in b"".join(self._parts).split(b"\n"):
            if line and not line.startswith(b":"):
                return True
        return False

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        complete = self.take(chunk)
        return [] if complete is None else self._events(complete)

    def take(self, chunk: bytes) -> bytes | None:
        """Add a chunk; return the region of whole events it completes (no trailing blank line)."""
        if self._cr:
            chunk = b"\r" + chunk
            self._cr = False
        if b"\r" in chunk:
            # "\r\n" and a lone "\r" both end a line; a final "\r" may be half of "\r\n".
            if chunk.endswith(b"\r"):
                self._cr = True
                chunk = chunk[:-1]
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if not chunk:
            return None
        parts = self._parts
        end = _last_blank_line(chunk)
        if end >= 0:
            complete = b"".join(parts) + chunk[:end] if parts else chunk[:end]
            rest = chunk[end + 2 :]
        elif parts and chunk[0] == 10 and parts[-1].endswith(b"\n"):  # "\n" | "\n" across chunks
            complete = b"".join(parts)[:-1]
            rest = chunk[1:]
        else:
            parts.append(chunk)
            return None
        self._parts = [rest] if rest else []
        return complete

    def finish(self) -> list[SSEEvent]:
        """At the end of the stream: a held final ``\r`` was a line end after all."""
        complete = self.finish_region()
        return [] if complete is None else self._events(complete)

    def finish_region(self) -> bytes | None:
        if not self._cr:
            return None
        self._cr = False
        return self.take(b"\n")

    def _events(self, complete: bytes) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        append = out.append
        for block in complete.split(_NL2):
            # Fast path for Arroyo's own shape: "data: <json>\nid: <n>".
            if block[:6] == b"data: ":
                nl = block.find(b"\n")
                if nl < 0:
                    append(SSEEvent(block[6:], self.last_id, None))
                    continue
                if block[nl + 1 : nl + 5] == b"id: " and block.find(b"\n", nl + 1) < 0:
                    tail = block[nl + 5 :]
                    if b"\0" not in tail:
                        self.last_id = tail.decode("utf-8", errors="replace")
                    append(SSEEvent(block[6:nl], self.last_id, None))
                    continue
            data: list[bytes] | None = None
            event: str | None = None
            for line in block.split(b"\n"):
                if not line or line[0] == 58:  # blank, or ":" comment
                    continue
                name, _, value = line.partition(b":")
                if value[:1] == b" ":
                    value = value[1:]
                if name == b"data":
                    if data is None:
                        data = [value]
                    else:
                        data.append(value)
                elif name == b"id":
                    if b"\0" not in value:
                        self.last_id = value.decode("utf-8", errors="replace")
                elif name == b"event":
                    event = value.decode("utf-8", errors="replace")
                # "retry" and unknown fields are ignored, as the SSE spec says
            if data is not None:
                append(SSEEvent(data[0] if len(data) == 1 else b"\n".join(data), self.last_id, event))
        return out


class OutputEvent(msgspec.Struct, gc=False):
    """One batch of rows from a job's preview sink, decoded.

    ``rows[i]`` has row id ``start_id + i`` and event time ``timestamps[i]`` (µs).
    ``gap`` is how many rows went missing just before this event (0 normally;
    Arroyo drops batches for slow readers).
    """

    id: str | None
    operator_id: str
    subtask_idx: int
    start_id: int
    timestamps: list[int]
    rows: list[Any]
    gap: int = 0

    @property
    def timestamps_dt(self) -> list[datetime | None]:
        return [micros_to_datetime(t) for t in self.timestamps]

    @property
    def row_ids(self) -> range:
        return range(self.start_id, self.start_id + len(self.rows))


class GapTracker:
    """Follows ``start_id`` per (operator, subtask) and records holes in it.

    Keeps the last ``keep`` gaps (bounded memory); ``count`` and ``missing_rows``
    cover all of them.
    """

    __slots__ = ("_next", "count", "gaps", "missing_rows")

    def __init__(self, keep: int = 1000) -> None:
        self._next: dict[tuple[str, int], int] = {}
        self.gaps: deque[tuple[int, int]] = deque(maxlen=keep)
        self.count = 0
        self.missing_rows = 0

    def record(self, expected: int, got: int) -> int:
        """Note a hole: rows ``expected`` … ``got - 1`` never arrived."""
        self.gaps.append((expected, got))
        self.count += 1
        self.missing_rows += got - expected
        return got - expected

    def observe(self, operator_id: str, subtask_idx: int, start_id: int, n_rows: int) -> int:
        key = (operator_id, subtask_idx)
        expected = self._next.get(key)
        self._next[key] = start_id + n_rows
        if expected is None or start_id <= expected:
            return 0  # first event of this sink subtask, or in order / restarted
        return self.record(expected, start_id)


_decode_output = msgspec.json.Decoder(OutputData).decode
_decode_rows = msgspec.json.Decoder(list[Any]).decode


def decode_output_events(events: list[SSEEvent], gaps: GapTracker) -> list[OutputEvent]:
    """SSE events → OutputEvents (rows decoded, gaps noted); other event types skipped."""
    out: list[OutputEvent] = []
    for ev in events:
        if ev.event is not None and ev.event != "message":
            continue
        try:
            wire = _decode_output(ev.data)
            rows = _decode_rows(wire.batch)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise StreamError(f"malformed output event (id {ev.id}): {exc}") from None
        gap = gaps.observe(wire.operator_id, wire.subtask_idx, wire.start_id, len(rows))
        out.append(
            OutputEvent(ev.id, wire.operator_id, wire.subtask_idx, wire.start_id, wire.timestamps, rows, gap)
        )
    return out


_decode_outputs = msgspec.json.Decoder(list[OutputData]).decode
_decode_row_lists = msgspec.json.Decoder(list[list[Any]]).decode


def decode_output_region(
    parser: SSEParser, complete: bytes | None, gaps: GapTracker, named: list[SSEEvent] | None = None
) -> list[OutputEvent]:
    """The hot path: a region of whole SSE events → OutputEvents, decoded in bulk.

    Arroyo's events ("data: <json>\nid: <n>") take a fast path; anything else goes
    through the general parser. All payloads of the region are decoded with one msgspec
    call, and all their ``batch`` strings with another. Named events (not ``message``)
    are appended to ``named`` when given (the embedded server's ``run_end`` and
    ``replay_dropped``), and skipped otherwise.
    """
    if complete is None:
        return []
    datas: list[bytes] = []
    ids: list[str | None] = []
    for block in complete.split(_NL2):
        if block[:6] == b"data: ":
            nl = block.find(b"\n")
            if nl < 0:
                datas.append(block[6:])
                ids.append(parser.last_id)
                continue
            if block[nl + 1 : nl + 5] == b"id: " and block.find(b"\n", nl + 1) < 0:
                tail = block[nl + 5 :]
                if b"\0" not in tail:
                    parser.last_id = tail.decode("utf-8", errors="replace")
                datas.append(block[6:nl])
                ids.append(parser.last_id)
                continue
        for ev in parser._events(block):
            if ev.event is None or ev.event == "message":
                datas.append(ev.data)
                ids.append(ev.id)
            elif named is not None:
                named.append(ev)
    if not datas:
        return []
    wires, row_lists = _decode_bulk(datas, ids)
    out: list[OutputEvent] = []
    append = out.append
    expected_next = gaps._next
    for eid, wire, rows in zip(ids, wires, row_lists, strict=True):
        key = (wire.operator_id, wire.subtask_idx)
        start = wire.start_id
        expected = expected_next.get(key)
        expected_next[key] = start + len(rows)
        gap = 0 if expected is None or start <= expected else gaps.record(expected, start)
        append(OutputEvent(eid, wire.operator_id, wire.subtask_idx, start, wire.timestamps, rows, gap))
    return out


def _decode_bulk(datas: list[bytes], ids: list[str | None]) -> tuple[list[OutputData], list[list[Any]]]:
    try:
        wires = _decode_outputs(b"[" + b",".join(datas) + b"]")
        if len(wires) == len(datas):
            row_lists = _decode_row_lists("[" + ",".join([w.batch for w in wires]) + "]")
            if len(row_lists) == len(wires):
                return wires, row_lists
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    # Something is malformed (or payloads do not split as they should): one by one,
    # so the error names the event.
    wires, row_lists = [], []
    for eid, data in zip(ids, datas, strict=True):
        try:
            wire = _decode_output(data)
            rows = _decode_rows(wire.batch)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise StreamError(f"malformed output event (id {eid}): {exc}") from None
        wires.append(wire)
        row_lists.append(rows)
    return wires, row_lists


_decode_test_message = msgspec.json.Decoder(TestSourceMessage).decode


def parse_test_messages(content: bytes) -> list[TestSourceMessage]:
    """A whole ``connection_tables/test`` answer (SSE of TestSourceMessage) decoded."""
    parser = SSEParser()
    events = parser.feed(content + b"\n\n")  # the body's end also ends its last event
    return [_decode_test_message(ev.data) for ev in events if ev.data.strip()]
