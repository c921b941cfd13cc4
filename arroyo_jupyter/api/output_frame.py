"""The one function that turns a job's output into a DataFrame.

Used by ``frames.output_frame`` (OutputEvents from a stream), the output widget's
``to_pandas()`` and the preview magic, so every place names the same columns the same way.

Data columns keep the names the query gave them. What the stream adds about each row
(its row id, event time, sink, changelog op) goes in *namespaced* columns
(``arroyo.row_id``, ``arroyo.event_time``, ``arroyo.sink``, ``arroyo.op``) placed first,
so a result with its own ``timestamp``, ``id`` or ``sink`` column never collides with them.
Columns are learned from every row (a key first seen in the middle of a batch is kept).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["EVENT_TIME", "META_PREFIX", "OP", "ROW_ID", "SINK", "columns_of", "events_frame", "output_frame"]

META_PREFIX = "arroyo."
ROW_ID = META_PREFIX + "row_id"
EVENT_TIME = META_PREFIX + "event_time"
SINK = META_PREFIX + "sink"
OP = META_PREFIX + "op"


def columns_of(rows: Iterable[Any], known: Sequence[str] = ()) -> list[str]:
    """Column names in first-seen order over *all* rows (non-dict rows count as ``value``)."""
    seen = dict.fromkeys(known)
    first_keys = None
    for row in rows:
        keys = row.keys() if isinstance(row, dict) else ("value",)
        if keys == first_keys:
            continue  # the common case: every row has the same keys
        first_keys = keys
        for k in keys:
            if k not in seen:
                seen[k] = None
    return list(seen)


def _meta_name(name: str, data_columns: set[str]) -> str:
    """A metadata column's name, prefixed again in the unlikely case the data has it already."""
    while name in data_columns:
        name = META_PREFIX + name
    return name


def output_frame(
    rows: Sequence[Any] | pd.DataFrame,
    *,
    row_ids: Sequence[int] | np.ndarray | None = None,
    event_times_us: Sequence[int] | np.ndarray | None = None,
    sink: str | Sequence[str] | None = None,
    op: Sequence[str | None] | None = None,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Rows (dicts, or a DataFrame of them) and what the stream says about them → one DataFrame.

    Metadata columns come first, only those given: ``arroyo.sink``, ``arroyo.row_id``,
    ``arroyo.event_time`` (UTC), ``arroyo.op``. Nested values (windows, structs, lists)
    stay Python objects. ``columns`` fixes the data columns' order (extra keys are added).
    """
    n = len(rows)
    if isinstance(rows, pd.DataFrame):
        cols = list(dict.fromkeys([*(columns or ()), *rows.columns]))
        data = rows.reindex(columns=cols) if list(rows.columns) != cols else rows
    else:
        cols = columns_of(rows, columns or ())
        records = [r if isinstance(r, dict) else {"value": r} for r in rows]
        data = pd.DataFrame.from_records(records, columns=cols) if n else pd.DataFrame(columns=cols)
    names = set(cols)
    meta: dict[str, Any] = {}
    if sink is not None:
        meta[_meta_name(SINK, names)] = [sink] * n if isinstance(sink, str) else list(sink)
    if row_ids is not None:
        meta[_meta_name(ROW_ID, names)] = np.asarray(row_ids, dtype="int64")
    if event_times_us is not None:
        stamps = np.asarray(event_times_us, dtype="int64")
        if len(stamps) != n:  # a malformed event with fewer timestamps than rows
            stamps = np.resize(stamps, n) if len(stamps) else np.zeros(n, dtype="int64")
        meta[_meta_name(EVENT_TIME, names)] = pd.to_datetime(stamps, unit="us", utc=True)
    if op is not None:
        meta[_meta_name(OP, names)] = list(op)
    for name, values in meta.items():
        if len(values) != n:
            raise ValueError(f"{name}: {len(values)} values for {n} rows")
    if not meta:
        return data
    head = pd.DataFrame(meta, index=data.index)
    return pd.concat([head, data], axis=1)


def events_frame(events: Iterable[Any]) -> pd.DataFrame:
    """OutputEvents (from ``stream_output`` / ``follow_output``) → :func:`output_frame`.

    Run boundaries and other non-events in the iterable are skipped.
    """
    rows: list[Any] = []
    ids: list[int] = []
    stamps: list[int] = []
    sinks: list[str] = []
    for ev in events:
        ev_rows = getattr(ev, "rows", None)
        if ev_rows is None:
            continue
        k = len(ev_rows)
        rows += ev_rows
        ids += range(ev.start_id, ev.start_id + k)
        ts = list(ev.timestamps[:k])
        stamps += ts + [0] * (k - len(ts))
        sinks += [ev.operator_id] * k
    return output_frame(rows, row_ids=ids, event_times_us=stamps, sink=sinks)
