"""API models → pandas DataFrames, built column by column (no per-row DataFrame work).

Every µs timestamp becomes a timezone-aware UTC datetime column; durations are
``Timedelta``s beside their raw µs. Functions accept models or client handles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "checkpoint_spans_frame",
    "checkpoints_frame",
    "errors_frame",
    "jobs_frame",
    "metrics_frame",
    "output_frame",
    "pipelines_frame",
]


def _models(items: Iterable[Any]) -> list[Any]:
    """Unwrap handles (``.model``) so frames work on what the client returns."""
    return [getattr(x, "model", x) for x in items]


def _times(micros: Sequence[Any]) -> pd.Series:
    """µs since the epoch (None allowed) → tz-aware UTC datetimes (NaT for None)."""
    values = pd.array(list(micros), dtype="Int64")
    return pd.Series(pd.to_datetime(values, unit="us", utc=True))


def _ints(values: Sequence[Any]) -> pd.Series:
    return pd.Series(pd.array(list(values), dtype="Int64"))


def pipelines_frame(pipelines: Iterable[Any]) -> pd.DataFrame:
    ps = _models(pipelines)
    return pd.DataFrame(
        {
            "id": [p.id for p in ps],
            "name": [p.name for p in ps],
            "stop": [p.stop for p in ps],
            "action_text": [p.action_text for p in ps],
            "action_in_progress": [p.action_in_progress for p in ps],
            "preview": [p.preview for p in ps],
            "parallelism": _ints([p.parallelism for p in ps]),
            "checkpoint_interval_micros": _ints([p.checkpoint_interval_micros for p in ps]),
            "created_at": _times([p.created_at for p in ps]),
            "tags": [dict(p.tags) for p in ps],
            "query": [p.query for p in ps],
        }
    )


def jobs_frame(jobs: Iterable[Any]) -> pd.DataFrame:
    js = list(jobs)
    pipeline_ids = [getattr(j, "pipeline_id", None) for j in js]
    ms = _models(js)
    start = _times([j.start_time for j in ms])
    finish = _times([j.finish_time for j in ms])
    return pd.DataFrame(
        {
            "id": [j.id for j in ms],
            "pipeline_id": [pid or j.pipeline_id for pid, j in zip(pipeline_ids, ms, strict=True)],
            "state": [j.state for j in ms],
            "running_desired": [j.running_desired for j in ms],
            "run_id": _ints([j.run_id for j in ms]),
            "tasks": _ints([j.tasks for j in ms]),
            "start_time": start,
            "finish_time": finish,
            "runtime": finish - start,
            "created_at": _times([j.created_at for j in ms]),
            "failure": [j.failure for j in ms],
            "failure_domain": [j.failure_reason.domain if j.failure_reason else None for j in ms],
        }
    )


def errors_frame(messages: Iterable[Any]) -> pd.DataFrame:
    ms = _models(messages)
    return pd.DataFrame(
        {
            "id": [e.id for e in ms],
            "created_at": _times([e.created_at for e in ms]),
            "level": [e.level for e in ms],
            "operator_id": [e.operator_id for e in ms],
            "task_index": _ints([e.task_index for e in ms]),
            "message": [e.message for e in ms],
            "details": [e.details for e in ms],
            "error_domain": [e.error_domain for e in ms],
        }
    )


def checkpoints_frame(checkpoints: Iterable[Any]) -> pd.DataFrame:
    cs = _models(checkpoints)
    duration = _ints([c.duration_micros for c in cs])
    return pd.DataFrame(
        {
            "epoch": _ints([c.epoch for c in cs]),
            "checkpoint_type": [c.checkpoint_type for c in cs],
            "backend": [c.backend for c in cs],
            "start_time": _times([c.start_time for c in cs]),
            "finish_time": _times([c.finish_time for c in cs]),
            "duration_micros": duration,
            "duration": pd.to_timedelta(duration, unit="us"),
        }
    )


_SUFFIX = re.compile(r"_(\d+)$")


def _operator_order(operator_id: str) -> tuple[int, str]:
    """Arroyo's console sorts operators by the number after their last ``_``."""
    found = _SUFFIX.search(operator_id)
    return (int(found.group(1)) if found else 1 << 30, operator_id)


_SPAN_COLUMNS = ["operator_id", "subtask", "event", "description", "start", "finish", "duration", "bytes"]


def checkpoint_spans_frame(groups: Iterable[Any], checkpoint: Any = None) -> pd.DataFrame:
    """One row a span, times in µs relative to the checkpoint's start.

    With ``checkpoint`` its job-level events come first (``operator_id`` None) and
    times are relative to its ``start_time``; otherwise to the earliest span. Each
    operator has a ``metadata`` row (subtask None) when both its times are known;
    subtasks are numbered by position, as Arroyo's console does. ``finish`` is
    missing (<NA>) for spans still open.
    """
    rows: list[tuple[Any, ...]] = []
    cp = getattr(checkpoint, "model", checkpoint)
    if cp is not None:
        for span in cp.events:
            rows.append((None, None, span.event, span.description, span.start_time, span.finish_time, None))
    for group in sorted(_models(groups), key=lambda g: _operator_order(g.operator_id)):
        if group.started_metadata_write is not None and group.finish_time is not None:
            rows.append(
                (group.operator_id, None, "metadata", "Writing operator metadata",
                 group.started_metadata_write, group.finish_time, group.bytes)
            )  # fmt: skip
        for position, subtask in enumerate(group.subtasks):
            for span in subtask.event_spans:
                rows.append(
                    (group.operator_id, position, span.event, span.description,
                     span.start_time, span.finish_time, subtask.bytes)
                )  # fmt: skip
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _SPAN_COLUMNS})
    start_abs = np.array([r[4] for r in rows], dtype="int64")
    finish_abs = np.array([r[5] for r in rows], dtype="int64")
    origin = cp.start_time if cp is not None else int(start_abs.min())
    open_span = finish_abs == 0  # Arroyo sends 0 for "not finished yet"
    start = start_abs - origin
    finish = pd.array(np.where(open_span, 0, finish_abs - origin), dtype="Int64")
    finish[open_span] = pd.NA
    return pd.DataFrame(
        {
            "operator_id": [r[0] for r in rows],
            "subtask": _ints([r[1] for r in rows]),
            "event": [r[2] for r in rows],
            "description": [r[3] for r in rows],
            "start": start,
            "finish": finish,
            "duration": finish - start,
            "bytes": _ints([r[6] for r in rows]),
        }
    )


def metrics_frame(groups: Iterable[Any]) -> pd.DataFrame:
    """Long form: one row per (node_id, metric, subtask, time) point."""
    node_ids: list[int] = []
    names: list[str] = []
    subtasks: list[int] = []
    times: list[int] = []
    values: list[float] = []
    for group in _models(groups):
        for mg in group.metric_groups:
            for sub in mg.subtasks:
                n = len(sub.metrics)
                node_ids += [group.node_id] * n
                names += [mg.name] * n
                subtasks += [sub.index] * n
                times += [p.time for p in sub.metrics]
                values += [p.value for p in sub.metrics]
    return pd.DataFrame(
        {
            "node_id": np.array(node_ids, dtype="int64"),
            "metric": names,
            "subtask": np.array(subtasks, dtype="int64"),
            "time": pd.to_datetime(np.array(times, dtype="int64"), unit="us", utc=True),
            "value": np.array(values, dtype="float64"),
        }
    )


def output_frame(events: Iterable[Any]) -> pd.DataFrame:
    """Rows of OutputEvents, with ``row_id`` (start_id + i) and ``event_time`` first.

    Nested values (windows, Debezium ``before``/``after``) stay as dicts.
    """
    evs = list(events)
    rows: list[Any] = []
    for ev in evs:
        rows += ev.rows
    counts = np.array([len(ev.rows) for ev in evs], dtype="int64")
    starts = np.array([ev.start_id for ev in evs], dtype="int64")
    # row ids: each event's start_id repeated, plus the position inside the event
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    row_ids = np.repeat(starts, counts) + offsets
    stamps = np.array([t for ev in evs for t in ev.timestamps[: len(ev.rows)]], dtype="int64")
    frame = pd.DataFrame.from_records(rows) if rows else pd.DataFrame()
    if len(stamps) != len(rows):  # a malformed event with fewer timestamps than rows
        stamps = np.resize(stamps, len(rows)) if len(stamps) else np.zeros(len(rows), dtype="int64")
    frame.insert(0, "event_time", pd.to_datetime(stamps, unit="us", utc=True))
    frame.insert(0, "row_id", row_ids)
    return frame
