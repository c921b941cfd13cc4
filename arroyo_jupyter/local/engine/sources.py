"""Source connectors: impulse, nexmark, single_file (json, debezium_json).

A source subtask is polled by the runtime; ``poll`` returns a RecordBatch (with the hidden
``_timestamp`` column, and ``__op`` for changelog sources) or None when nothing is due yet.
Each subtask's position is its checkpointed state.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .catalog import IMPULSE_SCHEMA, NEXMARK_SCHEMA, TS, TableDef
from .jsonio import debezium_changes, rows_to_batch
from .translate import TIME_COL

OP_COL = "__op"  # changelog rows: 'c' append, 'd' retract, 'ub'/'ua' update before/after
DEFAULT_BATCH = 8192

ErrorSink = Callable[[str, str], None]  # (message, details)


class SourceError(Exception):
    """A source cannot go on (bad data with bad_data = 'fail', a missing file)."""


def now_ns() -> int:
    return time.time_ns()


class SourceSubtask:
    finished = False

    def poll(self) -> pa.RecordBatch | None:
        raise NotImplementedError

    def next_due(self) -> float:
        """Seconds (monotonic clock) when the next poll can produce rows."""
        return time.monotonic()

    def snapshot(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        """Release connections and files; called once when the subtask ends (optional)."""


class _Rated(SourceSubtask):
    """Emits at ``rate`` rows/s (per subtask), up to ``limit`` rows."""

    def __init__(self, rate: float, limit: int | None, batch_size: int, emitted: int):
        self.rate, self.limit, self.batch_size = rate, limit, batch_size
        self.emitted = emitted
        self._t0, self._base = time.monotonic(), emitted
        if limit is not None and emitted >= limit:
            self.finished = True

    def _due(self) -> int:
        if self.rate <= 0:
            return 0
        due = self._base + int((time.monotonic() - self._t0) * self.rate) + 1 - self.emitted
        if self.limit is not None:
            due = min(due, self.limit - self.emitted)
        return max(0, min(due, self.batch_size))

    def next_due(self) -> float:
        if self.rate <= 0:
            return time.monotonic() + 3600
        return self._t0 + (self.emitted - self._base) / self.rate

    def poll(self) -> pa.RecordBatch | None:
        n = self._due()
        if n == 0:
            return None
        batch = self._make(self.emitted, n)
        self.emitted += n
        if self.limit is not None and self.emitted >= self.limit:
            self.finished = True
        return batch

    def _make(self, first: int, n: int) -> pa.RecordBatch:
        raise NotImplementedError


class ImpulseSubtask(_Rated):
    def __init__(self, table: TableDef, index: int, parallelism: int, batch_size: int, state: dict[str, Any]):
        opts = table.options
        rate = float(opts["event_rate"]) / parallelism
        limit = int(float(opts["message_count"])) if "message_count" in opts else None
        super().__init__(rate, limit, batch_size, int(state.get("counter", 0)))
        self.index = index
        self.interval = int(float(opts["event_time_interval"])) if "event_time_interval" in opts else None
        self.start_ns = int(state.get("start_ns", now_ns()))

    def _make(self, first: int, n: int) -> pa.RecordBatch:
        counters = np.arange(first, first + n, dtype=np.int64)
        if self.interval is not None:
            ts = self.start_ns + counters * self.interval
        else:
            ts = np.full(n, now_ns(), dtype=np.int64)
        return pa.RecordBatch.from_arrays(
            [pa.array(counters), pa.array(np.full(n, self.index, dtype=np.int64)), pa.array(ts).cast(TS)],
            schema=IMPULSE_SCHEMA.append(pa.field(TIME_COL, TS, False)),
        )

    def snapshot(self) -> dict[str, Any]:
        return {"counter": self.emitted, "start_ns": self.start_ns}


_CHANNELS = pa.array(["Google", "Facebook", "Baidu", "Apple"])
_CITIES = pa.array(
    [
        "Phoenix",
        "Los Angeles",
        "San Francisco",
        "Boise",
        "Portland",
        "Bend",
        "Redmond",
        "Seattle",
        "Kent",
        "Cheyenne",
    ]
)
_STATES = pa.array(["AZ", "CA", "ID", "OR", "WA", "WY"])
_POOL = pa.array([f"x{i:06d}" for i in range(4096)])  # filler text: taken, not formatted per row
_NAMES = pa.array(
    ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"]
)


class NexmarkSubtask(_Rated):
    """Nexmark events, person:auction:bid = 1:3:46 by event id, as in the Nexmark generator."""

    def __init__(self, table: TableDef, index: int, parallelism: int, batch_size: int, state: dict[str, Any]):
        opts = table.options
        total_rate = float(opts["event_rate"])
        limit = None
        if "runtime" in opts:
            total = int(total_rate * float(opts["runtime"]))
            limit = len(range(index, total, parallelism))
        super().__init__(total_rate / parallelism, limit, batch_size, int(state.get("emitted", 0)))
        self.index, self.parallelism = index, parallelism
        self.start_ns = int(state.get("start_ns", now_ns()))
        self.inter_event_ns = int(1e9 / total_rate) if total_rate > 0 else 1

    def _make(self, first: int, n: int) -> pa.RecordBatch:
        ids = self.index + np.arange(first, first + n, dtype=np.int64) * self.parallelism
        rng = np.random.default_rng(int(ids[0]) * 7919 + 17)
        ts = self.start_ns + ids * self.inter_event_ns
        ts_arr = pa.array(ts).cast(TS)
        epoch, offset = ids // 50, ids % 50
        is_person, is_auction = offset == 0, (offset >= 1) & (offset <= 3)
        is_bid = offset >= 4
        person_id = 1000 + epoch
        auction_id = 1000 + epoch * 3 + np.clip(offset - 1, 0, 2)
        max_auction = np.maximum(1000 + epoch * 3, 1000)
        bid_auction = np.maximum(1000, max_auction - rng.integers(0, 100, n))
        bidder = np.maximum(1000, 1000 + epoch - rng.integers(0, 1000, n))
        price = rng.integers(100, 10_000_000, n)

        def strings(k: int) -> pa.Array:
            return _POOL.take(pa.array(rng.integers(0, len(_POOL), k)))

        person = pa.StructArray.from_arrays(
            [
                pa.array(person_id),
                _NAMES.take(pa.array(rng.integers(0, len(_NAMES), n))),
                pc.binary_join_element_wise(
                    "user", pc.cast(pa.array(person_id), pa.string()), "@example.com", ""
                ),
                pc.cast(pa.array(rng.integers(10**15, 10**16, n)), pa.string()),
                _CITIES.take(pa.array(rng.integers(0, len(_CITIES), n))),
                _STATES.take(pa.array(rng.integers(0, len(_STATES), n))),
                ts_arr,
                strings(n),
            ],
            fields=list(NEXMARK_SCHEMA.field("person").type),
            mask=pa.array(~is_person),
        )
        auction = pa.StructArray.from_arrays(
            [
                pa.array(auction_id),
                strings(n),
                strings(n),
                pa.array(rng.integers(100, 10_000, n)),
                pa.array(rng.integers(10_000, 20_000, n)),
                ts_arr,
                pa.array(ts + rng.integers(1, 20, n) * 1_000_000_000).cast(TS),
                pa.array(person_id),
                pa.array(10 + rng.integers(0, 5, n)),
                strings(n),
            ],
            fields=list(NEXMARK_SCHEMA.field("auction").type),
            mask=pa.array(~is_auction),
        )
        channels = _CHANNELS.take(pa.array(rng.integers(0, len(_CHANNELS), n)))
        bid = pa.StructArray.from_arrays(
            [
                pa.array(bid_auction),
                pa.array(bidder),
                pa.array(price),
                channels,
                pc.binary_join_element_wise(
                    "https://www.nexmark.com/item.htm?query=", pc.cast(pa.array(bid_auction), pa.string()), ""
                ),
                ts_arr,
                strings(n),
            ],
            fields=list(NEXMARK_SCHEMA.field("bid").type),
            mask=pa.array(~is_bid),
        )
        return pa.RecordBatch.from_arrays(
            [person, auction, bid, ts_arr], schema=NEXMARK_SCHEMA.append(pa.field(TIME_COL, TS, False))
        )

    def snapshot(self) -> dict[str, Any]:
        return {"emitted": self.emitted, "start_ns": self.start_ns}


class FileSubtask(SourceSubtask):
    """``single_file``: subtask 0 reads the file line by line; the others finish at once."""

    def __init__(
        self, table: TableDef, index: int, batch_size: int, state: dict[str, Any], on_error: ErrorSink
    ):
        self.table, self.batch_size, self.on_error = table, batch_size, on_error
        self.offset = int(state.get("offset", 0))
        self.line_no = int(state.get("line", 0))
        self.fmt = table.format
        self.unstructured = table.options.get("json.unstructured", "false").lower() == "true"
        self.drop_bad = table.options.get("bad_data", "fail").lower() == "drop"
        self._file = None
        if index != 0:
            self.finished = True
            return
        path = table.options["path"]
        try:
            self._file = open(path, "rb")  # noqa: SIM115 - closed when the source finishes
        except OSError as err:
            raise SourceError(f"cannot read {path}: {err.strerror}") from None
        self._file.seek(self.offset)

    def _event_time(self, batch: pa.RecordBatch) -> pa.Array:
        field = self.table.event_time_field
        if field is not None:
            col = batch.column(field).cast(TS)
            if col.null_count:
                col = pa.array(
                    np.where(
                        col.is_null().to_numpy(zero_copy_only=False),
                        now_ns(),
                        col.cast(pa.int64()).fill_null(0).to_numpy(),
                    )
                ).cast(TS)
            return col
        return pa.array(np.full(batch.num_rows, now_ns(), dtype=np.int64)).cast(TS)

    def poll(self) -> pa.RecordBatch | None:
        assert self._file is not None
        lines: list[tuple[int, str]] = []
        while len(lines) < self.batch_size:
            line = self._file.readline()
            if not line:
                self.finished = True
                self._file.close()
                break
            self.offset += len(line)
            self.line_no += 1
            if line.strip():
                lines.append((self.line_no, line.decode("utf-8", errors="replace").strip()))
        if not lines:
            return None
        schema = self.table.schema
        assert schema is not None, "a file source's table has a schema"
        ops: list[str] | None
        if self.unstructured:
            batch = pa.RecordBatch.from_arrays(
                [pa.array([t for _, t in lines], pa.string())], schema=pa.schema([schema.field(0)])
            )
            ops = None
        else:
            rows: list[dict[str, Any]] = []
            ops, row_lines = [], []
            for line_no, text in lines:
                try:
                    value = json.loads(text)
                    if not isinstance(value, dict):
                        raise ValueError("not a JSON object")
                    if self.fmt == "debezium_json":
                        added = debezium_changes(value, rows, ops)
                    else:
                        rows.append(value)
                        added = 1
                    row_lines.extend([line_no] * added)
                except ValueError as err:
                    self._bad(line_no, text, str(err))
            batch = self._to_batch(rows, ops, row_lines)
            if batch is None:
                return None
        columns = list(batch.columns) + [self._event_time(batch)]
        fields = list(batch.schema) + [pa.field(TIME_COL, TS, False)]
        if self.fmt == "debezium_json":
            columns.append(pa.array(ops, pa.string()))
            fields.append(pa.field(OP_COL, pa.string()))
        return pa.RecordBatch.from_arrays(columns, schema=pa.schema(fields))

    def _to_batch(self, rows, ops, row_lines) -> pa.RecordBatch | None:
        if not rows:
            return None
        try:
            return rows_to_batch(rows, self.table.schema, self.table.json_columns)
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError, OverflowError):
            pass
        good_rows, good_ops = [], []
        for i, row in enumerate(rows):  # find the bad rows one by one
            try:
                rows_to_batch([row], self.table.schema, self.table.json_columns)
                good_rows.append(row)
                if ops:
                    good_ops.append(ops[i])
            except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError, OverflowError) as err:
                self._bad(row_lines[i], json.dumps(row)[:200], str(err))
        if ops:
            ops[:] = good_ops
        return rows_to_batch(good_rows, self.table.schema, self.table.json_columns) if good_rows else None

    def _bad(self, line_no: int | None, text: str, reason: str) -> None:
        where = f"line {line_no} of " if line_no else ""
        message = f"bad data in {where}{self.table.options['path']}: {reason}"
        if not self.drop_bad:
            raise SourceError(message + " (set bad_data = 'drop' to skip bad rows)")
        self.on_error(message, text[:500])

    def snapshot(self) -> dict[str, Any]:
        return {"offset": self.offset, "line": self.line_no}


def open_source(
    table: TableDef,
    index: int,
    parallelism: int,
    batch_size: int | None,
    state: dict[str, Any],
    on_error: ErrorSink,
    all_states: list[dict[str, Any]] | None = None,
) -> SourceSubtask:
    """``all_states``: every saved subtask state of this source (a restore at another
    parallelism hands a connector's partitions to other subtasks)."""
    size = batch_size or DEFAULT_BATCH
    from .connectors import source_class  # connector modules import this one

    connector_cls = source_class(table.connector or "")
    if connector_cls is not None:
        return connector_cls(table, index, parallelism, size, state, on_error, all_states)
    if table.connector == "impulse":
        return ImpulseSubtask(table, index, parallelism, size, state)
    if table.connector == "nexmark":
        return NexmarkSubtask(table, index, parallelism, size, state)
    if table.connector == "single_file":
        if not os.path.exists(table.options["path"]) and index == 0:
            raise SourceError(f"source file {table.options['path']} does not exist")
        return FileSubtask(table, index, size, state, on_error)
    raise SourceError(f"connector '{table.connector}' cannot be used as a source")
