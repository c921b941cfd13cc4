"""The kernel side of the live output table, without any widget: bounded Arrow tables.

The stream's reader thread calls ``add(event)`` (cheap: the rows are queued); the widget's
flush loop calls ``take_delta()``, which turns everything queued into one Arrow record
batch per sink (columns learned from every row), keeps it in a bounded table for
``to_pandas`` and sends the browser the rows it has not seen (coalesced when it falls
behind). Everything is under one lock and every buffer is bounded.

Wire format of a sink's payload: one Arrow IPC stream holding one record batch. Its
first ``nmeta`` columns are metadata, by position (so a data column may be called
anything): append mode ``seq`` (this table's ordinal of the row), ``id`` (the server's
row id), ``ts`` (event time, µs); changelog mode adds ``key`` and ``op``. The rest are the
data columns. The schema's ``arroyo`` metadata is JSON: ``sink``, ``mode``, ``nmeta``,
``columns`` (the data columns' names) and, in changelog mode, ``deletes`` (keys).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa

from ..api.output_frame import columns_of, output_frame
from ._arrow_rows import concat, ipc, to_columns, to_pandas_columns

APPEND, CHANGELOG = "append", "changelog"
MODES = ("auto", APPEND, CHANGELOG)
_DEBEZIUM_FIELDS = {"before", "after", "op"}
_encode = msgspec.json.Encoder(order="sorted")
# kernel-side names of the metadata columns: a NUL never starts a real column name
SEQ, ID, TS, KEY, OP = "\0seq", "\0id", "\0ts", "\0key", "\0op"
_APPEND_META = (SEQ, ID, TS)
_CHANGELOG_META = (SEQ, ID, TS, KEY, OP)
RAW_LIMIT = 20_000  # rows queued before the reader converts them itself (bounds memory)


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


class _Batches:
    """Record batches holding at most ``limit`` rows (oldest dropped first)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.batches: deque[pa.RecordBatch] = deque()
        self.n = 0

    def append(self, batch: pa.RecordBatch) -> int:
        """Add a batch; returns how many old rows were dropped to stay bounded."""
        dropped = 0
        if batch.num_rows > self.limit:
            dropped = batch.num_rows - self.limit
            batch = batch.slice(dropped)
        self.batches.append(batch)
        self.n += batch.num_rows
        while self.n > self.limit:
            head = self.batches[0]
            excess = self.n - self.limit
            if head.num_rows <= excess:
                self.batches.popleft()
                self.n -= head.num_rows
                dropped += head.num_rows
            else:
                self.batches[0] = head.slice(excess)
                self.n -= excess
                dropped += excess
        return dropped

    def take(self) -> list[pa.RecordBatch]:
        out = list(self.batches)
        self.batches.clear()
        self.n = 0
        return out

    def latest(self, n: int | None) -> list[pa.RecordBatch]:
        if n is None:
            return list(self.batches)
        out: list[pa.RecordBatch] = []
        need = n
        for batch in reversed(self.batches):
            if need <= 0:
                break
            out.append(batch if batch.num_rows <= need else batch.slice(batch.num_rows - need))
            need -= batch.num_rows
        return out[::-1]


def _table(batches: list[pa.RecordBatch]) -> pa.Table:
    return concat([pa.Table.from_batches([b]) for b in batches])


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
        self.seq = 0  # ordinal of the next row (never reused: ids restart with a new run)
        self._raw: list[tuple[int, list[int], list[Any]]] = []  # append mode: not converted yet
        self._raw_n = 0
        self.kept = _Batches(self.max_rows)  # append mode: the rows for to_pandas
        self.pending = _Batches(self.max_pending)  # append mode: not yet sent
        self.changes = _Batches(self.max_rows)  # changelog mode: raw c/u/d records (as rows)
        # changelog mode: the current result, key → (seq, id, ts, row, op)
        self.final: dict[str, tuple[int, int, int, dict, str]] = {}
        self.pending_upserts: dict[str, tuple[int, int, int, dict, str]] = {}
        self.pending_deletes: set[str] = set()
        self._samples: deque[tuple[float, int]] = deque(maxlen=8)
        self.bytes_per_row = 100.0  # learnt from what was encoded; sizes deltas to a byte budget

    def _learn_columns(self, rows: Sequence[Any]) -> None:
        # Every row counts: a key first seen in the middle of a batch is a column too.
        if len(self.columns) != len(learned := columns_of(rows, self.columns)):
            self.columns[:] = learned

    def key_of(self, row: dict) -> str:
        if self.key:
            return _encode.encode([row.get(k) for k in self.key]).decode()
        return _encode.encode(row).decode()

    def add(self, start_id: int, timestamps: list[int], rows: list[Any]) -> None:
        self.total += len(rows)
        if self.mode is None:
            self.mode = CHANGELOG if looks_like_debezium(rows) else APPEND
        if self.mode == APPEND:
            self._raw.append((start_id, timestamps, rows))
            self._raw_n += len(rows)
            if self._raw_n >= RAW_LIMIT:
                self.convert()
            return
        self._add_changes(start_id, timestamps, rows)

    def convert(self) -> None:
        """Queued rows → one record batch, kept (bounded) and pending for the browser."""
        if not self._raw:
            return
        raw, self._raw, n = self._raw, [], self._raw_n
        self._raw_n = 0
        rows = raw[0][2] if len(raw) == 1 else [r for _, _, rs in raw for r in rs]
        columns, arrays = to_columns(rows, self.columns)  # columns learned from every row
        self.columns[:] = columns
        ids = np.concatenate([np.arange(s, s + len(rs), dtype="int64") for s, _, rs in raw])
        ts = np.zeros(n, dtype="int64")
        at = 0
        for _, stamps, rs in raw:
            k = min(len(stamps), len(rs))
            ts[at : at + k] = stamps[:k]
            at += len(rs)
        meta = [pa.array(np.arange(self.seq, self.seq + n, dtype="int64")), pa.array(ids), pa.array(ts)]
        self.seq += n
        batch = pa.RecordBatch.from_arrays(meta + arrays, names=[*_APPEND_META, *self.columns])
        self.kept.append(batch)
        self.skipped += self.pending.append(batch)

    def _add_changes(self, start_id: int, timestamps: list[int], rows: list[Any]) -> None:
        n = len(rows)
        ts = (list(timestamps) + [0] * n)[:n]
        self.changes.append(
            pa.RecordBatch.from_arrays(
                [pa.array(range(start_id, start_id + n), pa.int64()), pa.array(ts, pa.int64()), pa.array(
                    [_encode.encode(r).decode() for r in rows], pa.string()
                )],
                names=[ID, TS, "record"],
            )
        )  # fmt: skip
        ops = self.ops
        for i, rec in enumerate(rows):
            op, before, after = rec.get("op"), rec.get("before"), rec.get("after")
            kind = "c" if op == "r" else str(op)
            ops[kind] = ops.get(kind, 0) + 1
            if before is not None and op in ("u", "d"):
                k = self.key_of(before)
                if self.final.pop(k, None) is not None or k in self.pending_upserts:
                    self.pending_upserts.pop(k, None)
                    self.pending_deletes.add(k)
            if after is not None and op in ("c", "u", "r"):
                self._learn_columns([after])
                k = self.key_of(after)
                entry = (self.seq, start_id + i, ts[i], after, kind)
                self.seq += 1
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

    # ---- encoding for the browser

    def _meta(self, nmeta: int, **extra: Any) -> dict:
        return {"sink": self.name, "mode": self.mode, "nmeta": nmeta, "columns": list(self.columns), **extra}

    def _append_payload(self, batches: list[pa.RecordBatch]) -> bytes:
        table = _table(batches) if batches else None
        if table is None or table.num_rows == 0:
            empty = pa.RecordBatch.from_arrays(
                [pa.array([], pa.int64())] * 3 + [pa.nulls(0)] * len(self.columns),
                names=[*_APPEND_META, *self.columns],
            )
            return ipc(empty, self._meta(3))
        names = [*_APPEND_META, *self.columns]
        cols = [table.column(c) if c in table.column_names else pa.nulls(table.num_rows) for c in names]
        batch = pa.Table.from_arrays(cols, names=names).combine_chunks().to_batches()[0]
        return ipc(batch, self._meta(3))

    def _changelog_payload(
        self, entries: dict[str, tuple[int, int, int, dict, str]], deletes: list[str]
    ) -> bytes:
        vals = list(entries.values())
        rows = [v[3] for v in vals]
        meta = [
            pa.array([v[0] for v in vals], pa.int64()),
            pa.array([v[1] for v in vals], pa.int64()),
            pa.array([v[2] for v in vals], pa.int64()),
            pa.array(list(entries), pa.string()),
            pa.array([v[4] for v in vals], pa.string()),
        ]
        columns, arrays = to_columns(rows, self.columns)
        self.columns[:] = columns
        batch = pa.RecordBatch.from_arrays(meta + arrays, names=[*_CHANGELOG_META, *self.columns])
        return ipc(batch, self._meta(5, deletes=deletes, key=list(self.key or ())))

    def take_delta(self, max_rows: int | None = None) -> tuple[bytes, int] | None:
        """(payload, rows in it) of the rows not yet sent, at most ``max_rows``: append mode
        keeps the latest and counts the rest as skipped; changelog mode leaves the rest
        pending (nothing is lost)."""
        if self.mode == APPEND:
            self.convert()
            if not self.pending.n:
                return None
            self.accounted = self.total
            batches = self.pending.take()
            if max_rows is not None and sum(b.num_rows for b in batches) > max_rows:
                kept = _Batches(max_rows)
                for b in batches:
                    self.skipped += kept.append(b)
                batches = kept.take()
            return self._append_payload(batches), sum(b.num_rows for b in batches)
        if self.mode == CHANGELOG and (self.pending_upserts or self.pending_deletes):
            upserts = self.pending_upserts
            if max_rows is not None and len(upserts) > max_rows:
                keys = list(upserts)
                upserts = {k: upserts[k] for k in keys[:max_rows]}
                self.pending_upserts = {k: self.pending_upserts[k] for k in keys[max_rows:]}
            else:
                self.pending_upserts = {}
            payload = self._changelog_payload(upserts, sorted(self.pending_deletes))
            self.pending_deletes = set()
            self.accounted = self.total
            return payload, len(upserts)
        return None

    def reset_view(self, n: int) -> bytes | None:
        """For a view that (re)starts: the latest ``n`` rows, and nothing pending (those
        rows are in it already, or older than it and so skipped)."""
        if self.mode == APPEND:
            self.convert()
            self.skipped += max(0, self.pending.n - n)
            self.pending.take()
        else:
            self.pending_upserts, self.pending_deletes = {}, set()
        self.accounted = self.total
        return self.latest(n)

    def latest(self, n: int) -> bytes | None:
        """The latest ``n`` rows (append) or up to ``n`` rows of the current result."""
        if self.mode == APPEND:
            self.convert()
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
            "rows": len(self.final) if self.mode == CHANGELOG else self.kept.n + self._raw_n,
        }
        if self.mode == CHANGELOG:
            out["ops"] = dict(self.ops)
        return out

    # ---- DataFrames

    def frame_parts(self, mode: str, tail: int | None) -> tuple[Any, Any, Any, Any]:
        """(data, row ids, event times, ops) of this sink, copied under the lock."""
        if self.mode == CHANGELOG and mode in ("rows", "final"):
            vals = list(self.final.values())[-tail:] if tail else list(self.final.values())
            return [v[3] for v in vals], [v[1] for v in vals], [v[2] for v in vals], None
        if self.mode == CHANGELOG:  # raw records
            t = _table(self.changes.latest(tail))
            recs = [msgspec.json.decode(r) for r in t.column("record").to_pylist()] if t.num_rows else []
            rows = [(r.get("after") if r.get("after") is not None else r.get("before")) or {} for r in recs]
            ids = t.column(ID).to_numpy() if t.num_rows else []
            ts = t.column(TS).to_numpy() if t.num_rows else []
            return rows, ids, ts, [r.get("op") for r in recs]
        self.convert()
        batches = self.kept.latest(tail)
        if not batches:
            return [], [], [], [None] * 0
        t = _table(batches)
        data = t.drop_columns(list(_APPEND_META))
        ops = [None] * t.num_rows if mode == "changelog" else None
        return data, t.column(ID).to_numpy(), t.column(TS).to_numpy(), ops


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
        rows = getattr(event, "rows", None) or []
        if not isinstance(rows, list):
            rows = list(rows)
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
            for s in self.sinks.values():
                s.convert()
            busy = [s for s in self.sinks.values() if s.pending.n or s.pending_upserts or s.pending_deletes]
            out = []
            for s in busy:
                limit = None if max_bytes is None else max(1, int(max_bytes / len(busy) / s.bytes_per_row))
                taken = s.take_delta(limit)
                if taken is None:
                    continue
                data, n = taken
                if n >= 50:  # a small delta is mostly the IPC schema: it says little about rows
                    s.bytes_per_row = 0.5 * s.bytes_per_row + 0.5 * (len(data) / n)
                out.append((s.name, data))
            return out

    def drop_pending(self) -> None:
        """Forget unsent rows (paused view): counted as skipped."""
        with self.lock:
            for s in self.sinks.values():
                s.convert()
                s.skipped += s.pending.n + len(s.pending_upserts)
                s.pending.take()
                s.pending_upserts, s.pending_deletes = {}, set()

    def latest(self, n: int) -> list[bytes]:
        with self.lock:
            return [p for s in self.sinks.values() if (p := s.latest(n)) is not None]

    def reset_view(self, n: int) -> tuple[list[tuple[str, bytes]], dict[str, dict]]:
        """The latest ``n`` rows of every sink for a view that starts over, with the stats
        that match them (taken under the same lock); pending rows are cleared."""
        with self.lock:
            payloads = [(s.name, p) for s in self.sinks.values() if (p := s.reset_view(n)) is not None]
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
            parts = [(n, self.sinks[n].frame_parts(mode, tail), list(self.sinks[n].columns)) for n in names]
        frames = []
        for name, (data, ids, ts, ops), columns in parts:
            if isinstance(data, pa.Table):
                data = pd.DataFrame(to_pandas_columns(data), index=pd.RangeIndex(data.num_rows))
            frames.append(
                output_frame(data, sink=name, row_ids=ids, event_times_us=ts, op=ops, columns=columns)
            )
        if not frames:
            return pd.DataFrame()
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def round_rate(rate: float) -> float:
    """Rows a second at a precision people read: whole rows from 10/s up, 1 decimal below."""
    return float(round(rate)) if rate >= 10 else round(rate, 1)


def encode(payload: dict) -> bytes:
    return _encode.encode(payload)
