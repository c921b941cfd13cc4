"""Message payloads ↔ rows for the message connectors (Kafka, MQTT, NATS, …).

Formats as Arroyo names them: ``json``, ``debezium_json``, ``raw_string`` (one TEXT column
``value``), ``raw_bytes`` (one BYTEA column ``value``). Bad payloads follow the table's
``bad_data``: ``fail`` (the default) stops the job with the reason, ``drop`` reports the row
in the job's error log and goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.json as pa_json

from ..catalog import TableDef
from ..jsonio import batch_rows, debezium_changes, dumps, rows_to_batch
from ..sinks import debezium_rows

ErrorSink = Callable[[str, str], None]
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError, OverflowError)


def _plain(t: pa.DataType) -> bool:
    """Types JSON carries as is (the vectorized paths handle these; others go row by row)."""
    return pa.types.is_integer(t) or pa.types.is_float64(t) or pa.types.is_string(t) or pa.types.is_boolean(t)


class BadData(Exception):
    """A payload that does not fit the table, with ``bad_data = 'fail'``."""


def data_schema(table: TableDef) -> pa.Schema:
    """The columns a payload fills: the table's columns less its ``METADATA FROM`` ones."""
    assert table.schema is not None
    return pa.schema([f for f in table.schema if f.name not in table.metadata])


def check_raw_schema(fmt: str, schema: pa.Schema | None) -> str | None:
    """Why a raw_string/raw_bytes table's columns do not fit, or None."""
    want = pa.string() if fmt == "raw_string" else pa.binary()
    sql = "TEXT" if fmt == "raw_string" else "BYTEA"
    if schema is None or len(schema) != 1 or schema.field(0).name != "value" or schema.field(0).type != want:
        return f"format '{fmt}' needs exactly one column `value {sql}` (besides METADATA FROM columns)"
    return None


class Decoder:
    """Decodes a list of payloads into a batch of the table's data columns."""

    def __init__(self, table: TableDef, on_error: ErrorSink):
        self.table, self.on_error = table, on_error
        self.fmt = table.format or "json"
        self.schema = data_schema(table)
        self.drop_bad = table.options.get("bad_data", "fail").lower() == "drop"
        self.unstructured = table.options.get("json.unstructured", "false").lower() == "true"
        self._json = msgspec.json.Decoder()
        # all-plain columns: Arrow's JSON reader decodes a whole batch in C++ (rows that do not
        # fit fall back to the row-by-row path, which reports bad data)
        self._fast = (
            self.fmt == "json"
            and not self.unstructured
            and not table.json_columns
            and all(_plain(f.type) and not f.metadata for f in self.schema)
        )
        self._avro = None
        if self.fmt == "avro":
            from .avro import AvroCodec

            self._avro = AvroCodec(table.options, self.schema)
        self._read_opts = pa_json.ReadOptions(block_size=1 << 24, use_threads=False)
        self._parse_opts = pa_json.ParseOptions(
            explicit_schema=self.schema, unexpected_field_behavior="ignore", newlines_in_values=True
        )

    def decode(
        self, payloads: list[bytes | None], where: Callable[[int], str]
    ) -> tuple[pa.RecordBatch | None, list[int], list[str] | None]:
        """(batch, the payload index of each row, changelog ops for debezium_json)."""
        if self.fmt in ("raw_string", "raw_bytes") or self.unstructured:
            return self._raw(payloads, where)
        if self._fast and payloads:
            fast = self._vectorized(payloads)
            if fast is not None:
                return fast, list(range(len(payloads))), None
        rows: list[dict[str, Any]] = []
        origin: list[int] = []
        ops: list[str] | None = [] if self.fmt == "debezium_json" else None
        for i, payload in enumerate(payloads):
            try:
                value = self._avro.decode(payload or b"") if self._avro else self._json.decode(payload or b"")
                if not isinstance(value, dict):
                    raise ValueError("not a JSON object")
                if ops is not None:
                    added = debezium_changes(value, rows, ops)
                else:
                    rows.append(value)
                    added = 1
                origin.extend([i] * added)
            except (ValueError, msgspec.DecodeError) as err:
                self.bad(where(i), payload, str(err))
        return self._to_batch(rows, origin, ops, payloads, where)

    def _vectorized(self, payloads: list[bytes | None]) -> pa.RecordBatch | None:
        if any(not p or b"\n" in p for p in payloads):
            return None
        try:
            table = pa_json.read_json(
                pa.py_buffer(b"\n".join(payloads)),  # type: ignore[arg-type]
                read_options=self._read_opts,
                parse_options=self._parse_opts,
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None
        if table.num_rows != len(payloads):
            return None
        return table.combine_chunks().to_batches()[0] if table.num_rows else None

    def _raw(self, payloads, where):
        keep, values = [], []
        for i, p in enumerate(payloads):
            if self.fmt == "raw_bytes":
                keep.append(i)
                values.append(p)
                continue
            try:
                values.append(None if p is None else p.decode("utf-8"))
                keep.append(i)
            except UnicodeDecodeError as err:
                self.bad(where(i), p, f"not UTF-8 text: {err.reason}")
        if not keep:
            return None, [], None
        arr = pa.array(values, self.schema.field(0).type)
        return pa.RecordBatch.from_arrays([arr], schema=self.schema), keep, None

    def _to_batch(self, rows, origin, ops, payloads, where):
        if not rows:
            return None, [], ops
        columns = self.table.json_columns
        try:
            return rows_to_batch(rows, self.schema, columns), origin, ops
        except _ARROW_ERRORS:
            pass
        good, good_origin, good_ops = [], [], []
        for i, row in enumerate(rows):  # find the bad rows one by one
            try:
                rows_to_batch([row], self.schema, columns)
            except _ARROW_ERRORS as err:
                self.bad(where(origin[i]), payloads[origin[i]], str(err))
                continue
            good.append(row)
            good_origin.append(origin[i])
            if ops is not None:
                good_ops.append(ops[i])
        if not good:
            return None, [], None
        return rows_to_batch(good, self.schema, columns), good_origin, good_ops if ops is not None else None

    def bad(self, where: str, payload: bytes | None, reason: str) -> None:
        message = f"bad data in {where}: {reason}"
        if not self.drop_bad:
            raise BadData(message + " (set bad_data = 'drop' to skip bad rows)")
        self.on_error(message, (payload or b"")[:500].decode("utf-8", errors="replace"))


class Encoder:
    """Rows of a sink's batch → payloads (and the dict row each came from, for keys)."""

    def __init__(self, fmt: str | None, updating: bool, options: dict[str, str]):
        self.fmt = fmt or "json"
        self.debezium = self.fmt == "debezium_json" or updating
        self.ts_format = options.get("json.timestamp_format", "rfc3339")
        self.options = options
        self._avro: Any = None

    def encode(
        self, visible: pa.RecordBatch, ops: list[str] | None
    ) -> tuple[list[bytes], list[dict[str, Any]]]:
        if self.fmt in ("raw_string", "raw_bytes"):
            col = visible.column(0)
            values = col.to_pylist()
            rows = [{visible.schema.names[0]: v} for v in values]
            if self.fmt == "raw_string":
                return [b"" if v is None else str(v).encode() for v in values], rows
            return [b"" if v is None else bytes(v) for v in values], rows
        if self.fmt == "avro":
            if self.debezium:
                raise ValueError("format 'avro' takes append-only rows; this query updates its results")
            if self._avro is None:
                from .avro import AvroCodec

                self._avro = AvroCodec(self.options, visible.schema)
            micros = [  # Avro timestamp-micros take integers
                c.cast(pa.timestamp("us")).cast(pa.int64()) if pa.types.is_timestamp(c.type) else c
                for c in visible.columns
            ]
            rows = pa.RecordBatch.from_arrays(micros, names=visible.schema.names).to_pylist()
            return [self._avro.encode(r) for r in rows], rows
        if not self.debezium and all(_plain(t) for t in visible.schema.types):
            rows = visible.to_pylist()
            encode = msgspec.json.encode
            return [encode(r) for r in rows], rows
        rows = batch_rows(visible, self.ts_format)
        if self.debezium:
            changes = debezium_rows(rows, ops)
            return [dumps(c).encode() for c in changes], [c["after"] or c["before"] or {} for c in changes]
        return [dumps(r).encode() for r in rows], rows
