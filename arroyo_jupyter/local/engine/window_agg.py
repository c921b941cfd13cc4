"""Tumbling and hopping window aggregates kept as partial aggregates, not raw rows.

For a windowed ``GROUP BY`` whose aggregates merge (COUNT, SUM, MIN, MAX, AVG as sum + count,
COUNT(DISTINCT x) as each key's distinct values; see incremental.py), every input batch is
assigned its windows and pre-aggregated per (window, key) — by pyarrow's hash aggregates
over the query's row-wise projection (prepared once; checked against DataFusion's partial
statement on the first batch), or by that statement — and the partials are merged now and then, and when the watermark closes a window its merged partials are finalized
into the query's result rows. State (and checkpoints) hold one row per open window and key,
however many rows arrived. Other windowed queries keep their rows (``WindowedOp``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .operators import (
    NEG_INF,
    POS_INF,
    QueryError,
    _Base,
    _conform,
    _ts_ns,
    _window_struct,
    _window_time,
    _with_window,
)
from .prepared import PreparedQuery
from .translate import TIME_COL

COMPACT_PARTS = 32  # merge the partials once this many batches were pre-aggregated


class WindowedAggOp(_Base):
    STATE = "__partials"

    def __init__(self, plan, schemas, udfs, state: dict[str, pa.Table] | None = None, emitted: int = NEG_INF):
        super().__init__(plan, schemas, udfs)
        self.window = plan.window
        self.inc = plan.shape.incremental
        self.emitted = emitted  # windows ending at or before this are closed and emitted
        self.late_rows = 0
        self.parts: list[pa.Table] = []
        self._compact: pa.Table | None = None  # parts[0] when it is already merged
        self.min_end = POS_INF  # the earliest end of a window with partials
        empty = {
            n: _with_window(s.empty_table(), np.zeros(0, np.int64), np.zeros(0, np.int64))
            for n, s in self.schemas.items()
        }
        self.names = self._sql(self.sql, **empty).schema.names  # the raw query's column names
        self.empty_partial = self._sql(self.inc.partial_sql, **empty)
        self.rows: PreparedQuery | None = None  # the pyarrow partial path (None: DataFusion's)
        self._checked = False
        if self.inc.rows_sql is not None:
            from .planner import new_context

            try:
                self.rows = PreparedQuery(new_context(udfs), self.inc.rows_sql, self.schemas)
            except Exception:  # not plannable alone: the partial statement does the work
                self.rows = None
        state = state or {}
        restored = state.get(self.STATE)
        if restored is not None and restored.num_rows:
            self._add(_conform(restored, self.empty_partial.schema))
        for name, rows in state.items():  # raw rows (a checkpoint of the row-keeping path)
            if name in self.schemas and rows.num_rows:
                for batch in _conform(rows, self.schemas[name]).to_batches():
                    self.process(name, batch)

    def _ends(self, partials: pa.Table) -> np.ndarray:
        window = partials.column(self.inc.window_key)
        return _ts_ns(pc.struct_field(window, "end"))

    def _add(self, partial: pa.Table) -> None:
        if partial.num_rows == 0:
            return
        self.parts.append(partial)
        self.min_end = min(self.min_end, int(self._ends(partial).min()))
        if len(self.parts) >= COMPACT_PARTS:
            self.parts = [self._merged()]

    def _merged(self) -> pa.Table:
        """All partials merged: one row per (window, key)."""
        if not self.parts:
            return self.empty_partial
        if len(self.parts) == 1 and self._compact is self.parts[0]:
            return self.parts[0]
        merged = self._sql(self.inc.merge_sql, __merge_in=pa.concat_tables(self.parts))
        merged = merged.cast(self.empty_partial.schema)
        self.parts = [merged]
        self._compact = merged
        return merged

    def _windows(self, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(row index, window start) of every window of every row that is not closed yet."""
        w = self.window
        first = (ts // w.slide) * w.slide  # the latest window start of each row
        idx_parts, start_parts = [], []
        for j in range(w.width // w.slide):
            start = first - j * w.slide
            sel = np.nonzero(start + w.width > self.emitted)[0]
            if len(sel):
                idx_parts.append(sel)
                start_parts.append(start[sel])
        if not idx_parts:
            return None
        return np.concatenate(idx_parts), np.concatenate(start_parts)

    def process(self, table: str, batch: pa.RecordBatch) -> None:
        w = self.window
        ts = _ts_ns(batch.column(TIME_COL))
        late = (ts // w.slide) * w.slide + w.width <= self.emitted
        if late.any():
            self.late_rows += int(late.sum())
        if self.rows is not None:
            partial = self._arrow_partial(table, batch)
            if not self._checked:  # the first batch both ways: any difference and DataFusion does it
                self._checked = True
                slow = self._sql_partial(table, batch)
                if partial is None or slow is None or _normal(partial) != _normal(slow):
                    self.rows, partial = None, slow
        else:
            partial = self._sql_partial(table, batch)
        if partial is not None:
            self._add(partial)

    def _sql_partial(self, table: str, batch: pa.RecordBatch) -> pa.Table | None:
        ts = _ts_ns(batch.column(TIME_COL))
        found = self._windows(ts)
        if found is None:
            return None
        idx, starts = found
        rows = pa.Table.from_batches([batch])
        if len(idx) < len(ts) or not (idx[1:] > idx[:-1]).all():
            rows = rows.take(pa.array(idx))
        inputs = {
            n: _with_window(s.empty_table(), np.zeros(0, np.int64), np.zeros(0, np.int64))
            for n, s in self.schemas.items()
            if n != table
        }
        inputs[table] = _with_window(rows, starts, starts + self.window.width)
        return self._sql(self.inc.partial_sql, **inputs).cast(self.empty_partial.schema)

    def _arrow_partial(self, table: str, batch: pa.RecordBatch) -> pa.Table | None:
        assert self.rows is not None
        try:
            rows = self.rows.run({table: batch})
        except Exception as err:  # DataFusion raises plain exceptions
            raise QueryError(str(err).replace("DataFusion error: ", "")) from None
        if rows.num_rows == 0:
            return None
        found = self._windows(_ts_ns(rows.column("__t")))
        if found is None:
            return None
        idx, starts = found
        if len(idx) < rows.num_rows or not (idx[1:] > idx[:-1]).all():
            rows = rows.take(pa.array(idx))
        rows = rows.drop_columns(["__t"]).append_column("__ws", pa.array(starts))
        inc = self.inc
        keys = [k for k in inc.keys if k != inc.window_key] + ["__ws"]
        aggs: list = []
        for col, fn in inc.arrow_aggs:
            if fn == "count_all":
                aggs.append(([], "count_all"))
            elif fn == "distinct":
                aggs.append((col, "distinct", pc.CountOptions(mode="only_valid")))
            else:
                aggs.append((col, fn))
        grouped = rows.group_by(keys, use_threads=False).aggregate(aggs)
        ws = grouped.column("__ws").to_numpy()
        columns = {k: grouped.column(k) for k in keys[:-1]}
        columns[inc.window_key] = _window_struct(ws, ws + self.window.width)
        for col, fn in inc.arrow_aggs:
            values = grouped.column("count_all" if fn == "count_all" else f"{col}_{fn}")
            if fn == "distinct":  # no values: NULL, as array_agg(…) FILTER (…) of no rows
                values = pc.if_else(
                    pc.equal(pc.list_value_length(values), 0), pa.scalar(None, values.type), values
                )
            columns[col] = values
        names = self.empty_partial.schema.names
        return pa.table([columns[n] for n in names], names=names).cast(self.empty_partial.schema)

    def on_watermark(self, wm: int) -> pa.Table | None:
        if wm <= self.emitted:
            return None
        if wm < self.min_end:  # no window closes: only the lateness bound moves
            self.emitted = wm
            return None
        data = self._merged()
        ends = self._ends(data)
        closed = ends <= wm
        rest = data.filter(pa.array(~closed))
        self.parts = [rest] if rest.num_rows else []
        self._compact = rest
        self.min_end = int(ends[~closed].min()) if rest.num_rows else POS_INF
        previous, self.emitted = self.emitted, wm
        if not closed.any():
            return None
        final = self._sql(self.inc.final_sql, __merged=data.filter(pa.array(closed)))
        result = pa.Table.from_arrays(list(final.columns), names=self.names)
        fallback = min(wm, int(ends[closed].max())) - 1 if previous < wm else wm
        return self.output(_window_time(result, self.plan.shape.window_alias_index), fallback)

    def snapshot(self) -> dict[str, pa.Table]:
        return {self.STATE: self._merged()}


def _normal(table: pa.Table) -> list[str]:
    """Rows as comparable text: lists as sets, floats to 9 digits (sums may add in another order)."""

    def value(v):
        if isinstance(v, float):
            return f"{v:.9g}"
        if isinstance(v, list):
            return sorted(map(repr, v))
        if isinstance(v, dict):
            return {k: value(x) for k, x in v.items()}
        return v

    return sorted(repr([value(v) for v in row.values()]) for row in table.to_pylist())
