"""Query operators over Arrow batches; DataFusion evaluates the SQL, Python orchestrates.

- :class:`StatelessOp` runs the query on every input batch (filters, projections, UNNEST, UNION).
- :class:`WindowedOp` buffers input rows; when the watermark closes windows it assigns the
  ``__window`` struct (tumble / hop / session) to the rows of the closed windows and runs the
  whole query on them (windowed aggregates, windowed joins, window functions). Rows of
  windows that already closed are late and dropped, as Arroyo does.
- :class:`UpdatingOp` keeps its input as a table (appends minus retractions), re-runs the
  query when flushed and emits the difference to the previous result as changelog rows
  (``__op`` = c / d / ub+ua), which sinks write as Debezium ``before``/``after``/``op``.
- :class:`KeyRouter` hash-partitions rows over the subtasks of a stateful operator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .catalog import TS
from .prepared import PreparedQuery
from .prepared import register as _register
from .sources import OP_COL
from .translate import TIME_COL, WINDOW_COL, WindowSpec

NEG_INF = -(2**62)
POS_INF = 2**62
WINDOW_TYPE = pa.struct([pa.field("start", TS), pa.field("end", TS)])
RETRACT_OPS = ("d", "ub")


def _empty(schema: pa.Schema) -> pa.Table:
    return schema.empty_table()


def _run(ctx: Any, sql: str) -> pa.Table:
    return ctx.sql(sql).to_arrow_table()


def _ts_ns(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != TS:
        arr = pc.cast(arr, TS)
    return arr.view(pa.int64()).to_numpy(zero_copy_only=False)  # a view: no cast kernel per batch


def _max_ts(arr: pa.Array | pa.ChunkedArray) -> int | None:
    """The largest event time in ns (None: no non-null value), without a NumPy copy."""
    value = pc.max(arr if arr.type == TS else pc.cast(arr, TS))
    return value.value if value.is_valid else None


def _min_ts(arr: pa.Array | pa.ChunkedArray) -> int:
    value = pc.min(arr if arr.type == TS else pc.cast(arr, TS))
    return value.value if value.is_valid else POS_INF


def _as_one_batch(table: pa.Table) -> pa.RecordBatch:
    batches = table.combine_chunks().to_batches()
    return batches[0] if len(batches) == 1 else pa.RecordBatch.from_pylist([], schema=table.schema)


def _nullable(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_nullable(True) for f in schema])


def _conform(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """``data`` with ``schema``'s field order and nullability (types must already match)."""
    if data.schema.equals(schema):
        return data
    return data.select(schema.names).cast(schema)


class QueryError(Exception):
    """The query failed on data (DataFusion raised while evaluating it)."""


class _Base:
    def __init__(self, plan: Any, schemas: dict[str, pa.Schema], udfs: list[Any]):
        from .planner import new_context

        self.plan = plan
        self.sql = plan.shape.sql
        # input table → schema with _timestamp (and __op for changelogs); all nullable, so
        # batches from sources, operators and restored state concatenate
        self.schemas = {n: _nullable(s) for n, s in schemas.items()}
        self.ctx = new_context(udfs)

    def _execute(self, tables: dict[str, pa.Table | pa.RecordBatch]) -> pa.Table:
        for name, schema in self.schemas.items():
            _register(self.ctx, name, tables.get(name, _empty(schema)))
        try:
            return _run(self.ctx, self.sql)
        except Exception as err:  # DataFusion raises plain exceptions
            raise QueryError(str(err).replace("DataFusion error: ", "")) from None

    def _sql(self, sql: str, **tables: pa.Table) -> pa.Table:
        """``sql`` over ``tables`` registered by name (DataFusion's errors as QueryError)."""
        for name, data in tables.items():
            _register(self.ctx, name, data)
        try:
            return _run(self.ctx, sql)
        except Exception as err:  # DataFusion raises plain exceptions
            raise QueryError(str(err).replace("DataFusion error: ", "")) from None

    def snapshot(self) -> dict[str, pa.Table]:
        return {}

    def output(self, table: pa.Table, fallback_ts: int) -> pa.Table | None:
        """Query result → output batch: visible columns + ``_timestamp``."""
        if table.num_rows == 0:
            return None
        names = table.schema.names
        if TIME_COL in names:
            ts = table.column(TIME_COL)
        elif "__ts" in names:
            ts = table.column("__ts")
        else:
            ts = pa.array(np.full(table.num_rows, fallback_ts, dtype=np.int64)).cast(TS)
        keep = [i for i, n in enumerate(names) if n not in (TIME_COL, "__ts", WINDOW_COL)]
        columns = [table.column(i) for i in keep] + [ts if ts.type == TS else pc.cast(ts, TS)]
        return pa.Table.from_arrays(columns, names=[names[i] for i in keep] + [TIME_COL])


class StatelessOp(_Base):
    def __init__(self, plan, schemas, udfs):
        super().__init__(plan, schemas, udfs)
        self.prepared = PreparedQuery(self.ctx, self.sql, self.schemas)  # planned once, run per batch

    def process(self, table: str, batch: pa.RecordBatch) -> pa.Table | None:
        try:
            result = self.prepared.run({table: batch})
        except Exception as err:  # DataFusion raises plain exceptions
            raise QueryError(str(err).replace("DataFusion error: ", "")) from None
        if result.num_rows == 0:
            return None
        fallback = 0 if TIME_COL in result.schema.names else (_max_ts(batch.column(TIME_COL)) or 0)
        return self.output(result, fallback)


# ---- windows ---------------------------------------------------------------------------


def _window_struct(start: np.ndarray, end: np.ndarray) -> pa.StructArray:
    return pa.StructArray.from_arrays(
        [pa.array(start).cast(TS), pa.array(end).cast(TS)], fields=list(WINDOW_TYPE)
    )


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _column_hash(col: pa.Array) -> np.ndarray:
    """A stable uint64 per value (the same in every process, so restored state routes alike)."""
    n = len(col)
    t = col.type
    if pa.types.is_dictionary(t):
        col, t = col.dictionary_decode(), t.value_type
    if pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_temporal(t):
        values = pc.cast(col, pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).view(np.uint64)
    elif pa.types.is_floating(t):
        values = pc.cast(col, pa.float64()).fill_null(0.0).to_numpy(zero_copy_only=False).view(np.uint64)
    elif pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_large_string(t):
        values = _bytes_hash(col.fill_null("") if pa.types.is_string(t) else col.fill_null(b""))
    else:  # structs, lists: hash their JSON-ish text (rare as keys)
        import zlib

        values = np.array([zlib.crc32(repr(v).encode()) for v in col.to_pylist()], dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = (values + np.uint64(1)) * _MIX
        h ^= h >> np.uint64(29)
    if col.null_count:
        h = np.where(col.is_null().to_numpy(zero_copy_only=False), np.uint64(7), h)
    return h if len(h) == n else np.zeros(n, dtype=np.uint64)


def _bytes_hash(col: pa.Array) -> np.ndarray:
    """Polynomial hash of each string's bytes, vectorised over the Arrow buffers."""
    col = col.cast(pa.large_binary())
    offsets = np.frombuffer(col.buffers()[1], dtype=np.int64)[col.offset : col.offset + len(col) + 1]
    data = (
        np.frombuffer(col.buffers()[2], dtype=np.uint8)
        if col.buffers()[2] is not None
        else np.zeros(0, np.uint8)
    )
    start, end = int(offsets[0]), int(offsets[-1])
    data = data[start:end].astype(np.uint64)
    lengths = np.diff(offsets)
    out = np.zeros(len(col), dtype=np.uint64)
    if len(data) == 0:
        return out + lengths.astype(np.uint64)
    pos = np.arange(len(data), dtype=np.int64) - np.repeat(offsets[:-1] - start, lengths)
    with np.errstate(over="ignore"):
        weights = np.power(np.uint64(1099511628211), pos.astype(np.uint64))
        terms = data * weights
        nonempty = lengths > 0
        sums = np.add.reduceat(terms, (offsets[:-1] - start)[nonempty])
        out[nonempty] = sums
        out += lengths.astype(np.uint64) * np.uint64(31)
    return out


def _key_hashes(
    ctx: Any,
    key_sql: list[str],
    table: pa.Table | pa.RecordBatch,
    name: str = "__keys",
    prepared: dict[Any, PreparedQuery] | None = None,
) -> np.ndarray:
    """One uint64 per row identifying its key (rows of equal keys hash equal). With
    ``prepared`` (a cache per caller), the key projection is planned once per input schema."""
    if not key_sql or table.num_rows == 0:
        return np.zeros(table.num_rows, dtype=np.uint64)
    sql = f"SELECT {', '.join(f'{k} AS k{i}' for i, k in enumerate(key_sql))} FROM {name}"
    if prepared is None:
        _register(ctx, name, table)
        keys = _run(ctx, sql)
    else:
        query = prepared.get((sql, table.schema))
        if query is None:
            query = prepared[(sql, table.schema)] = PreparedQuery(ctx, sql, {name: table.schema})
        batch = table if isinstance(table, pa.RecordBatch) else _as_one_batch(table)
        keys = query.run({name: batch})
    h = np.zeros(keys.num_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in keys.columns:
            h = h * np.uint64(1_000_003) + _column_hash(column.combine_chunks())
    return h


class WindowedOp(_Base):
    def __init__(self, plan, schemas, udfs, state: dict[str, pa.Table] | None = None, emitted: int = NEG_INF):
        super().__init__(plan, schemas, udfs)
        self.window: WindowSpec = plan.window
        self.buffers: dict[str, list[pa.Table]] = {name: [] for name in schemas}
        for name, table in (state or {}).items():
            if name in self.buffers and table.num_rows:
                self.buffers[name].append(_conform(table, self.schemas[name]))
        self.emitted = emitted  # windows ending at or before this are closed and emitted
        self.late_rows = 0
        # the earliest buffered event time: a watermark below its first window end closes
        # nothing, so most watermarks cost no work on the buffer
        self.min_ts = min(
            (_min_ts(t.column(TIME_COL)) for parts in self.buffers.values() for t in parts), default=POS_INF
        )

    # windows a row at time t belongs to: starts s = floor(t/slide)*slide - j*slide, j < width/slide
    def _last_end(self, ts: np.ndarray) -> np.ndarray:
        w = self.window
        if w.kind == "session":
            return ts + w.width
        return (ts // w.slide) * w.slide + w.width

    def process(self, table: str, batch: pa.RecordBatch) -> None:
        ts = _ts_ns(batch.column(TIME_COL))
        live = self._last_end(ts) > self.emitted if self.window.kind != "session" else ts >= self.emitted
        if not live.all():
            self.late_rows += int((~live).sum())
            batch = batch.filter(pa.array(live))
        if batch.num_rows:
            self.buffers[table].append(_conform(pa.Table.from_batches([batch]), self.schemas[table]))
            self.min_ts = min(self.min_ts, int(ts[live].min()) if not live.all() else int(ts.min()))

    def _first_close(self) -> int:
        """The end of the earliest window any buffered row belongs to."""
        if self.min_ts >= POS_INF:
            return POS_INF
        w = self.window
        if w.kind == "session":
            return NEG_INF  # sessions depend on gaps between rows: always look
        return (self.min_ts // w.slide) * w.slide + w.slide

    def _buffer(self, name: str) -> pa.Table:
        parts = self.buffers[name]
        if not parts:
            return _empty(self.schemas[name])
        if len(parts) > 1:
            parts[:] = [pa.concat_tables(parts).combine_chunks()]
        return parts[0]

    def on_watermark(self, wm: int) -> pa.Table | None:
        if wm <= self.emitted:
            return None
        if wm < self._first_close():  # no window closes: only the lateness bound moves
            self.emitted = wm
            return None
        if self.window.kind == "session":
            return self._sessions(wm)
        w = self.window
        expanded: dict[str, pa.Table] = {}
        any_rows = False
        new_min = POS_INF
        for name in self.schemas:
            data = self._buffer(name)
            if data.num_rows == 0:
                expanded[name] = _with_window(data, np.zeros(0, np.int64), np.zeros(0, np.int64))
                continue
            ts = _ts_ns(data.column(TIME_COL))
            first = (ts // w.slide) * w.slide
            idx_parts, start_parts = [], []
            for j in range(w.width // w.slide):
                start = first - j * w.slide
                end = start + w.width
                sel = np.nonzero((end > self.emitted) & (end <= wm))[0]
                if len(sel):
                    idx_parts.append(sel)
                    start_parts.append(start[sel])
            if idx_parts:
                idx = np.concatenate(idx_parts)
                starts = np.concatenate(start_parts)
                any_rows = True
                expanded[name] = _with_window(data.take(pa.array(idx)), starts, starts + w.width)
            else:
                expanded[name] = _with_window(data.slice(0, 0), np.zeros(0, np.int64), np.zeros(0, np.int64))
            keep = self._last_end(ts) > wm
            if not keep.all():
                self.buffers[name] = [data.filter(pa.array(keep))]
            if keep.any():
                new_min = min(new_min, int(ts[keep].min()))
        self.min_ts = new_min
        previous, self.emitted = self.emitted, wm
        if not any_rows:
            return None
        result = self._execute(expanded)
        fallback = min(wm, max(_closed_ends(expanded))) - 1 if previous < wm else wm
        return self.output(_window_time(result, self.plan.shape.window_alias_index), fallback)

    def _sessions(self, wm: int) -> pa.Table | None:
        gap = self.window.width
        out_tables: dict[str, pa.Table] = {}
        any_rows = False
        for name in self.schemas:
            data = self._buffer(name)
            if data.num_rows == 0:
                out_tables[name] = _with_window(data, np.zeros(0, np.int64), np.zeros(0, np.int64))
                continue
            keys = _key_hashes(self.ctx, self.plan.shape.key_exprs, data)
            ts = _ts_ns(data.column(TIME_COL))
            order = np.lexsort((ts, keys))
            k, t = keys[order], ts[order]
            new = np.ones(len(t), dtype=bool)
            new[1:] = (k[1:] != k[:-1]) | (t[1:] - t[:-1] >= gap)
            session = np.cumsum(new) - 1
            starts = t[new]
            ends = np.maximum.reduceat(t, np.nonzero(new)[0]) + gap
            closed = ends[session] <= wm
            sel = order[closed]
            if len(sel):
                any_rows = True
            out_tables[name] = _with_window(
                data.take(pa.array(sel)), starts[session][closed], ends[session][closed]
            )
            self.buffers[name] = [data.take(pa.array(np.sort(order[~closed])))]
        self.emitted = wm
        if not any_rows:
            return None
        result = self._execute(out_tables)
        return self.output(_window_time(result, self.plan.shape.window_alias_index), wm - 1)

    def snapshot(self) -> dict[str, pa.Table]:
        return {name: self._buffer(name) for name in self.schemas}


def _with_window(data: pa.Table, starts: np.ndarray, ends: np.ndarray) -> pa.Table:
    return data.append_column(
        pa.field(WINDOW_COL, WINDOW_TYPE), pa.chunked_array([_window_struct(starts, ends)])
    )


def _closed_ends(tables: dict[str, pa.Table]) -> list[int]:
    ends = [NEG_INF + 1]
    for t in tables.values():
        if t.num_rows:
            ends.append(int(pc.max(pc.struct_field(t.column(WINDOW_COL), "end")).cast(pa.int64()).as_py()))
    return ends


def _window_time(result: pa.Table, alias_index: int | None) -> pa.Table:
    """Output rows of a window carry its end - 1 ns as event time, as in Arroyo."""
    if TIME_COL in result.schema.names or alias_index is None or alias_index >= result.num_columns:
        return result
    col = result.column(alias_index)
    if not pa.types.is_struct(col.type) or col.type.get_field_index("end") < 0:
        return result
    end = pc.struct_field(col, "end").cast(pa.int64())
    return result.append_column("__ts", pc.subtract(end, 1).cast(TS))


# ---- updating --------------------------------------------------------------------------


class UpdatingOp(_Base):
    def __init__(self, plan, schemas, udfs, state: dict[str, pa.Table] | None = None):
        super().__init__(plan, schemas, udfs)
        self.visible = {n: pa.schema([f for f in s if f.name != OP_COL]) for n, s in self.schemas.items()}
        self.schemas = self.visible  # the query sees tables without the changelog column
        self.tables: dict[str, list[pa.Table]] = {n: [] for n in schemas}
        self.retracts: dict[str, list[pa.Table]] = {n: [] for n in schemas}
        for name, table in (state or {}).items():
            if name in self.tables and table.num_rows:
                self.tables[name].append(_conform(table, self.visible[name]))
        self.dirty_rows = 0
        self.max_ts = 0
        self.last: pa.Table | None = None
        if state:
            self.last = self._compute()

    def process(self, table: str, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self.max_ts = max(self.max_ts, _max_ts(batch.column(TIME_COL)) or 0)
        names = batch.schema.names
        if OP_COL in names:
            ops = batch.column(names.index(OP_COL))
            rows = pa.Table.from_batches([batch]).drop_columns([OP_COL])
            rows = _conform(rows, self.visible[table])
            retract = pc.is_in(ops, pa.array(list(RETRACT_OPS)))
            if pc.any(retract).as_py():
                self.retracts[table].append(rows.filter(retract))
            rows = rows.filter(pc.invert(retract))
        else:
            rows = _conform(pa.Table.from_batches([batch]), self.visible[table])
        if rows.num_rows:
            self.tables[table].append(rows)
        self.dirty_rows += batch.num_rows

    def _materialized(self, name: str) -> pa.Table:
        parts = self.tables[name]
        data = pa.concat_tables(parts).combine_chunks() if parts else _empty(self.visible[name])
        if self.retracts[name]:
            gone = pa.concat_tables(self.retracts[name])
            data = _except_all(self.ctx, data.drop_columns([TIME_COL]), gone.drop_columns([TIME_COL]), data)
            self.retracts[name] = []
        self.tables[name] = [data] if data.num_rows else []
        return data

    def _compute(self) -> pa.Table:
        tables = {name: self._materialized(name) for name in self.visible}
        result = self._execute(tables)
        keep = [i for i, n in enumerate(result.schema.names) if n not in (TIME_COL, "__ts", WINDOW_COL)]
        return pa.Table.from_arrays(
            [result.column(i) for i in keep], names=[f"c{i}" for i in range(len(keep))]
        )

    def flush(self) -> pa.Table | None:
        if self.dirty_rows == 0:
            return None
        self.dirty_rows = 0
        new = self._compute()
        old = self.last if self.last is not None else new.slice(0, 0)
        self.last = new
        removed = _except_all(self.ctx, old, new)
        added = _except_all(self.ctx, new, old)
        if removed.num_rows == 0 and added.num_rows == 0:
            return None
        return self._changelog(removed, added)

    def _changelog(self, removed: pa.Table, added: pa.Table) -> pa.Table:
        return _changelog(self.plan, self.plan.pair_keys, removed, added, self.max_ts)

    def snapshot(self) -> dict[str, pa.Table]:
        return {name: self._materialized(name) for name in self.visible}


def _row_hashes(table: pa.Table, columns: list[int] | None = None) -> np.ndarray:
    """One uint64 per row over the given columns (all by default); equal rows hash equal."""
    h = np.zeros(table.num_rows, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for i in range(table.num_columns) if columns is None else columns:
            h = h * np.uint64(1_000_003) + _column_hash(table.column(i).combine_chunks())
    return h


def _changelog(
    plan: Any, keys: list[int] | None, removed: pa.Table, added: pa.Table, max_ts: int
) -> pa.Table:
    """Removals and additions as changelog rows; a removal and an addition of the same group
    key become an update (``ub`` then ``ua``). Deletes first, then updates, then creates."""
    nr = removed.num_rows
    r_keys = _row_hashes(removed, keys) if keys is not None else None
    a_keys = _row_hashes(added, keys) if keys is not None else None
    if (
        r_keys is not None
        and a_keys is not None
        and len(np.unique(r_keys)) == nr
        and len(np.unique(a_keys)) == added.num_rows
    ):
        common, r_idx, a_idx = np.intersect1d(r_keys, a_keys, assume_unique=True, return_indices=True)
        if len(common) and keys:  # pair only rows whose key values are equal, not just their hashes
            same = _rows_equal(
                removed.select(keys).take(pa.array(r_idx)),
                added.cast(removed.schema).select(keys).take(pa.array(a_idx)),
            )
            r_idx, a_idx, common = r_idx[same], a_idx[same], common[same]
        deletes = np.setdiff1d(np.arange(nr), r_idx)
        creates = np.setdiff1d(np.arange(added.num_rows), a_idx)
        pairs = np.empty(2 * len(common), dtype=np.int64)
        pairs[0::2], pairs[1::2] = r_idx, nr + a_idx
        idx = np.concatenate([deletes, pairs, nr + creates]).astype(np.int64)
        ops = ["d"] * len(deletes) + ["ub", "ua"] * len(common) + ["c"] * len(creates)
    else:  # no key (or keys that repeat): every removal is a delete, every addition a create
        idx = np.arange(nr + added.num_rows, dtype=np.int64)
        ops = ["d"] * nr + ["c"] * added.num_rows
    both = pa.concat_tables([removed, added.cast(removed.schema)]) if nr else added
    out = both.take(pa.array(idx))
    names = [f.name for f in plan.output_schema]
    out = pa.Table.from_arrays(list(out.columns), names=names)
    ts = pa.array(np.full(out.num_rows, max_ts, dtype=np.int64)).cast(TS)
    return out.append_column(TIME_COL, ts).append_column(OP_COL, pa.array(ops, pa.string()))


def pair_keys_of(plan: Any) -> list[int] | None:
    """Output positions identifying a row for updates; None: never pair (d + c). The planner
    computes this once (it parses SQL); operators read ``plan.pair_keys``."""
    shape = plan.shape
    if not shape.has_aggregate or shape.has_join:
        return None
    if not _grouped(plan):
        return []  # a global aggregate has one row: every change is an update
    return shape.output_keys or None


def _grouped(plan: Any) -> bool:
    from sqlglot import exp, parse_one

    tree = parse_one(plan.shape.sql, read="postgres")
    top = tree.expression if isinstance(tree, exp.Insert) else tree
    return bool(isinstance(top, exp.Select) and top.args.get("group"))


def _except_all(ctx: Any, left: pa.Table, right: pa.Table, source: pa.Table | None = None) -> pa.Table:
    """Multiset difference ``left − right`` (rows compared on all columns by value; the 64-bit
    row hash only picks the candidates, so a collision cannot drop or invent a change).

    With ``source`` (``left`` plus extra columns, same row order) the surviving rows of
    ``source`` are returned, so hidden columns such as ``_timestamp`` survive.
    """
    base = source if source is not None else left
    if right.num_rows == 0 or left.num_rows == 0:
        return base
    right = pa.Table.from_arrays(
        [c.cast(left.column(i).type) for i, c in enumerate(right.columns)], names=left.schema.names
    )
    lh, rh = _row_hashes(left), _row_hashes(right)
    # pair the k-th copy of a hash on the left with the k-th copy on the right, then check values
    order_l, order_r = np.argsort(lh, kind="stable"), np.argsort(rh, kind="stable")
    sl, sr = lh[order_l], rh[order_r]
    occurrence = np.arange(len(sl)) - np.searchsorted(sl, sl, side="left")
    start, stop = np.searchsorted(sr, sl, side="left"), np.searchsorted(sr, sl, side="right")
    paired = occurrence < stop - start
    li = order_l[paired]
    rj = order_r[(start + occurrence)[paired]]
    equal = _rows_equal(left.take(pa.array(li)), right.take(pa.array(rj)))
    drop = set(li[equal].tolist())
    if not equal.all():  # a hash collision: match the rest by value
        used = set(rj[equal].tolist())
        pool: dict[str, int] = {}
        rest_r = [j for j in range(right.num_rows) if j not in used]
        for key in _value_keys(right.take(pa.array(rest_r, pa.int64()))):
            pool[key] = pool.get(key, 0) + 1
        rest_l = [i for i in range(left.num_rows) if i not in drop]
        for i, key in zip(rest_l, _value_keys(left.take(pa.array(rest_l, pa.int64()))), strict=True):
            if pool.get(key, 0) > 0:
                pool[key] -= 1
                drop.add(i)
    keep = np.setdiff1d(np.arange(left.num_rows), np.fromiter(drop, np.int64, len(drop)))
    return base.take(pa.array(keep))


def _rows_equal(a: pa.Table, b: pa.Table) -> np.ndarray:
    """Row-wise equality of two tables of one schema (NULL equals NULL, NaN equals NaN)."""
    same = np.ones(a.num_rows, dtype=bool)
    for x, y in zip(a.columns, b.columns, strict=True):
        x, y = x.combine_chunks(), y.combine_chunks()
        try:
            eq = pc.fill_null(pc.equal(x, y), False)
            eq = pc.or_(eq, pc.and_(pc.is_null(x), pc.is_null(y)))
            if pa.types.is_floating(x.type):
                eq = pc.or_(eq, pc.fill_null(pc.and_(pc.is_nan(x), pc.is_nan(y)), False))
            same &= eq.to_numpy(zero_copy_only=False)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):  # structs, lists: by value text
            keys_x, keys_y = _value_keys(pa.table([x], ["c"])), _value_keys(pa.table([y], ["c"]))
            same &= np.array([p == q for p, q in zip(keys_x, keys_y, strict=True)], dtype=bool)
    return same


def _value_keys(table: pa.Table) -> list[str]:
    """Each row's values as text that is equal exactly when the values are (NULL ≠ '', 1 ≠ 1.5)."""
    import json

    columns = [c.to_pylist() for c in table.columns]
    return (
        [json.dumps(list(row), default=repr, sort_keys=True) for row in zip(*columns, strict=True)]
        if columns
        else ["" for _ in range(table.num_rows)]
    )


class KeyRouter:
    """Sends each row to subtask ``hash(key) % n``; keyless queries use subtask 0."""

    def __init__(self, plan: Any, parallelism: int, udfs: list[Any]):
        from .planner import new_context

        self.key_sql = plan.shape.key_exprs
        self.key_table = plan.shape.key_table
        self.n = parallelism
        self.ctx = new_context(udfs) if self.key_sql and parallelism > 1 else None
        self.prepared: dict[Any, PreparedQuery] = {}  # key projections, planned once per input schema

    def route_keys(self, data: pa.Table, key_sql: list[str]) -> list[tuple[int, Any]]:
        """Route rows whose key columns are already computed (restored per-key state)."""
        if self.n == 1 or data.num_rows == 0 or self.ctx is None:
            return [(0, data)]
        return self._split(data, _key_hashes(self.ctx, key_sql, data, "__state_keys"))

    def _split(self, tbl: pa.Table | pa.RecordBatch, hashes: np.ndarray) -> list[tuple[int, Any]]:
        part = hashes % np.uint64(self.n)
        out = []
        for i in range(self.n):
            sel = np.nonzero(part == i)[0]
            if len(sel):
                out.append((i, tbl.take(pa.array(sel))))
        return out

    def route(self, table: str, data: pa.Table | pa.RecordBatch) -> list[tuple[int, Any]]:
        if self.n == 1 or data.num_rows == 0:
            return [(0, data)]
        if self.ctx is None or table != self.key_table:
            return [(0, data)]
        keyed = data.drop_columns([OP_COL]) if OP_COL in data.schema.names else data
        hashes = _key_hashes(self.ctx, self.key_sql, keyed, prepared=self.prepared)
        return self._split(data, hashes)


class IncrementalAggOp(_Base):
    """An updating aggregate kept as one state row per key (see incremental.py)."""

    STATE = "__state"

    def __init__(self, plan, schemas, udfs, state: dict[str, pa.Table] | None = None):
        super().__init__(plan, schemas, udfs)
        self.inc = plan.shape.incremental
        self.pending: list[pa.Table] = []
        self.state: pa.Table | None = (state or {}).get(self.STATE)
        if self.state is not None and self.state.num_rows == 0:
            self.state = None
        self.dirty_rows = 0
        self.max_ts = 0
        self._keys = plan.pair_keys

    def process(self, table: str, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        self.max_ts = max(self.max_ts, _max_ts(batch.column(TIME_COL)) or 0)
        _register(self.ctx, table, batch)
        for name, schema in self.schemas.items():
            if name != table:
                _register(self.ctx, name, _empty(schema))
        try:
            partial = _run(self.ctx, self.inc.partial_sql)
        except Exception as err:  # DataFusion raises plain exceptions
            raise QueryError(str(err).replace("DataFusion error: ", "")) from None
        if partial.num_rows:
            self.pending.append(partial)
        self.dirty_rows += batch.num_rows

    def flush(self) -> pa.Table | None:
        if self.dirty_rows == 0:
            return None
        self.dirty_rows = 0
        if not self.pending:
            return None
        partial = pa.concat_tables(self.pending, promote_options="permissive")
        self.pending = []
        keys = self.inc.keys
        if self.state is None:
            touched, rest = partial.slice(0, 0), None
        elif not keys:
            touched, rest = self.state, None
        else:
            on = " AND ".join(f"(s.{k} IS NOT DISTINCT FROM p.{k})" for k in keys)
            touched = self._sql(
                f"SELECT s.* FROM __s s LEFT SEMI JOIN __p p ON {on}", __s=self.state, __p=partial
            )
            rest = self._sql(f"SELECT s.* FROM __s s LEFT ANTI JOIN __p p ON {on}")
        merge_in = pa.concat_tables([touched.cast(partial.schema), partial]) if touched.num_rows else partial
        merged = self._sql(self.inc.merge_sql, __merge_in=merge_in)
        self.state = (
            pa.concat_tables([rest.cast(merged.schema), merged])
            if rest is not None and rest.num_rows
            else merged
        )
        before = self._final(touched.cast(partial.schema)) if touched.num_rows else None
        after = self._final(merged)
        if before is None:
            removed, added = after.slice(0, 0), after
        else:
            removed, added = _except_all(self.ctx, before, after), _except_all(self.ctx, after, before)
        if removed.num_rows == 0 and added.num_rows == 0:
            return None
        return _changelog(self.plan, self._keys, removed, added, self.max_ts)

    def _final(self, state: pa.Table) -> pa.Table:
        out = self._sql(self.inc.final_sql, __merged=state)
        return pa.Table.from_arrays(list(out.columns), names=[f"c{i}" for i in range(out.num_columns)])

    def snapshot(self) -> dict[str, pa.Table]:
        if self.pending:  # the runtime flushes before a checkpoint; keep partials safe regardless
            self.dirty_rows = max(self.dirty_rows, 1)
            self.flush()
        state = (
            self.state
            if self.state is not None
            else self._sql(self.inc.merge_sql, __merge_in=self._empty_partial())
        )
        return {self.STATE: state.slice(0, 0) if self.state is None else state}

    def _empty_partial(self) -> pa.Table:
        for name, schema in self.schemas.items():
            _register(self.ctx, name, _empty(schema))
        return _run(self.ctx, self.inc.partial_sql).slice(0, 0)
