"""Arroyo's ``filesystem`` connector on local paths (and ``file://`` URIs).

Source: the files under ``path`` (recursively, those whose path relative to it matches
``source.regex_pattern``), in name order, spread over the subtasks (file i → subtask
i % parallelism); JSON lines (optionally gzip/zstd, ``source.compression``) or Parquet.
Each subtask checkpoints the files it finished and the rows read of the current one; on
restore every subtask sees all saved states, so a job restored at another parallelism
skips every finished file and resumes half-read ones at their row. Bounded: it finishes
when its files are read.

Sink: rows go to part files in a hidden staging folder (``.arroyo-staging``) under
``path``; a part file rolls (``rolling_policy.*``) and every open file is closed at a
checkpoint, and finished files move to their final name only when the checkpoint
commits, so readers see each row once (exactly once). Files are named
``{filename.prefix-}{id}{-filename.suffix}.{json|parquet}`` under the partition folders
of ``partitioning.time_pattern`` (strftime of the event time) and
``partitioning.fields`` (``field=value``).
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..catalog import TableDef
from ..jsonio import batch_rows, dumps, rows_to_batch
from ..sinks import Sink, _split, debezium_rows
from ..sources import SourceError, SourceSubtask
from .background import stamp_now
from .formats import BadData, Decoder, ErrorSink

STAGING = ".arroyo-staging"
_UNITS = {"b": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}
_SECONDS = {
    "ms": 0.001,
    "millisecond": 0.001,
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def local_path(path: str) -> Path:
    """A local path from ``path`` (``file://`` URIs too); object stores are refused by name."""
    if path.startswith("file://"):
        return Path(path[len("file://") :])
    if re.match(r"^[a-z][a-z0-9+.-]*://", path):
        scheme = path.split("://")[0]
        raise ValueError(
            f"the embedded engine writes and reads local paths only; '{scheme}://' needs Arroyo's object-store "
            "support (use a local directory or a file:// URI)"
        )
    return Path(os.path.expanduser(path))


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS | {"": 1}:
        raise ValueError(f"invalid size '{text}'; use e.g. '128MB'")
    return int(float(m.group(1)) * (_UNITS.get(m.group(2).lower(), 1)))


def parse_seconds(text: str) -> float:
    t = text.strip().lower().removeprefix("interval").strip().strip("'")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*?)s?", t)
    if not m or m.group(2) not in _SECONDS | {"": 1}:
        raise ValueError(f"invalid interval '{text}'; use e.g. '10 minutes' or '30s'")
    return float(m.group(1)) * _SECONDS.get(m.group(2), 1)


def check_options(kind: str, fmt: str | None, opts: dict[str, str]) -> str | None:
    """Planning-time checks (no file is touched)."""
    if fmt not in ("json", "parquet"):
        return "filesystem tables need format = 'json' or 'parquet'"
    comp = opts.get("source.compression", "none")
    if comp not in ("none", "gzip", "zstd"):
        return f"invalid source.compression '{comp}'; use none, gzip or zstd"
    if "source.regex_pattern" in opts:
        try:
            re.compile(opts["source.regex_pattern"])
        except re.error as err:
            return f"invalid source.regex_pattern: {err}"
    try:
        if "rolling_policy.file_size" in opts:
            parse_size(opts["rolling_policy.file_size"])
        for key in ("rolling_policy.interval", "rolling_policy.inactivity_interval"):
            if key in opts:
                parse_seconds(opts[key])
    except ValueError as err:
        return str(err)
    strategy = opts.get("filename.strategy", "serial")
    if strategy not in ("serial", "uuid", "ulid", "uuid_v7"):
        return f"invalid filename.strategy '{strategy}'; use serial, uuid or ulid"
    return None


# ---------------------------------------------------------------------------- source


def list_files(root: Path, pattern: str | None) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise SourceError(f"filesystem source path {root} does not exist or is not a directory")
    regex = re.compile(pattern) if pattern else None
    real_root = root.resolve()
    out = []
    for path in sorted(root.rglob("*")):
        if not path.resolve().is_relative_to(real_root):  # a link out of the directory: not its data
            continue
        rel = path.relative_to(root).as_posix()
        if (
            not path.is_file()
            or rel.startswith(STAGING)
            or any(p.startswith(".") for p in path.relative_to(root).parts)
        ):
            continue
        if regex is None or regex.search(rel):
            out.append(path)
    return out


class FilesystemSource(SourceSubtask):
    def __init__(
        self,
        table: TableDef,
        index: int,
        parallelism: int,
        batch_size: int,
        state: dict[str, Any],
        on_error: ErrorSink,
        all_states: list[dict[str, Any]] | None = None,
    ):
        opts = table.options
        self.table, self.batch_size = table, batch_size
        try:
            self.root = local_path(opts["path"])
        except ValueError as err:
            raise SourceError(str(err)) from None
        self.fmt = table.format or "json"
        self.compression = opts.get("source.compression", "none")
        self.decoder = Decoder(table, on_error)
        files = list_files(self.root, opts.get("source.regex_pattern"))
        self.done: set[str] = set()
        self.progress: dict[str, int] = {}  # file → rows (json: lines) read so far
        for s in all_states if all_states is not None else [state]:
            self.done.update(s.get("done", []))
            self.progress.update(s.get("progress", {}))
        mine = [f for i, f in enumerate(files) if i % parallelism == index]
        self.todo = [f for f in mine if self._key(f) not in self.done]
        self.mine_done = [self._key(f) for f in mine if self._key(f) in self.done]
        self._reader: Any = None
        self._current: Path | None = None
        self.finished = not self.todo

    def _key(self, f: Path) -> str:
        return f.relative_to(self.root).as_posix() if f != self.root else f.name

    def _open(self, f: Path) -> Any:
        skip = self.progress.get(self._key(f), 0)
        if self.fmt == "parquet":
            batches = pq.ParquetFile(f).iter_batches(batch_size=self.batch_size)
            return _skip_rows(batches, skip)
        raw = pa.OSFile(str(f), "rb")
        stream = pa.CompressedInputStream(raw, self.compression) if self.compression != "none" else raw
        lines = _lines(stream)
        for _ in range(skip):
            next(lines, None)
        return lines

    def poll(self) -> pa.RecordBatch | None:
        if self._reader is None:
            self._current = self.todo[0]
            try:
                self._reader = self._open(self._current)
            except (OSError, pa.ArrowInvalid) as err:
                raise SourceError(f"cannot read {self._current}: {err}") from None
        assert self._current is not None
        key = self._key(self._current)
        start = self.progress.get(key, 0)
        try:
            batch = self._next_parquet(key) if self.fmt == "parquet" else self._next_json(key, start)
        except BadData as err:
            raise SourceError(str(err)) from None
        except (OSError, pa.ArrowInvalid) as err:
            raise SourceError(f"cannot read {self._current}: {err}") from None
        return batch

    def _finish_file(self, key: str) -> None:
        self.todo.pop(0)
        self.mine_done.append(key)
        self.progress.pop(key, None)
        self._reader = None
        self.finished = not self.todo

    def _next_json(self, key: str, start: int) -> pa.RecordBatch | None:
        lines = []
        for line in self._reader:
            lines.append(line)
            if len(lines) >= self.batch_size:
                break
        self.progress[key] = start + len(lines)
        if len(lines) < self.batch_size:
            self._finish_file(key)
        payloads = [ln for ln in lines if ln.strip()]
        numbers = [start + i + 1 for i, ln in enumerate(lines) if ln.strip()]
        batch, _, ops = self.decoder.decode(payloads, lambda i: f"line {numbers[i]} of {self.root / key}")
        return None if batch is None else self._stamp(batch, ops)

    def _next_parquet(self, key: str) -> pa.RecordBatch | None:
        got = next(self._reader, None)
        if got is None:
            self._finish_file(key)
            return None
        self.progress[key] = self.progress.get(key, 0) + got.num_rows
        schema = self.decoder.schema
        missing = [f.name for f in schema if f.name not in got.schema.names]
        if missing:
            raise SourceError(
                f"{self.root / key} has no column {missing[0]!r} (it has {', '.join(got.schema.names)})"
            )
        try:
            batch = pa.RecordBatch.from_arrays(
                [got.column(f.name).cast(f.type) for f in schema], schema=schema
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
            if not self.decoder.drop_bad:
                raise SourceError(
                    f"bad data in {self.root / key}: {err} (set bad_data = 'drop' to skip bad rows)"
                ) from None
            rows = got.to_pylist()
            self.decoder.on_error(f"bad data in {self.root / key}: {err}", "")
            try:
                batch = rows_to_batch(rows, schema, self.table.json_columns)
            except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError, TypeError):
                return None
        return self._stamp(batch, None)

    def _stamp(self, batch: pa.RecordBatch, ops: list[str] | None) -> pa.RecordBatch:
        return stamp_now(batch, ops, self.table)

    def snapshot(self) -> dict[str, Any]:
        mine = {self._key(f) for f in self.todo}  # other subtasks' files are theirs to save
        current = {k: v for k, v in self.progress.items() if k in mine}
        return {"done": sorted(self.mine_done), "progress": current}


def _lines(stream: Any):
    """Lines of a (possibly compressed) pyarrow input stream, as bytes without the newline."""
    rest = b""
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        data = rest + chunk
        parts = data.split(b"\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def _skip_rows(batches: Any, skip: int):
    for b in batches:
        if skip >= b.num_rows:
            skip -= b.num_rows
            continue
        yield b.slice(skip) if skip else b
        skip = 0


# ---------------------------------------------------------------------------- sink


class _Part:
    """One open part file in staging."""

    def __init__(
        self,
        staging: Path,
        final: Path,
        fmt: str,
        schema: pa.Schema | None,
        compression: str,
        partition: tuple[str, ...] = (),
    ):
        self.staging, self.final, self.fmt, self.partition = staging, final, fmt, partition
        self.opened = self.last_write = time.monotonic()
        self.size = 0
        staging.parent.mkdir(parents=True, exist_ok=True)
        self._file = None if fmt == "parquet" else open(staging, "wb")  # noqa: SIM115 - closed in close()
        self._writer: pq.ParquetWriter | None = None
        self._compression = compression

    def write(self, visible: pa.RecordBatch, rows: list[dict[str, Any]] | None) -> None:
        self.last_write = time.monotonic()
        if self.fmt == "parquet":
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.staging, visible.schema, compression=self._compression)
            self._writer.write_batch(visible)
            self.size += visible.nbytes
            return
        assert self._file is not None and rows is not None
        data = ("\n".join(dumps(r) for r in rows) + "\n").encode()
        self._file.write(data)
        self.size += len(data)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._file is not None and not self._file.closed:
            self._file.close()


class FilesystemSink(Sink):
    def __init__(self, plan: Any, index: int, state: dict[str, Any], listener: Any, fresh: bool):
        super().__init__(plan, index, state, listener, fresh)
        opts = plan.options
        try:
            self.root = local_path(opts["path"])
        except ValueError as err:
            raise OSError(str(err)) from None
        self.fmt = opts.get("format", "json")
        self.ext = "parquet" if self.fmt == "parquet" else "json"
        self.compression = opts.get("parquet.compression", "snappy")
        if self.compression == "uncompressed":
            self.compression = "none"
        self.debezium = plan.updating
        if self.debezium and self.fmt == "parquet":
            raise OSError(
                "a parquet filesystem sink takes append-only rows, and this query updates its results "
                "(an aggregate without a window); aggregate over a window (tumble/hop) or write format = 'json' "
                "(Debezium changes)"
            )
        self.ts_format = opts.get("json.timestamp_format", "rfc3339")
        self.max_size = (
            parse_size(opts["rolling_policy.file_size"]) if "rolling_policy.file_size" in opts else None
        )
        self.max_age = (
            parse_seconds(opts["rolling_policy.interval"]) if "rolling_policy.interval" in opts else None
        )
        self.max_idle = (
            parse_seconds(opts["rolling_policy.inactivity_interval"])
            if "rolling_policy.inactivity_interval" in opts
            else None
        )
        self.prefix, self.suffix = opts.get("filename.prefix"), opts.get("filename.suffix")
        self.strategy = opts.get("filename.strategy", "serial")
        self.time_pattern = opts.get("partitioning.time_pattern")
        self.fields = [f.strip() for f in opts.get("partitioning.fields", "").split(",") if f.strip()]
        self.serial = 0 if fresh else int(state.get("serial", 0))
        self.staging = self.root / STAGING / f"{plan.operator_id}-{index}"
        if self.staging.exists():  # what a stopped or crashed run wrote after its last checkpoint
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True, exist_ok=True)
        self.open: dict[tuple[str, ...], _Part] = {}
        self.rolled: list[_Part] = []

    def _name(self) -> str:
        if self.strategy == "serial":
            ident = f"{self.index:03d}-{self.serial:05d}"
            self.serial += 1
        elif self.strategy in ("ulid", "uuid_v7"):  # time-ordered
            ident = f"{time.time_ns() // 1_000_000:012x}{uuid.uuid4().hex[:14]}"
        else:
            ident = str(uuid.uuid4())
        parts = [p for p in (self.prefix, ident, self.suffix) if p]
        return "-".join(parts) + f".{self.ext}"

    def _partition_keys(self, visible: pa.RecordBatch, ts: list[int]) -> list[tuple[str, ...]]:
        n = visible.num_rows
        keys: list[list[str]] = [[] for _ in range(n)]
        if self.time_pattern:
            for i, t in enumerate(ts):
                keys[i].append(datetime.fromtimestamp(t / 1e9, timezone.utc).strftime(self.time_pattern))
        for field in self.fields:
            if field not in visible.schema.names:
                raise OSError(f"partitioning.fields names '{field}', which is not a column of the sink")
            for i, v in enumerate(visible.column(field).to_pylist()):
                keys[i].append(f"{field}={v}")
        return [tuple(k) for k in keys]

    def write(self, batch: pa.RecordBatch) -> None:
        visible, ts, ops = _split(batch, self.plan.schema)
        if visible.num_rows == 0:
            return
        if self.debezium or self.fmt == "json":
            self._write_json(visible, ts, ops)
        else:
            keys = self._partition_keys(visible, ts)
            for key in dict.fromkeys(keys):
                idx = [i for i, k in enumerate(keys) if k == key]
                part = visible.take(pa.array(idx)) if len(idx) != visible.num_rows else visible
                self._part(key).write(part, None)
                self._maybe_roll(key)
        self.rows_written += visible.num_rows

    def _write_json(self, visible: pa.RecordBatch, ts: list[int], ops: list[str] | None) -> None:
        rows = batch_rows(visible, self.ts_format)
        keys = self._partition_keys(visible, ts)
        if self.debezium:  # an update's 'ub' row merges into its 'ua' row's change
            kinds: list[str | None] = list(ops) if ops else [None] * len(keys)
            keys = [k for k, op in zip(keys, kinds, strict=True) if op != "ub"]
            rows = debezium_rows(rows, ops)
        for key in dict.fromkeys(keys):
            self._part(key).write(visible, [r for r, k in zip(rows, keys, strict=True) if k == key])
            self._maybe_roll(key)

    def _part(self, key: tuple[str, ...]) -> _Part:
        part = self.open.get(key)
        if part is None:
            name = self._name()
            rel = Path(*key, name) if key else Path(name)
            part = _Part(
                self.staging / rel,
                self.root / rel,
                self.fmt if not self.debezium else "json",
                None,
                self.compression,
                key,
            )
            self.open[key] = part
        return part

    def _maybe_roll(self, key: tuple[str, ...]) -> None:
        now = time.monotonic()
        for k, part in list(self.open.items()):
            if (
                (k == key and self.max_size is not None and part.size >= self.max_size)
                or (self.max_age is not None and now - part.opened >= self.max_age)
                or (self.max_idle is not None and k != key and now - part.last_write >= self.max_idle)
            ):
                part.close()
                self.rolled.append(self.open.pop(k))

    def commit(self) -> None:
        """Close every open file and move the finished ones to their final names."""
        self.publish(self.finish_parts())

    def finish_parts(self) -> list[_Part]:
        for part in self.open.values():
            part.close()
        finished, self.rolled, self.open = [*self.rolled, *self.open.values()], [], {}
        for part in finished:
            part.final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part.staging, part.final)
        return finished

    def publish(self, parts: list[_Part]) -> None:
        """Make moved files visible to readers (plain files: moving them did)."""

    def snapshot(self) -> dict[str, Any]:
        return {"serial": self.serial}

    def close(self) -> None:
        for part in self.open.values():
            part.close()


def test_connection(opts: dict[str, str]) -> list[str]:
    """The path exists and can be read (source) or written (sink)."""
    root = local_path(opts.get("path", ""))
    if opts.get("type") == "sink":
        target = root if root.exists() else next((p for p in root.parents if p.exists()), root)
        if not os.access(target, os.W_OK):
            raise OSError(f"cannot write under {target}: permission denied")
        return [f"{root} is writable"]
    if not root.exists():
        raise OSError(f"{root} does not exist")
    try:
        files = list_files(root, opts.get("source.regex_pattern"))
    except (SourceError, re.error) as err:
        raise OSError(str(err)) from None
    return [f"{root}: {len(files)} matching file{'s' if len(files) != 1 else ''}"]
