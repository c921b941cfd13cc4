"""Plotly figures for checkpoints, metrics and the pipeline graph.

Every function takes what the client returns (API models), plain dicts in the API's
shapes, or (for checkpoint lists) a DataFrame, and returns a ``go.Figure`` that can be
shown, saved or exported without any widget. Building is vectorised: one trace per span
type / metric, never one per bar, so 64 operators x 64 subtasks or 10,000 epochs build fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "GLOBAL_EVENTS",
    "SUBTASK_EVENTS",
    "backpressure_level",
    "checkpoint_bytes",
    "checkpoint_hint",
    "checkpoint_history",
    "checkpoint_spans",
    "checkpoint_table",
    "checkpoint_timeline",
    "format_bytes",
    "format_duration",
    "metrics_figure",
    "metrics_long",
    "pipeline_graph",
]

GLOBAL_EVENTS = ("Checkpointing", "CheckpointingOperators", "WritingMetadata", "Compacting", "Committing")
SUBTASK_EVENTS = ("Alignment", "Sync", "Async", "Committing")
# Tableau10, as Arroyo's console colours its spans (one colour per span type).
_COLOURS = {
    "Checkpointing": "#4e79a7",
    "CheckpointingOperators": "#f28e2b",
    "WritingMetadata": "#e15759",
    "Compacting": "#76b7b2",
    "Committing": "#59a14f",
    "metadata": "#edc948",
    "Alignment": "#b07aa1",
    "Sync": "#ff9da7",
    "Async": "#9c755f",
}
ROW_PX = 18  # per lane, like the console
MAX_TIMELINE_PX = 900  # taller timelines open scrolled to the top; pan/zoom shows the rest
BACKPRESSURE_LEVELS = ((0.33, "LOW"), (0.66, "MEDIUM"), (float("inf"), "HIGH"))


# ---------------------------------------------------------------- small helpers


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """A field of an API model or of a dict in the API's shape."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def format_duration(micros: float | None) -> str:
    """Arroyo console style: x.y ms below 1 s, whole ms below 10 s, then s / m:ss / h:mm:ss."""
    if micros is None or micros != micros:  # None or NaN
        return "-"
    ms = micros / 1000
    if ms < 1000:
        return f"{ms:.1f} ms"
    if ms < 10_000:
        return f"{ms:.0f} ms"
    s = int(ms // 1000)
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}:{s:02d}"
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}"


def format_bytes(n: float | None) -> str:
    if n is None or n != n:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def backpressure_level(value: float) -> str:
    """LOW < 0.33 <= MEDIUM < 0.66 <= HIGH (Arroyo's console thresholds)."""
    for bound, name in BACKPRESSURE_LEVELS:
        if value < bound:
            return name
    return "HIGH"


def _operator_sort_key(operator_id: str) -> tuple[int, str]:
    """The console sorts operators by the number after the last ``_``."""
    tail = str(operator_id).rsplit("_", 1)[-1]
    return (int(tail) if tail.isdigit() else 1 << 30, str(operator_id))


# ---------------------------------------------------------------- checkpoints


def checkpoint_table(checkpoints: Any) -> pd.DataFrame:
    """Checkpoints (models, dicts or a DataFrame) as one row per epoch.

    Columns: epoch, start_time (µs), finish_time (µs, NaN while running), duration_us,
    start (UTC datetime), checkpoint_type.
    """
    if isinstance(checkpoints, pd.DataFrame):
        df = checkpoints.copy()
    else:
        cps = list(checkpoints)
        df = pd.DataFrame(
            {
                "epoch": [_get(c, "epoch") for c in cps],
                "start_time": [_get(c, "start_time") for c in cps],
                "finish_time": [_get(c, "finish_time") for c in cps],
                "checkpoint_type": [_get(c, "checkpoint_type") for c in cps],
            }
        )
    for col in ("epoch", "start_time", "finish_time"):
        if col not in df:
            raise ValueError(f"checkpoints need a {col!r} column (got {list(df.columns)})")
        if not pd.api.types.is_numeric_dtype(df[col]):
            # A DataFrame from frames.py may carry datetimes: back to µs.
            if pd.api.types.is_datetime64_any_dtype(df[col]):
                df[col] = df[col].astype("int64") // 1000
            else:
                df[col] = pd.to_numeric(df[col], errors="coerce")
    df["finish_time"] = df["finish_time"].astype("float64")
    df["start_time"] = df["start_time"].astype("float64")
    df["duration_us"] = df["finish_time"] - df["start_time"]
    df["start"] = pd.to_datetime(df["start_time"], unit="us", utc=True)
    if "checkpoint_type" not in df:
        df["checkpoint_type"] = None
    return df.sort_values("epoch", kind="stable").reset_index(drop=True)


def _outliers(values: pd.Series) -> pd.Series:
    """True where a value is far above the rest (Tukey's fence, 1.5 IQR above Q3)."""
    v = values.dropna()
    if len(v) < 4:
        return pd.Series(False, index=values.index)
    q1, q3 = np.percentile(v, [25, 75])
    fence = q3 + 1.5 * max(q3 - q1, 1e-9 * max(abs(q3), 1))
    return values > fence


def checkpoint_hint(checkpoints: Any, interval_micros: float | None) -> str | None:
    """A plain-language tuning hint when checkpoints take a large share of the interval."""
    if not interval_micros:
        return None
    df = checkpoint_table(checkpoints)
    durations = df["duration_us"].dropna()
    if durations.empty:
        return None
    median = float(durations.median())
    share = median / float(interval_micros)
    if share >= 0.5:
        return (
            f"Checkpoints take {share:.0%} of the {format_duration(interval_micros)} interval "
            f"(median {format_duration(median)}): the job spends much of its time checkpointing. "
            "Consider a longer checkpoint interval or less state per operator."
        )
    if share >= 0.2:
        return (
            f"Checkpoints take {share:.0%} of the {format_duration(interval_micros)} interval "
            f"(median {format_duration(median)}). A longer interval would lower the overhead."
        )
    return None


def checkpoint_history(
    checkpoints: Any,
    *,
    interval_micros: float | None = None,
    sizes: Mapping[int, float] | None = None,
) -> go.Figure:
    """Duration (and size, where known) per epoch over time, outliers marked.

    ``interval_micros`` draws the checkpoint interval for comparison and adds a hint to
    the title when checkpoints take a large share of it. ``sizes`` maps epoch -> total bytes
    (from the checkpoint details, which the list endpoint does not carry).
    """
    df = checkpoint_table(checkpoints)
    has_sizes = bool(sizes)
    fig = make_subplots(specs=[[{"secondary_y": True}]]) if has_sizes else go.Figure()
    scatter = go.Scattergl if len(df) > 2000 else go.Scatter
    dur_ms = df["duration_us"] / 1000
    hover = "epoch %{customdata[0]}<br>%{x}<br>duration %{customdata[1]}<extra></extra>"
    custom = np.column_stack([df["epoch"].to_numpy(), df["duration_us"].map(format_duration).to_numpy()])
    fig.add_trace(
        scatter(
            x=df["start"],
            y=dur_ms,
            mode="lines+markers" if len(df) <= 500 else "lines",
            name="duration (ms)",
            customdata=custom,
            hovertemplate=hover,
            line={"color": _COLOURS["Checkpointing"]},
        )
    )
    out = _outliers(df["duration_us"])
    if out.any():
        fig.add_trace(
            scatter(
                x=df["start"][out],
                y=dur_ms[out],
                mode="markers",
                name="outlier",
                marker={"color": "#d62728", "size": 10, "symbol": "x"},
                customdata=custom[out.to_numpy()],
                hovertemplate="outlier: " + hover,
            )
        )
    if interval_micros:
        fig.add_hline(
            y=interval_micros / 1000,
            line_dash="dash",
            line_color="#888",
            annotation_text=f"interval {format_duration(interval_micros)}",
        )
    if has_sizes:
        sized = df[df["epoch"].isin(list(sizes))]
        fig.add_trace(
            scatter(
                x=sized["start"],
                y=[sizes[e] for e in sized["epoch"]],
                mode="markers",
                name="size (bytes)",
                marker={"color": _COLOURS["CheckpointingOperators"], "symbol": "diamond"},
            ),
            secondary_y=True,
        )
        fig.update_yaxes(title_text="bytes", secondary_y=True)
    title = "Checkpoint duration per epoch"
    hint = checkpoint_hint(df, interval_micros)
    if hint:
        title += f"<br><sup>{hint}</sup>"
    fig.update_layout(
        title=title,
        xaxis_title="checkpoint start",
        yaxis_title="duration (ms)",
        height=380,
        margin={"l": 60, "r": 30, "t": 70, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def checkpoint_spans(groups: Any, checkpoint: Any = None) -> pd.DataFrame:
    """One row per span of one epoch, times relative to the checkpoint start (µs).

    Columns: operator_id, subtask (array position, as the console labels it), index,
    event, start, finish, duration, bytes, kind ("global" | "metadata" | "subtask").
    """
    origin = _get(checkpoint, "start_time") if checkpoint is not None else None
    rows: list[tuple] = []
    groups = list(groups or [])
    for g in groups:
        op = str(_get(g, "operator_id"))
        meta_start, meta_end = _get(g, "started_metadata_write"), _get(g, "finish_time")
        if meta_start and meta_end:
            rows.append((op, -1, -1, "metadata", meta_start, meta_end, _get(g, "bytes") or 0, "metadata"))
        for pos, st in enumerate(_get(g, "subtasks") or []):
            idx, nbytes = _get(st, "index", pos), _get(st, "bytes") or 0
            for span in _get(st, "event_spans") or []:
                rows.append(
                    (
                        op,
                        pos,
                        idx,
                        str(_get(span, "event")),
                        _get(span, "start_time"),
                        _get(span, "finish_time"),
                        nbytes,
                        "subtask",
                    )
                )
    if checkpoint is not None:
        for span in _get(checkpoint, "events") or []:
            rows.append(
                (
                    "Global Events",
                    -1,
                    -1,
                    str(_get(span, "event")),
                    _get(span, "start_time"),
                    _get(span, "finish_time"),
                    0,
                    "global",
                )
            )
    cols = ["operator_id", "subtask", "index", "event", "start", "finish", "bytes", "kind"]
    df = pd.DataFrame(rows, columns=cols)
    df["start"] = df["start"].astype("float64")
    df["finish"] = df["finish"].astype("float64")
    # An unfinished span reports finish_time 0: draw it up to the latest time seen.
    latest = float(np.nanmax(df[["start", "finish"]].to_numpy())) if len(df) else 0.0
    df.loc[(df["finish"] <= 0) | df["finish"].isna(), "finish"] = latest
    if origin is None:
        origin = float(df["start"].min()) if len(df) else 0.0
    df["start"] -= origin
    df["finish"] -= origin
    df["duration"] = df["finish"] - df["start"]
    return df


def _assign_lanes(df: pd.DataFrame) -> pd.Series:
    """Lane per span so that overlapping spans of one row stack (greedy by start time)."""
    lanes = pd.Series(0, index=df.index, dtype="int64")
    if df.empty:
        return lanes
    ordered = df.sort_values(["row", "start"], kind="stable")
    # Latest finish before each span in its row (vectorised: cummax per row, shifted by one).
    prev_end = ordered.groupby("row")["finish"].cummax().shift()
    prev_end[ordered["row"].ne(ordered["row"].shift())] = np.nan
    overlapping_rows = ordered.loc[ordered["start"] < prev_end, "row"].unique()
    # Only rows that really overlap need the (per-span) greedy packing.
    for row in overlapping_rows:
        ends: list[float] = []
        for i, (s, f) in ordered.loc[ordered["row"] == row, ["start", "finish"]].iterrows():
            lane = next((k for k, e in enumerate(ends) if e <= s), len(ends))
            if lane == len(ends):
                ends.append(f)
            else:
                ends[lane] = f
            lanes[i] = lane
    return lanes


def checkpoint_timeline(groups: Any, checkpoint: Any = None, *, title: str | None = None) -> go.Figure:
    """One epoch's timeline like Arroyo's console (API.md §8).

    A "Global Events" row, then per operator a header row with its metadata bar and a row
    per subtask with its Alignment/Sync/Async/Committing spans; times in ms relative to the
    checkpoint start, overlapping spans in lanes, hover with operator, subtask, span,
    duration and bytes. One bar trace per span type.
    """
    df = checkpoint_spans(groups, checkpoint)
    # Row order: Global Events, then operators by numeric suffix, header before subtasks.
    row_keys: list[tuple[str, int]] = []
    if (df["kind"] == "global").any():
        row_keys.append(("Global Events", -1))
    ops = sorted({str(_get(g, "operator_id")) for g in (groups or [])}, key=_operator_sort_key)
    n_sub = df[df["kind"] == "subtask"].groupby("operator_id")["subtask"].max()
    for op in ops:
        row_keys.append((op, -1))
        row_keys.extend((op, i) for i in range(int(n_sub.get(op, -1)) + 1))
    row_of = {k: r for r, k in enumerate(row_keys)}
    df["row"] = [row_of.get((o, s), -1) for o, s in zip(df["operator_id"], df["subtask"], strict=True)]
    df = df[df["row"] >= 0].copy()
    df["lane"] = _assign_lanes(df)
    lanes_per_row = df.groupby("row")["lane"].max().reindex(range(len(row_keys)), fill_value=0) + 1
    row_base = np.concatenate([[0], np.cumsum(lanes_per_row.to_numpy())[:-1]]) if row_keys else np.array([])
    df["y"] = row_base[df["row"].to_numpy()] + df["lane"].to_numpy() if len(df) else []
    labels = ["Global Events" if o == "Global Events" else (o if s < 0 else f"[{s}]") for o, s in row_keys]

    fig = go.Figure()
    order = list(GLOBAL_EVENTS) + ["metadata"] + [e for e in SUBTASK_EVENTS if e not in GLOBAL_EVENTS]
    seen = list(dict.fromkeys(order + sorted(set(df["event"]) - set(order))))
    for event in seen:
        part = df[df["event"] == event]
        if part.empty:
            continue
        custom = np.column_stack(
            [
                part["operator_id"].to_numpy(),
                np.where(part["subtask"] >= 0, part["subtask"].astype(str), "-"),
                part["duration"].map(format_duration).to_numpy(),
                part["bytes"].map(format_bytes).to_numpy(),
            ]
        )
        fig.add_trace(
            go.Bar(
                name=event,
                orientation="h",
                y=part["y"],
                x=(part["duration"] / 1000).clip(lower=0.001),
                base=part["start"] / 1000,
                marker={"color": _COLOURS.get(event, "#bab0ac")},
                customdata=custom,
                hovertemplate=(
                    "operator %{customdata[0]}<br>subtask %{customdata[1]}<br>"
                    + event
                    + " %{customdata[2]}<br>bytes %{customdata[3]}<extra></extra>"
                ),
                width=0.8,
            )
        )
    total_lanes = int(lanes_per_row.sum()) if len(row_keys) else 1
    visible = min(total_lanes, MAX_TIMELINE_PX // ROW_PX)
    fig.update_layout(
        title=title
        or (
            f"Checkpoint {_get(checkpoint, 'epoch')} timeline"
            if checkpoint is not None
            else "Checkpoint timeline"
        ),
        barmode="overlay",
        height=max(250, min(visible * ROW_PX + 120, MAX_TIMELINE_PX)),
        xaxis_title="Time (ms, relative to checkpoint start)",
        yaxis={
            "tickmode": "array",
            "tickvals": list(row_base),
            "ticktext": labels,
            "range": [visible - 0.5, -0.5],  # top rows first; pan for the rest
            "automargin": True,
        },
        margin={"l": 120, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def checkpoint_bytes(groups: Any, *, title: str = "Checkpoint bytes per operator and subtask") -> go.Figure:
    """A heatmap of bytes per operator (rows) and subtask (columns), to spot skew."""
    groups = list(groups or [])
    ops = sorted((str(_get(g, "operator_id")) for g in groups), key=_operator_sort_key)
    by_op = {str(_get(g, "operator_id")): g for g in groups}
    width = max((len(_get(g, "subtasks") or []) for g in groups), default=0)
    z = np.full((len(ops), max(width, 1)), np.nan)
    for r, op in enumerate(ops):
        for pos, st in enumerate(_get(by_op[op], "subtasks") or []):
            z[r, pos] = _get(st, "bytes") or 0
    totals = np.nansum(z, axis=1) if len(ops) else np.array([])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"[{i}]" for i in range(z.shape[1])],
            y=[f"{op} ({format_bytes(t)})" for op, t in zip(ops, totals, strict=True)],
            colorscale="Blues",
            colorbar={"title": "bytes"},
            hovertemplate="%{y}<br>subtask %{x}<br>%{z:,.0f} bytes<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{title} — total {format_bytes(float(np.nansum(z)) if len(ops) else 0)}",
        height=max(250, min(len(ops) * 22 + 120, MAX_TIMELINE_PX)),
        yaxis={"autorange": "reversed", "automargin": True},
        margin={"l": 120, "r": 20, "t": 50, "b": 40},
    )
    return fig


# ---------------------------------------------------------------- metrics


def metrics_long(groups: Any) -> pd.DataFrame:
    """Operator metric groups as a long frame: node_id, metric, subtask, time (µs), value."""
    node_ids, names, subtasks, times, values = [], [], [], [], []
    for og in groups or []:
        nid = _get(og, "node_id")
        for mg in _get(og, "metric_groups") or []:
            name = str(_get(mg, "name"))
            name = getattr(_get(mg, "name"), "value", name)
            for st in _get(mg, "subtasks") or []:
                idx = _get(st, "index")
                pts = _get(st, "metrics") or []
                n = len(pts)
                node_ids += [nid] * n
                names += [name] * n
                subtasks += [idx] * n
                times += [_get(p, "time") for p in pts]
                values += [_get(p, "value") for p in pts]
    return pd.DataFrame(
        {"node_id": node_ids, "metric": names, "subtask": subtasks, "time": times, "value": values}
    ).astype({"time": "float64", "value": "float64"})


def _node_labels(graph: Any) -> dict[Any, str]:
    labels = {}
    for n in _get(graph, "nodes") or [] if graph is not None else []:
        labels[_get(n, "node_id")] = f"{_get(n, 'node_id')}: {_get(n, 'operator')}"
    return labels


def metrics_figure(
    groups: Any, graph: Any = None, *, window_s: float = 300, per_subtask: bool | None = None
) -> go.Figure:
    """Events in/out per second and backpressure per operator over the last ``window_s``.

    One line per operator (sum of its subtasks; backpressure: max of them), or one per
    operator and subtask when ``per_subtask`` (default: when there are at most 8 subtasks).
    """
    df = metrics_long(groups)
    labels = _node_labels(graph)
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.06,
        subplot_titles=("events in / s", "events out / s", "backpressure"),
    )
    if not df.empty:
        df = df[df["time"] >= df["time"].max() - window_s * 1e6]
        if per_subtask is None:
            per_subtask = df.groupby("node_id")["subtask"].nunique().max() <= 8
    for row, metric in enumerate(("messages_recv", "messages_sent", "backpressure"), start=1):
        part = df[df["metric"] == metric] if not df.empty else df
        for node_id, nd in part.groupby("node_id", sort=True):
            name = labels.get(node_id, str(node_id))
            if per_subtask:
                # One trace per operator; subtasks separated by gaps (None) to stay vectorised.
                nd = nd.sort_values(["subtask", "time"])
                breaks = nd["subtask"].ne(nd["subtask"].shift()).to_numpy()
                x = pd.to_datetime(nd["time"], unit="us", utc=True).to_numpy().astype(object)
                y = nd["value"].to_numpy().astype(object)
                idx = np.nonzero(breaks)[0][1:]
                x = np.insert(x, idx, None)
                y = np.insert(y, idx, None)
                text = np.insert(nd["subtask"].astype(str).to_numpy().astype(object), idx, None)
                trace = go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    showlegend=row == 1,
                    text=text,
                    hovertemplate=name + " [%{text}]: %{y:.3g}<extra></extra>",
                    connectgaps=False,
                )
            else:
                agg = "max" if metric == "backpressure" else "sum"
                s = nd.groupby("time")["value"].agg(agg)
                trace = go.Scatter(
                    x=pd.to_datetime(s.index, unit="us", utc=True),
                    y=s.to_numpy(),
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    showlegend=row == 1,
                    hovertemplate=name + ": %{y:.3g}<extra></extra>",
                )
            fig.add_trace(trace, row=row, col=1)
    for y0, y1, colour in ((0, 0.33, "#59a14f"), (0.33, 0.66, "#f28e2b"), (0.66, 1, "#e15759")):
        fig.add_hrect(y0=y0, y1=y1, fillcolor=colour, opacity=0.08, line_width=0, row=3, col=1)
    fig.update_yaxes(range=[0, 1], row=3, col=1)
    fig.update_layout(height=560, margin={"l": 60, "r": 20, "t": 40, "b": 40}, title=None)
    return fig


def latest_backpressure(groups: Any) -> dict[Any, float]:
    """Per node: the max over subtasks of each subtask's latest backpressure (console rule)."""
    df = metrics_long(groups)
    df = df[df["metric"] == "backpressure"]
    if df.empty:
        return {}
    last = df.sort_values("time").groupby(["node_id", "subtask"])["value"].last()
    return last.groupby(level=0).max().to_dict()


def latest_rates(groups: Any) -> pd.DataFrame:
    """Per node: events in/out per second now (sum over subtasks of the latest value)."""
    df = metrics_long(groups)
    df = df[df["metric"].isin(["messages_recv", "messages_sent"])]
    if df.empty:
        return pd.DataFrame(columns=["messages_recv", "messages_sent"])
    last = df.sort_values("time").groupby(["node_id", "metric", "subtask"])["value"].last()
    return last.groupby(level=[0, 1]).sum().unstack("metric").fillna(0.0)


# ---------------------------------------------------------------- pipeline graph


def _layers(nodes: Sequence[Any], edges: Iterable[Any]) -> dict[Any, int]:
    """Longest-path layer of each node (sources at 0)."""
    ids = [_get(n, "node_id") for n in nodes]
    preds: dict[Any, list[Any]] = {i: [] for i in ids}
    for e in edges:
        if _get(e, "dest_id") in preds:
            preds[_get(e, "dest_id")].append(_get(e, "src_id"))
    layer: dict[Any, int] = {}

    def depth(i: Any, seen: frozenset = frozenset()) -> int:
        if i in layer:
            return layer[i]
        if i in seen:  # a cycle should not happen; do not loop on one
            return 0
        layer[i] = max((depth(p, seen | {i}) + 1 for p in preds.get(i, []) if p in preds), default=0)
        return layer[i]

    for i in ids:
        depth(i)
    return layer


def pipeline_graph(graph: Any, metric_groups: Any = None) -> go.Figure:
    """The pipeline's operators left to right, coloured by backpressure when metrics are given."""
    nodes = list(_get(graph, "nodes") or []) if graph is not None else []
    edges = list(_get(graph, "edges") or []) if graph is not None else []
    layer = _layers(nodes, edges)
    slot: dict[int, int] = {}
    pos = {}
    for n in sorted(nodes, key=lambda n: (layer[_get(n, "node_id")], _get(n, "node_id"))):
        i = _get(n, "node_id")
        pos[i] = (layer[i], slot.get(layer[i], 0))
        slot[layer[i]] = slot.get(layer[i], 0) + 1
    ex, ey = [], []
    for e in edges:
        a, b = pos.get(_get(e, "src_id")), pos.get(_get(e, "dest_id"))
        if a and b:
            ex += [a[0], b[0], None]
            ey += [-a[1], -b[1], None]
    bp = latest_backpressure(metric_groups) if metric_groups else {}
    colours = {"LOW": "#59a14f", "MEDIUM": "#f28e2b", "HIGH": "#e15759"}
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=ex, y=ey, mode="lines", line={"color": "#999"}, hoverinfo="skip", showlegend=False)
    )
    ids = [_get(n, "node_id") for n in nodes]
    fig.add_trace(
        go.Scatter(
            x=[pos[i][0] for i in ids],
            y=[-pos[i][1] for i in ids],
            mode="markers+text",
            text=[f"{_get(n, 'operator')}" for n in nodes],
            textposition="top center",
            marker={
                "size": 22,
                "color": [colours[backpressure_level(bp[i])] if i in bp else "#4e79a7" for i in ids],
            },
            customdata=[
                [
                    _get(n, "node_id"),
                    _get(n, "description"),
                    _get(n, "parallelism"),
                    backpressure_level(bp[_get(n, "node_id")]) if _get(n, "node_id") in bp else "n/a",
                ]
                for n in nodes
            ],
            hovertemplate=(
                "node %{customdata[0]}<br>%{customdata[1]}<br>parallelism %{customdata[2]}"
                "<br>backpressure %{customdata[3]}<extra></extra>"
            ),
            showlegend=False,
        )
    )
    fig.update_layout(
        title="Pipeline graph",
        height=max(250, 90 * max(slot.values(), default=1) + 120),
        xaxis={"visible": False},
        yaxis={"visible": False},
        margin={"l": 20, "r": 20, "t": 50, "b": 20},
    )
    return fig


def figure_mimebundle(fig: go.Figure) -> dict[str, Any]:
    """A display bundle that renders everywhere: Plotly's own mimetype for JupyterLab,
    Notebook 7 and VS Code, plus an HTML version (plotly.js from its CDN) that nbconvert and
    GitHub show, and a text title for plain consoles."""
    title = fig.layout.title.text if fig.layout.title and fig.layout.title.text else "Plotly figure"
    return {
        "application/vnd.plotly.v1+json": json.loads(fig.to_json()),  # numpy arrays → JSON
        "text/html": fig.to_html(full_html=False, include_plotlyjs="cdn"),
        "text/plain": f"<{title}>",
    }
