"""The kernel side of the live output table, without any widget: a bounded buffer.

The stream's reader thread calls ``add(event)``; the widget's flush loop calls
``take_delta()`` (rows not yet sent to the browser, coalesced when the browser falls
behind) and ``snapshot()``; ``frame()`` serves ``to_pandas``. Everything is under one lock
and every buffer is bounded.

Wire format of a sink's payload (compact columnar JSON, sent as a binary buffer)::

    {"sink", "mode": "append"|"changelog", "columns": [...], "ids": [...], "ts": [...µs],
     "cols": [[values of column 0], ...],             # rows to append / upsert
     "keys": [...], "deletes": [...]}                 # changelog mode only
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pandas as pd

from ..api.output_frame import columns_of, output_frame

APPEND, CHANGELOG = "append", "changelog"
MODES = ("auto", APPEND, CHANGELOG)
_DEBEZIUM_FIELDS = {"before", "after", "op"}
_encode = msgspec.json.Encoder(order="sorted")


def looks_like_debezium(rows: Sequence[Any]) -> bool:
    """Arroyo's updating queries emit ``{"before", "after", "op": c|u|d}`` records."""
    if not rows:
        return False
    first = rows[0]
    return (
        isinstance(first, dict)
        and _DEBEZIUM_FIELDS <= set(first)
        and set(first) <= _DEBEZIUM_FIELDS | {"ts_ms", "source", "transaction"}
        and first.get("op") in ("c", "u", "d", "r")
    )


@dataclass
class _Chunk:
    """Rows of one event: ids are ``start_id + i``."""

    start_id: int
    timestamps: list[int]
    rows: list[dict]

    def __len__(self) -> int:
        return len(self.rows)

    def tail(self, n: int) -> _Chunk:
        k = len(self.rows) - n
        return _Chunk(self.start_id + k, self.timestamps[k:], self.rows[k:])


class _Chunks:
    """A deque of chunks holding at most ``limit`` rows (oldest dropped first)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: deque[_Chunk] = deque()
        self.n = 0

    def append(self, chunk: _Chunk) -> int:
        """Add a chunk; returns how many old rows were dropped to stay bounded."""
        if len(chunk) > self.limit:
            dropped = len(chunk) - self.limit
            chunk = chunk.tail(self.limit)
        else:
            dropped = 0
        self.chunks.append(chunk)
        self.n += len(chunk)
        while self.n > self.limit:
            head = self.chunks[0]
            excess = self.n - self.limit
            if len(head) <= excess:
                self.chunks.popleft()
                self.n -= len(head)
                dropped += len(head)
            else:
                self.chunks[0] = head.tail(len(head) - excess)
                self.n -= excess
                dropped += excess
        return dropped

    def take(self) -> list[_Chunk]:
        out = list(self.chunks)
        self.chunks.clear()
        self.n = 0
        return out

    def latest(self, n: int) -> list[_Chunk]:
        out: list[_Chunk] = []
        need = n
        for chunk in reversed(self.chunks):
            if need <= 0:
                break
            out.append(chunk if len(chunk) <= need else chunk.tail(need))
            need -= len(chunk)
        return out[::-1]

    def rows(self) -> Iterable[tuple[int, int, dict]]:
        return self.rows_of(self.chunks)

    @staticmethod
    def rows_of(chunks: Iterable[_Chunk]) -> Iterable[tuple[int, int, dict]]:
        for c in chunks:
            for i, (ts, row) in enumerate(zip(c.timestamps, c.rows, strict=False)):
                yield c.start_id + i, ts, row


@dataclass
class SinkState:
    name: str
    mode: str | None  # None until the first rows decide (auto)
    key: tuple[str, ...] | None
    max_rows: int
    max_pending: int
    columns: list[str] = field(default_factory=list)
    total: int = 0  # rows received
    skipped: int = 0  # rows never sent to the browser (coalesced away)
    lost: int = 0  # rows the server dropped (gaps in start_id)
    rate: float = 0.0
    # rows the browser has been told about (sent, or counted as skipped) as of the last
    # delta or reset: the view's "received" is this, so received = shown + skipped holds
    accounted: int = 0
    ops: dict[str, int] = field(default_factory=lambda: {"c": 0, "u": 0, "d": 0})

    def __post_init__(self) -> None:
        self.kept = _Chunks(self.max_rows)  # append mode: the rows for to_pandas
        self.pending = _Chunks(self.max_pending)  # append mode: not yet sent
        self.changes = _Chunks(self.max_rows)  # changelog mode: raw c/u/d records
        self.final: dict[str, tuple[int, int, dict]] = {}  # changelog mode: current result
        self.pending_upserts: dict[str, tuple[int, int, dict]] = {}
        self.pending_deletes: set[str] = set()
        self._samples: deque[tuple[float, int]] = deque(maxlen=8)
        self.bytes_per_row = 100.0  # learnt from what was encoded; sizes deltas to a byte budget

    def _learn_columns(self, rows: Sequence[dict]) -> None:
        # Every row counts: a key first seen in the middle of a batch is a column too.
        if len(self.columns) != len(learned := columns_of(rows, self.columns)):
            self.columns[:] = learned

    def key_of(self, row: dict) -> str:
        if self.key:
            return _encode.encode([row.get(k) for k in self.key]).decode()
        return _encode.encode(row).decode()

    def add(self, start_id: int, timestamps: list[int], rows: list[dict]) -> None:
        self.total += len(rows)
        if self.mode is None:
            self.mode = CHANGELOG if looks_like_debezium(rows) else APPEND
        if self.mode == APPEND:
            self._learn_columns(rows)
            chunk = _Chunk(start_id, list(timestamps), rows)
            self.kept.append(chunk)
            self.skipped += self.pending.append(chunk)
            return
        self.changes.append(_Chunk(start_id, list(timestamps), rows))
        ops = self.ops
        for i, rec in enumerate(rows):
            op, before, after = rec.get("op"), rec.get("before"), rec.get("after")
            kind = "c" if op == "r" else str(op)
            ops[kind] = ops.get(kind, 0) + 1
            ts = timestamps[i] if i < len(timestamps) else 0
            if before is not None and op in ("u", "d"):
                k = self.key_of(before)
                if self.final.pop(k, None) is not None or k in self.pending_upserts:
                    self.pending_upserts.pop(k, None)
                    self.pending_deletes.add(k)
            if after is not None and op in ("c", "u", "r"):
                self._learn_columns([after])
                k = self.key_of(after)
                entry = (start_id + i, ts, after)
                self.final[k] = entry
                self.pending_deletes.discard(k)
                self.pending_upserts[k] = entry
        # Coalescing in changelog mode is lossless (last write per key wins); only a
        # browser that cannot hold the whole result skips rows.
        overflow = len(self.pending_upserts) - self.max_pending
        if overflow > 0:
            for k in list(self.pending_upserts)[:overflow]:
                del self.pending_upserts[k]
            self.skipped += overflow

    def sample_rate(self, now: float) -> None:
        self._samples.append((now, self.total))
        t0, n0 = self._samples[0]
        self.rate = (self.total - n0) / (now - t0) if now > t0 else 0.0

    # ---- encoding

    def _payload(self, ids: list[int], ts: list[int], rows: list[dict], **extra: Any) -> dict:
        cols = [[r.get(c) for r in rows] for c in self.columns]
        return {
            "sink": self.name,
            "mode": self.mode,
            "columns": self.columns,
            "ids": ids,
            "ts": ts,
            "cols": cols,
            **extra,
        }

    def _append_payload(self, chunks: list[_Chunk]) -> dict:
        ids = [c.start_id + i for c in chunks for i in range(len(c))]
        ts = [t for c in chunks for t in c.timestamps]
        rows = [r for c in chunks for r in c.rows]
        return self._payload(ids, ts, rows)

    def _changelog_payload(self, entries: dict[str, tuple[int, int, dict]], deletes: Iterable[str]) -> dict:
        keys = list(entries)
        vals = list(entries.values())
        return self._payload(
            [v[0] for v in vals], [v[1] for v in vals], [v[2] for v in vals], keys=keys, deletes=list(deletes)
        )

    def take_delta(self, max_rows: int | None = None) -> dict | None:
        """Rows not yet sent, at most ``max_rows``: append mode keeps the latest and counts
        the rest as skipped; changelog mode leaves the rest pending (nothing is lost)."""
        if self.mode == APPEND and self.pending.n:
            self.accounted = self.total
            chunks = self.pending.take()
            if max_rows is not None and sum(map(len, chunks)) > max_rows:
                kept = _Chunks(max_rows)
                for c in chunks:
                    self.skipped += kept.append(c)
                chunks = kept.take()
            return self._append_payload(chunks)
        if self.mode == CHANGELOG and (self.pending_upserts or self.pending_deletes):
            upserts = self.pending_upserts
            if max_rows is not None and len(upserts) > max_rows:
                keys = list(upserts)
                upserts = {k: upserts[k] for k in keys[:max_rows]}
                self.pending_upserts = {k: self.pending_upserts[k] for k in keys[max_rows:]}
            else:
                self.pending_upserts = {}
            payload = self._changelog_payload(upserts, self.pending_deletes)
            self.pending_deletes = set()
            self.accounted = self.total
            return payload
        return None

    def reset_view(self, n: int) -> dict | None:
        """For a view that (re)starts: the latest ``n`` rows, and nothing pending (those
        rows are in it already, or older than it and so skipped)."""
        if self.mode == APPEND:
            self.skipped += max(0, self.pending.n - n)
            self.pending.take()
        else:
            self.pending_upserts, self.pending_deletes = {}, set()
        self.accounted = self.total
        return self.latest(n)

    def latest(self, n: int) -> dict | None:
        """The latest ``n`` rows (append) or up to ``n`` rows of the current result."""
        if self.mode == APPEND:
            return self._append_payload(self.kept.latest(n))
        if self.mode == CHANGELOG:
            items = list(self.final.items())[-n:]
            return self._changelog_payload(dict(items), [])
        return None

    def stats(self) -> dict:
        out: dict[str, Any] = {
            "total": self.total,
            "accounted": self.accounted,
            "skipped": self.skipped,
            "lost": self.lost,
            "rate": round_rate(self.rate),
            "mode": self.mode,
            "rows": len(self.final) if self.mode == CHANGELOG else self.kept.n,
        }
        if self.mode == CHANGELOG:
            out["ops"] = dict(self.ops)
        return out


class OutputBuffer:
    """All sinks of one pipeline's output, bounded and thread-safe."""

    def __init__(
        self,
        *,
        mode: str = "auto",
        key: Sequence[str] | None = None,
        max_rows: int = 100_000,
        max_pending: int = 20_000,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if max_rows < 1 or max_pending < 1:
            raise ValueError("max_rows and max_pending must be at least 1")
        self.mode = mode
        self.key = tuple(key) if key else None
        self.max_rows = max_rows
        self.max_pending = min(max_pending, max_rows)
        self.lock = threading.Lock()
        self.sinks: dict[str, SinkState] = {}
        self.version = 0  # bumps on every change, so snapshots know when to refresh
        # run boundaries (bounded): where each run started/ended, as rows received per sink
        self.runs: deque[dict] = deque(maxlen=50)
        self.runs_seen = 0

    def _sink(self, name: str) -> SinkState:
        sink = self.sinks.get(name)
        if sink is None:
            sink = SinkState(
                name, None if self.mode == "auto" else self.mode, self.key, self.max_rows, self.max_pending
            )
            self.sinks[name] = sink
        return sink

    def add(self, event: Any) -> None:
        """Take one OutputEvent (operator_id, start_id, timestamps, rows, gap)."""
        rows = list(getattr(event, "rows", None) or [])
        with self.lock:
            sink = self._sink(str(getattr(event, "operator_id", "output")))
            sink.lost += int(getattr(event, "gap", 0) or 0)
            if rows:
                sink.add(
                    int(getattr(event, "start_id", 0) or 0),
                    list(getattr(event, "timestamps", None) or []),
                    rows,
                )
            self.version += 1

    def mark_run(self, run_id: int | None, event: str) -> None:
        """Note a run boundary (``event``: started, stopped, restarting, …) at the rows so far."""
        with self.lock:
            if event == "started":
                self.runs_seen += 1
            self.runs.append(
                {
                    "run": run_id,
                    "event": event,
                    "time_ms": int(time.time() * 1000),
                    "rows": {name: s.total for name, s in self.sinks.items()},
                }
            )
            self.version += 1

    def take_delta(self, max_bytes: int | None = None) -> list[tuple[str, bytes]]:
        """Encoded payloads of every sink with rows not yet sent (clears them).

        ``max_bytes`` bounds the whole delta (shared between sinks): rows beyond it are
        coalesced away in append mode, or wait for the next delta in changelog mode.
        """
        with self.lock:
            busy = [s for s in self.sinks.values() if s.pending.n or s.pending_upserts or s.pending_deletes]
            out = []
            for s in busy:
                limit = None if max_bytes is None else max(1, int(max_bytes / len(busy) / s.bytes_per_row))
                payload = s.take_delta(limit)
                if payload is None:
                    continue
                data = encode(payload)
                if payload["ids"]:
                    s.bytes_per_row = 0.5 * s.bytes_per_row + 0.5 * (len(data) / len(payload["ids"]))
                out.append((s.name, data))
            return out

    def drop_pending(self) -> None:
        """Forget unsent rows (paused view): counted as skipped."""
        with self.lock:
            for s in self.sinks.values():
                s.skipped += s.pending.n + len(s.pending_upserts)
                s.pending.take()
                s.pending_upserts, s.pending_deletes = {}, set()

    def latest(self, n: int) -> list[dict]:
        with self.lock:
            return [p for s in self.sinks.values() if (p := s.latest(n)) is not None]

    def reset_view(self, n: int) -> tuple[list[dict], dict[str, dict]]:
        """The latest ``n`` rows of every sink for a view that starts over, with the stats
        that match them (taken under the same lock); pending rows are cleared."""
        with self.lock:
            payloads = [p for s in self.sinks.values() if (p := s.reset_view(n)) is not None]
            return payloads, {name: s.stats() for name, s in self.sinks.items()}

    def stats(self, now: float | None = None) -> dict[str, dict]:
        now = time.monotonic() if now is None else now
        with self.lock:
            for s in self.sinks.values():
                s.sample_rate(now)
            return {name: s.stats() for name, s in self.sinks.items()}

    def frame(self, mode: str = "rows", sink: str | None = None, tail: int | None = None) -> pd.DataFrame:
        """The rows as a DataFrame: ``rows`` (as received, or the current result in
        changelog mode), ``final`` (current result) or ``changelog`` (raw records, with
        ``arroyo.op``). Metadata columns are namespaced (see ``api.output_frame``)."""
        if mode not in ("rows", "final", "changelog"):
            raise ValueError(f'mode must be "rows", "final" or "changelog", got {mode!r}')
        with self.lock:
            if sink and sink not in self.sinks:
                raise ValueError(f"no sink {sink!r}; sinks: {', '.join(self.sinks) or 'none yet'}")
            names = [sink] if sink else list(self.sinks)
            parts = [self._records(self.sinks[n], mode, tail) for n in names]
            columns = columns_of((), [c for n in names for c in self.sinks[n].columns])
        rows = [r for p in parts for r in p[2]]
        return output_frame(
            rows,
            sink=[n for n, p in zip(names, parts, strict=True) for _ in p[2]],
            row_ids=[i for p in parts for i in p[0]],
            event_times_us=[t for p in parts for t in p[1]],
            op=[o for p in parts for o in p[3]] if mode == "changelog" else None,
            columns=columns,
        )

    @staticmethod
    def _records(s: SinkState, mode: str, tail: int | None = None) -> tuple[list, list, list, list]:
        """(row ids, event times, rows, ops) of one sink, copied under the lock."""
        if s.mode == CHANGELOG and mode in ("rows", "final"):
            vals = list(s.final.values())[-tail:] if tail else list(s.final.values())
            return [v[0] for v in vals], [v[1] for v in vals], [v[2] for v in vals], []
        if s.mode == CHANGELOG:  # raw records
            recs = list(s.changes.rows())
            rows = [
                (r.get("after") if r.get("after") is not None else r.get("before")) or {} for _, _, r in recs
            ]
            return [i for i, _, _ in recs], [t for _, t, _ in recs], rows, [r.get("op") for _, _, r in recs]
        recs = list(_Chunks.rows_of(s.kept.latest(tail))) if tail else list(s.kept.rows())
        ops = [None] * len(recs) if mode == "changelog" else []
        return [i for i, _, _ in recs], [t for _, t, _ in recs], [r for _, _, r in recs], ops


def round_rate(rate: float) -> float:
    """Rows a second at a precision people read: whole rows from 10/s up, 1 decimal below."""
    return float(round(rate)) if rate >= 10 else round(rate, 1)


def encode(payload: dict) -> bytes:
    return _encode.encode(payload)
