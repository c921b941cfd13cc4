"""API models → pandas DataFrames, built column by column (no per-row DataFrame work).

The one place each table is defined: ``charts.py`` draws these frames and the widgets
show them, so a number in a table and in the chart beside it come from the same rows.
Every µs timestamp becomes a timezone-aware UTC datetime column; durations are
``Timedelta``s beside their raw µs; missing values are ``<NA>``/``NaT``/``None``.
Functions accept models, client handles or plain dicts in the API's shapes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BACKPRESSURE_LEVELS",
    "WholeTextFrame",
    "backpressure_level",
    "checkpoint_bytes_frame",
    "checkpoint_spans_frame",
    "checkpoints_frame",
    "error_groups_frame",
    "errors_frame",
    "jobs_frame",
    "metrics_frame",
    "normalise_message",
    "operator_metrics_frame",
    "operator_order",
    "operator_summary_frame",
    "output_frame",
    "pipelines_frame",
]


class _Fields:
    """Attribute access over a dict in the API's shape (so frames take models or dicts)."""

    __slots__ = ("_d",)

    def __init__(self, d: Mapping[str, Any]) -> None:
        self._d = d

    def __getattr__(self, name: str) -> Any:
        value = self._d.get(name)
        if isinstance(value, list):
            return [_Fields(v) if isinstance(v, Mapping) else v for v in value]
        return value


def _models(items: Iterable[Any] | None) -> list[Any]:
    """Unwrap handles (``.model``) so frames work on what the client returns; dicts too."""
    out = []
    for x in items or []:
        x = getattr(x, "model", x)
        out.append(_Fields(x) if isinstance(x, Mapping) else x)
    return out


def field(obj: Any, name: str, default: Any = None) -> Any:
    """A field of an API model, handle or dict in the API's shape."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(getattr(obj, "model", obj), name, default)


class WholeTextFrame(pd.DataFrame):
    """A DataFrame that shows its text cells whole in notebooks (no "…" truncation).

    Error messages are read in full or not at all, so frames derived from this one (a
    filter, a column selection) show them whole too. It is a ``pd.DataFrame`` in every way.
    """

    @property
    def _constructor(self) -> type[pd.DataFrame]:
        return WholeTextFrame

    def _repr_html_(self) -> str | None:
        with pd.option_context("display.max_colwidth", None):
            return super()._repr_html_()

    def __repr__(self) -> str:
        with pd.option_context("display.max_colwidth", None, "display.max_columns", None):
            return super().__repr__()


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


def errors_frame(messages: Iterable[Any]) -> WholeTextFrame:
    """The job's log, one row a message, in the server's order (newest first); text shown whole."""
    ms = _models(messages)
    return WholeTextFrame(
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


# What varies between two occurrences of the same error: ids (uuids, hex, prefixed ids
# such as jlm_8f3a…), then any number (positions, counts, values; 1,5 and 1.5 alike).
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_PREFIXED_ID = re.compile(r"\b[a-z]{1,8}_(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{6,}\b")
_HEX = re.compile(r"\b(?:0x)?(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b")
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?\d+(?:[.,]\d+)*(?:[eE][-+]?\d+)?")


def normalise_message(message: Any) -> str:
    """The message with ids and numbers masked (``<id>``, ``N``): one pattern per kind of error.

    ``"bad data in line 14 of orders.json: '17,75'"`` → ``"bad data in line N of orders.json: 'N'"``.
    Words that merely contain digits (``source_impulse_1``, ``utf8``) stay as they are.
    """
    text = "" if message is None else str(message)
    text = _UUID.sub("<id>", text)
    text = _PREFIXED_ID.sub("<id>", text)
    text = _HEX.sub("<id>", text)
    return _NUMBER.sub("N", text)


_GROUP_COLUMNS = ["operator_id", "pattern", "count", "first_seen", "last_seen", "example"]


def error_groups_frame(errors: Any) -> WholeTextFrame:
    """Errors grouped by operator and normalised message: count, first/last seen, an example.

    ``errors`` is ``errors_frame(...)``'s frame (e.g. ``%arroyo errors NAME --all``) or the
    messages themselves. Job-level messages (no operator) group under ``operator_id`` None.
    Most frequent first; ``example`` is the latest whole message of the group.
    """
    df = errors if isinstance(errors, pd.DataFrame) else errors_frame(errors)
    if df.empty:
        return WholeTextFrame({c: pd.Series(dtype=object) for c in _GROUP_COLUMNS})
    work = pd.DataFrame(
        {
            "operator_id": df["operator_id"].astype(object).where(df["operator_id"].notna(), ""),
            "pattern": df["message"].map(normalise_message),
            "created_at": df["created_at"],
            "message": df["message"],
        }
    ).sort_values("created_at", kind="stable")
    grouped = work.groupby(["operator_id", "pattern"], sort=False).agg(
        count=("message", "size"),
        first_seen=("created_at", "min"),
        last_seen=("created_at", "max"),
        example=("message", "last"),
    )
    out = grouped.reset_index().sort_values(["count", "last_seen"], ascending=False, kind="stable")
    out["operator_id"] = pd.Series([v or None for v in out["operator_id"]], index=out.index, dtype=object)
    return WholeTextFrame(out[_GROUP_COLUMNS].reset_index(drop=True))


def checkpoints_frame(checkpoints: Any) -> pd.DataFrame:
    """One row an epoch, oldest first; ``finish_time``/``duration`` missing while in progress.

    A frame this function made is returned as is (so charts take either)."""
    if isinstance(checkpoints, pd.DataFrame):
        return checkpoints
    cs = _models(checkpoints)
    start = _ints([c.start_time for c in cs])
    finish = _ints([c.finish_time or None for c in cs])
    duration = finish - start
    return (
        pd.DataFrame(
            {
                "epoch": _ints([c.epoch for c in cs]),
                "checkpoint_type": [c.checkpoint_type for c in cs],
                "backend": [c.backend for c in cs],
                "start_time": _times(start),
                "finish_time": _times(finish),
                "duration_micros": duration,
                "duration": pd.to_timedelta(duration, unit="us"),
            }
        )
        .sort_values("epoch", kind="stable")
        .reset_index(drop=True)
    )


_SUFFIX = re.compile(r"_(\d+)$")


def operator_order(operator_id: Any) -> tuple[int, str]:
    """Sort key for operators, Arroyo's console order: the number after the last ``_``
    (which is the node id), then the name. Node ids (ints) sort by themselves."""
    if isinstance(operator_id, (int, np.integer)):
        return (int(operator_id), "")
    found = _SUFFIX.search(str(operator_id))
    return (int(found.group(1)) if found else 1 << 30, str(operator_id))


def checkpoint_bytes_frame(groups: Iterable[Any]) -> pd.DataFrame:
    """Bytes one epoch wrote, one row an operator subtask: operator_id, subtask (by position,
    as the console numbers them), bytes (<NA> where the server reported none). Operators in
    the console's order; an operator without subtasks has one row with subtask <NA>."""
    ops: list[Any] = []
    subtasks: list[Any] = []
    sizes: list[Any] = []
    for group in sorted(_models(groups), key=lambda g: operator_order(g.operator_id)):
        subs = group.subtasks or []
        for position, subtask in enumerate(subs):
            ops.append(group.operator_id)
            subtasks.append(position)
            sizes.append(subtask.bytes)
        if not subs:
            ops.append(group.operator_id)
            subtasks.append(None)
            sizes.append(None)
    return pd.DataFrame({"operator_id": ops, "subtask": _ints(subtasks), "bytes": _ints(sizes)})


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
    cp = _models([checkpoint])[0] if checkpoint is not None else None
    if cp is not None:
        for span in cp.events:
            rows.append((None, None, span.event, span.description, span.start_time, span.finish_time, None))
    for group in sorted(_models(groups), key=lambda g: operator_order(g.operator_id)):
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
    # field() rather than _models(): a 5-minute window is ~10^5 points, read once each.
    for group in groups or []:
        node_id = field(group, "node_id")
        for mg in field(group, "metric_groups") or []:
            name = field(mg, "name")
            name = str(getattr(name, "value", name))  # str or a MetricName enum
            for sub in field(mg, "subtasks") or []:
                points = field(sub, "metrics") or []
                n = len(points)
                node_ids += [node_id] * n
                names += [name] * n
                subtasks += [field(sub, "index")] * n
                if points and isinstance(points[0], Mapping):
                    times += [p["time"] for p in points]
                    values += [p["value"] for p in points]
                else:
                    times += [p.time for p in points]
                    values += [p.value for p in points]
    return pd.DataFrame(
        {
            "node_id": np.array(node_ids, dtype="int64"),
            "metric": names,
            "subtask": np.array(subtasks, dtype="int64"),
            "time": pd.to_datetime(np.array(times, dtype="int64"), unit="us", utc=True),
            "value": np.array(values, dtype="float64"),
        }
    )


BACKPRESSURE_LEVELS = ((0.33, "LOW"), (0.66, "MEDIUM"), (float("inf"), "HIGH"))
# How subtasks add up to an operator, as Arroyo's console does: rates are summed,
# backpressure is the worst (max) subtask.
_SUBTASK_AGGREGATION = {"backpressure": "max"}
METRICS_WINDOW_S = 300.0  # the server keeps 5 minutes


def backpressure_level(value: float | None) -> str | None:
    """LOW < 0.33 <= MEDIUM < 0.66 <= HIGH (Arroyo's console thresholds); None for no value."""
    if value is None or value != value:
        return None
    for bound, name in BACKPRESSURE_LEVELS:
        if value < bound:
            return name
    return "HIGH"


def operator_metrics_frame(
    groups: Iterable[Any], *, window_s: float = METRICS_WINDOW_S, per_subtask: bool = False
) -> pd.DataFrame:
    """The metrics table charts and widgets share: node_id, metric, [subtask,] time, value.

    Only the last ``window_s`` seconds (counted back from the newest point). By default one
    series per operator: at every sample time each subtask counts with its latest value so
    far, then rates are summed and backpressure is the max over subtasks, so the last row
    of a series is exactly the console's "now" number. ``per_subtask`` keeps subtasks apart.
    """
    df = metrics_frame(groups)
    if not df.empty:
        df = df[df["time"] >= df["time"].max() - pd.Timedelta(seconds=window_s)]
    if per_subtask or df.empty:
        cols = (
            ["node_id", "metric", "subtask", "time", "value"]
            if per_subtask
            else ["node_id", "metric", "time", "value"]
        )
        return df.sort_values(["node_id", "metric", "subtask", "time"], kind="stable")[cols].reset_index(
            drop=True
        )
    keys = ["node_id", "metric"]
    subtasks = df.groupby(keys)["subtask"].transform("nunique")
    if (df.groupby([*keys, "time"])["subtask"].transform("size") == subtasks).all():
        # The usual case: every subtask sampled at the same times (the server samples them
        # together), so each time's value is already each subtask's latest: aggregate directly.
        grouped = df.groupby([*keys, "time"], sort=True)["value"]
        out = pd.concat(
            [
                grouped.sum().rename("sum"),
                grouped.max().rename("max"),
            ],
            axis=1,
        ).reset_index()
        is_max = out["metric"].map(lambda m: _SUBTASK_AGGREGATION.get(str(m), "sum") == "max")
        out["value"] = np.where(is_max, out["max"], out["sum"])
        return out[["node_id", "metric", "time", "value"]]
    parts = []
    for metric, part in df.groupby("metric", sort=True):
        part = part.drop_duplicates(["time", "node_id", "subtask"], keep="last")
        wide = part.pivot(index="time", columns=["node_id", "subtask"], values="value")
        wide = wide.sort_index().ffill()  # a subtask's latest value holds until its next sample
        by_node = wide.T.groupby(level="node_id")
        if _SUBTASK_AGGREGATION.get(str(metric), "sum") == "max":
            per_node = by_node.max().T  # NaN-skipping; all-NaN stays NaN
        else:
            per_node = by_node.sum(min_count=1).T
        long = per_node.stack().rename("value").reset_index()
        long["metric"] = metric
        parts.append(long)
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(["node_id", "metric", "time"], kind="stable").reset_index(drop=True)
    return out[["node_id", "metric", "time", "value"]]


def operator_summary_frame(
    groups: Iterable[Any], graph: Any = None, *, window_s: float = METRICS_WINDOW_S
) -> pd.DataFrame:
    """One row an operator "now": the last point of each ``operator_metrics_frame`` series.

    Columns: node_id, operator, parallelism, messages_recv, messages_sent (events/s, summed
    over subtasks), backpressure (max over subtasks), backpressure_level, time. Operators of
    ``graph`` without metrics yet have missing values; order is the console's.
    """
    series = operator_metrics_frame(groups, window_s=window_s)
    last = series.groupby(["node_id", "metric"], sort=False).last()
    values = last["value"].unstack("metric") if not last.empty else pd.DataFrame()
    when = last["time"].groupby(level="node_id").max() if not last.empty else pd.Series(dtype=object)
    nodes = _models(field(graph, "nodes") or []) if graph is not None else []
    names = {n.node_id: n.operator for n in nodes}
    parallelism = {n.node_id: n.parallelism for n in nodes}
    ids = sorted(set(names) | set(values.index), key=operator_order)

    def col(metric: str) -> list[float]:
        if metric not in values:
            return [np.nan] * len(ids)
        return [float(values[metric].get(i, np.nan)) for i in ids]

    bp = col("backpressure")
    return pd.DataFrame(
        {
            "node_id": pd.array(ids, dtype="Int64"),
            "operator": [names.get(i, str(i)) for i in ids],
            "parallelism": _ints([parallelism.get(i) for i in ids]),
            "messages_recv": col("messages_recv"),
            "messages_sent": col("messages_sent"),
            "backpressure": bp,
            "backpressure_level": [backpressure_level(v) for v in bp],
            "time": pd.Series([when.get(i, pd.NaT) for i in ids], dtype="datetime64[ns, UTC]"),
        }
    )


def output_frame(events: Iterable[Any]) -> pd.DataFrame:
    """Rows of OutputEvents as the output widget's ``to_pandas()`` gives them: the one
    output→DataFrame function (``api.output_frame``). Metadata columns are namespaced and
    come first (``arroyo.sink``, ``arroyo.row_id`` = start_id + i, ``arroyo.event_time``),
    so a result's own ``timestamp``/``id``/``sink`` columns never collide; nested values
    (windows, Debezium ``before``/``after``) stay as dicts."""
    from .api.output_frame import events_frame

    return events_frame(events)
