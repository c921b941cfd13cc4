"""Sink connectors: single_file (json, debezium_json), stdout, blackhole, preview.

Sinks receive batches of the query output plus ``_timestamp`` (and ``__op`` for updating
queries). ``single_file`` is exactly-once across restore: its checkpointed state is the file
length, and a restored job truncates the file back to it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pyarrow as pa

from .jsonio import batch_rows, dumps
from .sources import OP_COL
from .translate import TIME_COL


def _split(batch: pa.RecordBatch, schema: pa.Schema) -> tuple[pa.RecordBatch, list[int], list[str] | None]:
    """(visible columns renamed and cast to the sink schema, timestamps in ns, ops)."""
    names = batch.schema.names
    ts = (
        batch.column(names.index(TIME_COL)).cast(pa.int64()).to_pylist()
        if TIME_COL in names
        else [0] * batch.num_rows
    )
    ops = batch.column(names.index(OP_COL)).to_pylist() if OP_COL in names else None
    visible = [i for i, n in enumerate(names) if n not in (TIME_COL, OP_COL)]
    columns = []
    for pos, i in enumerate(visible):
        col = batch.column(i)
        if pos < len(schema) and col.type != schema.field(pos).type:
            try:
                col = col.cast(schema.field(pos).type, safe=False)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass
        columns.append(col)
    out_names = [schema.field(p).name if p < len(schema) else names[i] for p, i in enumerate(visible)]
    return pa.RecordBatch.from_arrays(columns, names=out_names), ts, ops


def debezium_rows(rows: list[dict[str, Any]], ops: list[str] | None) -> list[dict[str, Any]]:
    """Rows + changelog ops → Debezium objects (an update is its 'ub' row then its 'ua' row)."""
    if ops is None:
        return [{"before": None, "after": r, "op": "c"} for r in rows]
    out: list[dict[str, Any]] = []
    pending_before = None
    for row, op in zip(rows, ops, strict=False):
        if op == "c":
            out.append({"before": None, "after": row, "op": "c"})
        elif op == "d":
            out.append({"before": row, "after": None, "op": "d"})
        elif op == "ub":
            pending_before = row
        elif op == "ua":
            out.append({"before": pending_before, "after": row, "op": "u"})
            pending_before = None
    return out


def debezium_batch(
    visible: pa.RecordBatch, ops: list[str] | None, ts: list[int]
) -> tuple[pa.RecordBatch, list[int]]:
    """The Debezium shape as a RecordBatch: ``before``/``after`` structs and ``op``."""
    ops = ops or ["c"] * visible.num_rows
    rows = pa.StructArray.from_arrays(visible.columns, names=visible.schema.names)
    before, after, out_ops, out_ts = [], [], [], []
    pending = None
    for i, op in enumerate(ops):
        if op == "ub":
            pending = i
            continue
        before.append(i if op == "d" else pending if op == "ua" else None)
        after.append(None if op == "d" else i)
        out_ops.append("u" if op == "ua" else op)
        out_ts.append(ts[i])
        pending = None
    batch = pa.RecordBatch.from_arrays(
        [
            rows.take(pa.array(before, pa.int64())),
            rows.take(pa.array(after, pa.int64())),
            pa.array(out_ops, pa.string()),
        ],
        names=["before", "after", "op"],
    )
    return batch, out_ts


class Sink:
    def __init__(self, plan: Any, index: int, state: dict[str, Any], listener: Any, fresh: bool):
        self.plan, self.index, self.listener = plan, index, listener
        self.rows_written = 0

    def write(self, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        """Make everything written so far durable (before the checkpoint completes)."""

    def snapshot(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


class FileSink(Sink):
    def __init__(self, plan, index, state, listener, fresh):
        super().__init__(plan, index, state, listener, fresh)
        self.path = plan.options["path"]
        self.debezium = plan.options.get("format") == "debezium_json" or plan.updating
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self._file = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        length = int(state.get("length", 0)) if not fresh else 0
        self._file.truncate(length)  # roll back to the checkpoint (or start empty)
        self._file.seek(length)

    def write(self, batch):
        visible, _, ops = _split(batch, self.plan.schema)
        rows = batch_rows(visible, self.plan.options.get("json.timestamp_format", "rfc3339"))
        if self.debezium:
            rows = debezium_rows(rows, ops)
        if rows:
            self._file.write(("\n".join(dumps(r) for r in rows) + "\n").encode())
            self.rows_written += len(rows)

    def commit(self):
        # durable before the checkpoint completes: a restore truncates to the checkpointed
        # length, which must not exceed what survived (the Committing span times this fsync)
        self._file.flush()
        os.fsync(self._file.fileno())

    def snapshot(self):
        self._file.flush()
        return {"length": self._file.tell()}

    def close(self):
        if not self._file.closed:
            self._file.flush()
            self._file.close()


class StdoutSink(Sink):
    def write(self, batch):
        visible, _, ops = _split(batch, self.plan.schema)
        rows = batch_rows(visible, self.plan.options.get("json.timestamp_format", "rfc3339"))
        if self.plan.updating:
            rows = debezium_rows(rows, ops)
        for r in rows:
            sys.stdout.write(dumps(r) + "\n")
        sys.stdout.flush()
        self.rows_written += len(rows)


class BlackholeSink(Sink):
    def write(self, batch):
        self.rows_written += batch.num_rows


class PreviewSink(Sink):
    """Hands each batch to ``listener.on_output``; ``start_id`` is checkpointed."""

    def __init__(self, plan, index, state, listener, fresh):
        super().__init__(plan, index, state, listener, fresh)
        self.next_id = 0 if fresh else int(state.get("next_id", 0))

    def write(self, batch):
        visible, ts, ops = _split(batch, self.plan.schema)
        payload = visible
        if self.plan.updating:
            payload, ts = debezium_batch(visible, ops, ts)
        micros = [max(0, t // 1000) for t in ts]
        if self.listener is not None:
            self.listener.on_output(self.plan.operator_id, self.index, payload, micros, self.next_id)
        self.next_id += len(micros)
        self.rows_written += len(micros)

    def snapshot(self):
        return {"next_id": self.next_id}

    def close(self):
        if self.listener is not None:
            self.listener.on_sink_closed(self.plan.operator_id, self.index)


SINKS = {"single_file": FileSink, "stdout": StdoutSink, "blackhole": BlackholeSink, "preview": PreviewSink}


def sink_class(connector: str) -> type[Sink]:
    """The Sink class of a connector: built in here, or from the connectors package."""
    from .connectors import sink_class as connector_sink  # connector modules import this one

    cls = SINKS.get(connector) or connector_sink(connector)
    if cls is None:
        raise ValueError(f"no sink for connector {connector!r}")
    return cls
