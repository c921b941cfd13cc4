"""Plotly figures for checkpoints, metrics and the pipeline graph.

``frames.py`` builds the tables; this module only draws them. Every function takes what
the client returns (API models), plain dicts in the API's shapes, or the frame from
``frames.py``, and returns a ``go.Figure`` that can be shown, saved or exported without any
widget. Building is vectorised (one trace per span type / operator, never one per bar), so
64 operators x 64 subtasks or 10,000 epochs build fast. An operator has the same colour
in every chart (``operator_colour``).
"""

from __future__ import annotations

import html
import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .frames import (
    BACKPRESSURE_LEVELS,
    METRICS_WINDOW_S,
    backpressure_level,
    checkpoint_bytes_frame,
    checkpoint_spans_frame,
    checkpoints_frame,
    operator_metrics_frame,
    operator_order,
    operator_summary_frame,
)
from .frames import field as _get

__all__ = [
    "BACKPRESSURE_LEVELS",
    "GLOBAL_EVENTS",
    "SUBTASK_EVENTS",
    "backpressure_level",
    "checkpoint_bytes",
    "checkpoint_hint",
    "checkpoint_history",
    "checkpoint_outliers",
    "checkpoint_spans",
    "checkpoint_timeline",
    "figure_mimebundle",
    "format_bytes",
    "format_duration",
    "metrics_figure",
    "operator_colour",
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
# Operators get colours from another palette (Plotly's), so they never read as a span type.
_OPERATOR_PALETTE = (
    "#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a",
    "#19d3f3", "#ff6692", "#b6e880", "#ff97ff", "#fecb52",
)  # fmt: skip
LEVEL_COLOURS = {"LOW": "#59a14f", "MEDIUM": "#f28e2b", "HIGH": "#e15759"}
ROW_PX = 18  # per lane, like the console
MAX_TIMELINE_PX = 900  # taller timelines open scrolled to the top; pan/zoom shows the rest
OUTLIER_K = 3.0  # durations above median + k·MAD (scaled to σ) are outliers
INTERVAL_LINE_SHARE = 0.2  # draw the interval only when some checkpoint takes ≥ 20 % of it


# ---------------------------------------------------------------- small helpers


def format_duration(micros: float | None) -> str:
    """Arroyo console style: x.y ms below 1 s, whole ms below 10 s, then s / m:ss / h:mm:ss."""
    if micros is None or micros is pd.NA or micros != micros:  # None, <NA> or NaN
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
    if n is None or n is pd.NA or n != n:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def operator_colour(operator: Any) -> str:
    """The colour of an operator in every chart: by its node number (``source_impulse_2`` and
    node 2 get the same colour), or a stable hash of a name without one."""
    number, name = operator_order(operator)
    if number == 1 << 30:
        number = zlib.crc32(name.encode())
    return _OPERATOR_PALETTE[(number - 1) % len(_OPERATOR_PALETTE)]


def _operator_label(operator: Any, text: str | None = None) -> str:
    """An axis label with the operator's colour swatch; the name escaped (plotly reads HTML)."""
    shown = html.escape(str(operator if text is None else text), quote=False)
    return f'<span style="color:{operator_colour(operator)}">■</span> {shown}'


def _utc(times: pd.Series) -> np.ndarray:
    """UTC datetimes as plain datetime64 (plotly copies tz-aware ones value by value)."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.to_numpy()


def _esc(text: Any) -> str:
    return html.escape(str(text), quote=False)


# ---------------------------------------------------------------- checkpoints


def _history_table(checkpoints: Any) -> pd.DataFrame:
    df = checkpoints_frame(checkpoints)
    for col in ("epoch", "start_time", "duration_micros"):
        if col not in df:
            raise ValueError(
                f"checkpoints need a {col!r} column, as frames.checkpoints_frame makes (got {list(df.columns)})"
            )
    return df.sort_values("epoch", kind="stable").reset_index(drop=True)


def checkpoint_outliers(durations: pd.Series, k: float = OUTLIER_K) -> pd.Series:
    """True where a duration is above median + k·MAD (MAD scaled to σ; robust to the outliers
    themselves). Needs 5 finished checkpoints; a MAD of 0 counts as 5 % of the median so
    that identical durations with one a hair slower are not outliers."""
    d = pd.to_numeric(durations, errors="coerce").astype("float64")
    v = d.dropna()
    if len(v) < 5:
        return pd.Series(False, index=d.index)
    median = float(v.median())
    mad = 1.4826 * float((v - median).abs().median())
    spread = max(mad, 0.05 * median, 1.0)
    return (d > median + k * spread).fillna(False)


def _size_trend(sizes: Mapping[int, float] | None) -> str | None:
    if not sizes or len(sizes) < 3:
        return None
    epochs = sorted(sizes)
    first, last = float(sizes[epochs[0]]), float(sizes[epochs[-1]])
    if first <= 0 or last <= first * 1.5:
        return None
    return (
        f"State grew from {format_bytes(first)} to {format_bytes(last)} over epochs "
        f"{epochs[0]}–{epochs[-1]}: if it keeps growing, bound it (a time window, or fewer keys "
        "in an updating aggregate), or checkpoints will keep getting slower."
    )


def _slowest_operator(groups: Any) -> str | None:
    """The operator whose own checkpoint work (Sync, Async, Committing: not the Alignment
    wait for upstream barriers) took longest in one epoch, in its slowest subtask."""
    spans = checkpoint_spans_frame(groups)
    spans = spans[spans["subtask"].notna() & spans["finish"].notna()].copy()
    if spans.empty:
        return None
    spans["took"] = (spans["finish"] - spans["start"]).astype("float64")
    own = spans[spans["event"] != "Alignment"]
    if own.empty or own["took"].max() <= 0:
        return None
    per_subtask = own.groupby(["operator_id", "subtask"])["took"].sum()
    op, subtask = per_subtask.idxmax()
    mine = own[(own["operator_id"] == op) & (own["subtask"] == subtask)]
    event = str(mine.groupby("event")["took"].sum().idxmax())
    advice = {
        "Sync": "it copies its state in the barrier's path: less state per subtask helps",
        "Async": "writing its state takes the time: more parallelism or less state helps",
        "Committing": "its sink commits take the time",
    }.get(event, "")
    return (
        f"Slowest operator: {op} ({format_duration(per_subtask.max())} of its own work in subtask "
        f"{int(subtask)}, mostly {event}" + (f"; {advice})." if advice else ").")
    )


def checkpoint_hint(
    checkpoints: Any,
    interval_micros: float | None,
    *,
    sizes: Mapping[int, float] | None = None,
    groups: Any = None,
) -> str | None:
    """What to do about checkpointing, in plain words, from measured durations.

    The share of the interval spent checkpointing (median and slowest) and what to change,
    the growth of state over ``sizes`` (epoch -> bytes), and the slowest operator of
    ``groups`` (one epoch's operator details). None when nothing has finished yet.
    """
    df = _history_table(checkpoints)
    durations = df["duration_micros"].dropna().astype("float64")
    if durations.empty:
        return None
    median, worst = float(durations.median()), float(durations.max())
    parts = []
    if interval_micros:
        share, worst_share = median / interval_micros, worst / interval_micros
        interval = format_duration(interval_micros)
        percent = f"{share:.1%}" if share < 0.1 else f"{share:.0%}"
        said = (
            f"Checkpointing takes {percent} of the {interval} interval "
            f"(median {format_duration(median)}, slowest {format_duration(worst)})"
        )
        if share >= 0.5 or worst_share >= 1:
            suggest = format_duration(max(4 * worst, 2 * interval_micros))
            parts.append(
                f"{said}: the job spends much of its time checkpointing. Raise the interval "
                f"(e.g. to {suggest}) or reduce state."
            )
        elif share >= 0.1:
            parts.append(f"{said}: a longer interval would cut that overhead.")
        else:
            shorter = format_duration(max(20 * worst, 1_000_000))
            advice = (
                f" An interval down to {shorter} would keep it under 5 % and replay less after a failure."
                if max(20 * worst, 1_000_000) < interval_micros / 2
                else ""
            )
            parts.append(f"{said}: overhead is low.{advice}")
    else:
        parts.append(f"Median checkpoint {format_duration(median)}, slowest {format_duration(worst)}.")
    for extra in (_size_trend(sizes), _slowest_operator(groups) if groups else None):
        if extra:
            parts.append(extra)
    return " ".join(parts)


def checkpoint_history(
    checkpoints: Any,
    *,
    interval_micros: float | None = None,
    sizes: Mapping[int, float] | None = None,
    selected_epoch: int | None = None,
    k: float = OUTLIER_K,
) -> go.Figure:
    """Duration per epoch over time on an axis scaled to the durations, size below it.

    The interval is drawn as a reference line only when a checkpoint takes at least
    ``INTERVAL_LINE_SHARE`` of it (else 3 ms against 2 s would flatten every point); the
    axis title then says how far off-scale it is. Outliers: above median + k·MAD.
    ``sizes`` (epoch -> total bytes, from the checkpoint details) get their own subplot.
    ``selected_epoch`` is ringed. Hover: epoch, start, duration, bytes, type.
    """
    df = _history_table(checkpoints)
    sizes = {int(e): float(b) for e, b in (sizes or {}).items()}
    has_sizes = bool(sizes)
    fig = (
        make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
        if has_sizes
        else go.Figure()
    )
    at = {"row": 1, "col": 1} if has_sizes else {}
    scatter = go.Scattergl if len(df) > 2000 else go.Scatter
    x = _utc(df["start_time"])
    dur_ms = df["duration_micros"].astype("float64") / 1000
    custom = np.column_stack(
        [
            df["epoch"].astype("int64").astype(str).to_numpy(),
            df["duration_micros"].map(format_duration).to_numpy(),
            df["epoch"].map(lambda e: format_bytes(sizes.get(int(e)))).to_numpy(),
            df["checkpoint_type"].fillna("-").astype(str).to_numpy(),
        ]
    )
    hover = (
        "epoch %{customdata[0]}<br>started %{x|%H:%M:%S.%L}<br>duration %{customdata[1]}"
        "<br>bytes %{customdata[2]}<br>type %{customdata[3]}<extra></extra>"
    )
    fig.add_trace(
        scatter(
            x=x,
            y=dur_ms,
            mode="lines+markers" if len(df) <= 500 else "lines",
            name="duration",
            customdata=custom,
            hovertemplate=hover,
            line={"color": _COLOURS["Checkpointing"]},
            marker={"size": 5},
        ),
        **at,
    )
    out = checkpoint_outliers(df["duration_micros"], k).to_numpy()
    if out.any():
        fig.add_trace(
            scatter(
                x=x[out],
                y=dur_ms[out],
                mode="markers",
                name=f"outlier (> median + {k:g}·MAD)",
                marker={"color": "#d62728", "size": 11, "symbol": "x"},
                customdata=custom[out],
                hovertemplate="outlier<br>" + hover,
            ),
            **at,
        )
    top = float(np.nanmax(dur_ms)) if dur_ms.notna().any() else 1.0
    y_title = "duration (ms)"
    if interval_micros:
        interval_ms = interval_micros / 1000
        if top >= INTERVAL_LINE_SHARE * interval_ms:
            fig.add_hline(
                y=interval_ms,
                line_dash="dash",
                line_color="#888",
                annotation_text=f"interval {_esc(format_duration(interval_micros))}",
                annotation_position="top left",
                **at,
            )
            top = max(top, interval_ms)
        else:
            y_title += f"<br><sup>interval {_esc(format_duration(interval_micros))} is off scale</sup>"
    chosen = df["epoch"] == selected_epoch if selected_epoch else pd.Series(False, index=df.index)
    if chosen.any():
        fig.add_trace(
            go.Scatter(
                x=x[chosen.to_numpy()],
                y=dur_ms[chosen],
                mode="markers",
                name=f"epoch {int(selected_epoch or 0)} (shown)",
                marker={"color": "rgba(0,0,0,0)", "size": 16, "line": {"color": "#222", "width": 2}},
                customdata=custom[chosen.to_numpy()],
                hovertemplate=hover,
            ),
            **at,
        )
    fig.update_yaxes(title_text=y_title, range=[0, top * 1.12 if top > 0 else 1], rangemode="tozero", **at)
    if has_sizes:
        sized = df[df["epoch"].isin(list(sizes))]
        fig.add_trace(
            scatter(
                x=_utc(sized["start_time"]),
                y=[sizes[int(e)] for e in sized["epoch"]],
                mode="lines+markers",
                name="state size",
                marker={"color": _COLOURS["CheckpointingOperators"], "symbol": "diamond"},
                line={"color": _COLOURS["CheckpointingOperators"]},
                customdata=custom[df["epoch"].isin(list(sizes)).to_numpy()],
                hovertemplate=hover,
            ),
            row=2,
            col=1,
        )
        fig.update_yaxes(title_text="size (bytes)", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(
        title_text="checkpoint start (UTC)", row=2 if has_sizes else None, col=1 if has_sizes else None
    )
    fig.update_layout(
        title={"text": "Checkpoint duration per epoch", "x": 0, "xanchor": "left", "y": 0.98},
        height=420 if has_sizes else 340,
        margin={"l": 70, "r": 30, "t": 40, "b": 40},
        legend={"orientation": "h", "x": 0, "y": -0.18, "yanchor": "top"},
        hovermode="closest",
    )
    return fig


def checkpoint_spans(groups: Any, checkpoint: Any = None) -> pd.DataFrame:
    """``frames.checkpoint_spans_frame`` ready to draw (floats, µs relative to the start).

    Adds ``kind`` ("global" | "metadata" | "subtask") and ``open``; global rows get
    operator_id "Global Events"; subtask -1 where there is none; a span still open is drawn
    up to the latest time seen (its hover says "in progress").
    """
    df = checkpoint_spans_frame(groups, checkpoint)
    kind = np.where(df["operator_id"].isna(), "global", np.where(df["subtask"].isna(), "metadata", "subtask"))
    out = pd.DataFrame(
        {
            "operator_id": df["operator_id"].astype(object).where(df["operator_id"].notna(), "Global Events"),
            "subtask": df["subtask"].astype("float64").fillna(-1).astype("int64"),
            "event": df["event"].astype(str) if len(df) else pd.Series(dtype=str),
            "start": df["start"].astype("float64"),
            "finish": df["finish"].astype("float64"),
            "bytes": df["bytes"].astype("float64").fillna(0),
            "kind": kind,
        }
    )
    out["open"] = out["finish"].isna().to_numpy()
    if len(out):
        latest = float(np.nanmax(out[["start", "finish"]].to_numpy()))
        out["finish"] = out["finish"].fillna(latest)
    out["duration"] = out["finish"] - out["start"]
    return out


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
    ops = list(dict.fromkeys(str(o) for o in checkpoint_bytes_frame(groups)["operator_id"]))
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
    labels = [
        "Global Events" if o == "Global Events" else (_operator_label(o) if s < 0 else f"[{s}]")
        for o, s in row_keys
    ]

    fig = go.Figure()
    order = list(GLOBAL_EVENTS) + ["metadata"] + [e for e in SUBTASK_EVENTS if e not in GLOBAL_EVENTS]
    seen = list(dict.fromkeys(order + sorted(set(df["event"]) - set(order))))
    for event in seen:
        part = df[df["event"] == event]
        if part.empty:
            continue
        custom = np.column_stack(
            [
                part["operator_id"].map(_esc).to_numpy(),
                np.where(part["subtask"] >= 0, part["subtask"].astype(str), "-"),
                np.where(
                    part["open"], "in progress", part["duration"].map(format_duration)
                ),  # an open span is drawn up to the latest time seen, not given a duration
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
        title={
            "text": _esc(title)
            if title
            else (
                f"Checkpoint {_esc(_get(checkpoint, 'epoch'))} timeline"
                if checkpoint is not None
                else "Checkpoint timeline"
            ),
            "x": 0,
            "xanchor": "left",
        },
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
    table = checkpoint_bytes_frame(groups)
    ops = list(dict.fromkeys(str(o) for o in table["operator_id"]))
    width = int(table["subtask"].max()) + 1 if table["subtask"].notna().any() else 1
    z = np.full((len(ops), width), np.nan)
    known = table[table["subtask"].notna() & table["bytes"].notna()]
    row = {op: r for r, op in enumerate(ops)}
    rows = [row[str(o)] for o in known["operator_id"]]
    z[rows, known["subtask"].astype("int64").to_numpy()] = known["bytes"].astype("float64").to_numpy()
    totals = np.nansum(z, axis=1) if len(ops) else np.array([])
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"[{i}]" for i in range(z.shape[1])],
            y=[_operator_label(op, f"{op} ({format_bytes(t)})") for op, t in zip(ops, totals, strict=True)],
            colorscale="Blues",
            colorbar={"title": "bytes"},
            hovertemplate="%{y}<br>subtask %{x}<br>%{z:,.0f} bytes<extra></extra>",
        )
    )
    fig.update_layout(
        title={
            "text": f"{_esc(title)} — total {format_bytes(float(np.nansum(z)) if len(ops) else 0)}",
            "x": 0,
            "xanchor": "left",
        },
        height=max(250, min(len(ops) * 22 + 120, MAX_TIMELINE_PX)),
        yaxis={"autorange": "reversed", "automargin": True},
        margin={"l": 120, "r": 20, "t": 50, "b": 40},
    )
    return fig


# ---------------------------------------------------------------- metrics


def _node_names(graph: Any) -> dict[Any, str]:
    nodes = (_get(graph, "nodes") or []) if graph is not None else []
    return {_get(n, "node_id"): f"{_get(n, 'node_id')}: {_get(n, 'operator')}" for n in nodes}


def _levels(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Backpressure values → level numbers (0 LOW, 1 MEDIUM, 2 HIGH; NaN stays NaN) and
    hover texts ("MEDIUM (0.41)"), vectorised."""
    missing = np.isnan(values)
    bounds = [bound for bound, _ in BACKPRESSURE_LEVELS[:-1]]
    index = np.digitize(np.nan_to_num(values), bounds)
    names = np.array([name for _, name in BACKPRESSURE_LEVELS])[index]
    numbers = np.char.mod("%.2f", np.nan_to_num(values))
    text = np.where(missing, "-", np.char.add(np.char.add(names, " ("), np.char.add(numbers, ")")))
    return np.where(missing, np.nan, index.astype("float64")), text


def metrics_figure(
    groups: Any,
    graph: Any = None,
    *,
    window_s: float = METRICS_WINDOW_S,
    per_subtask: bool = False,
) -> go.Figure:
    """Events in/out per second and backpressure levels per operator over ``window_s``.

    Drawn from ``frames.operator_metrics_frame`` (subtasks summed, backpressure the worst
    subtask), the same rows as the table beside it, so the last point of a line is the
    number in the table. ``per_subtask`` draws one line per subtask instead. Every line has
    a legend entry (one per operator, clicking it toggles that operator everywhere).
    Backpressure is a strip per operator coloured by level (LOW/MEDIUM/HIGH) over time.
    """
    series = operator_metrics_frame(groups, window_s=window_s, per_subtask=per_subtask)
    series = series.assign(time=_utc(series["time"]))  # once, not per trace
    names = _node_names(graph)
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        row_heights=[0.38, 0.38, 0.24],
        subplot_titles=(
            "events in / s" + (" (per subtask)" if per_subtask else " (sum of subtasks)"),
            "events out / s" + (" (per subtask)" if per_subtask else " (sum of subtasks)"),
            "backpressure (worst subtask)",
        ),
    )
    in_legend: set[Any] = set()
    for row, metric in ((1, "messages_recv"), (2, "messages_sent")):
        part = series[series["metric"] == metric]
        keys = ["node_id", "subtask"] if per_subtask else ["node_id"]
        for key, line in part.groupby(keys, sort=False):
            node = key[0] if isinstance(key, tuple) else key
            name = _esc(names.get(node, str(node)))
            label = f"{name} [{key[1]}]" if per_subtask else name
            fig.add_trace(
                go.Scatter(
                    x=line["time"].to_numpy(),
                    y=line["value"].to_numpy(),
                    mode="lines",
                    name=label,
                    legendgroup=label,
                    showlegend=label not in in_legend,
                    line={"color": operator_colour(node), "dash": "solid" if not per_subtask else None},
                    hovertemplate=label + ": %{y:,.1f}/s<extra></extra>",
                ),
                row=row,
                col=1,
            )
            in_legend.add(label)
    bp = series if not per_subtask else operator_metrics_frame(groups, window_s=window_s)
    bp = bp[bp["metric"] == "backpressure"]
    if not bp.empty:
        wide = bp.pivot(index="node_id", columns="time", values="value")
        wide = wide.reindex(sorted(wide.index, key=operator_order))
        levels, text = _levels(wide.to_numpy(dtype="float64"))
        fig.add_trace(
            go.Heatmap(
                x=wide.columns.to_numpy(),
                y=[_operator_label(n, names.get(n, str(n))) for n in wide.index],
                z=levels,
                text=text,
                zmin=0,
                zmax=2,
                colorscale=[
                    [0, LEVEL_COLOURS["LOW"]],
                    [1 / 3, LEVEL_COLOURS["LOW"]],
                    [1 / 3, LEVEL_COLOURS["MEDIUM"]],
                    [2 / 3, LEVEL_COLOURS["MEDIUM"]],
                    [2 / 3, LEVEL_COLOURS["HIGH"]],
                    [1, LEVEL_COLOURS["HIGH"]],
                ],  # fmt: skip
                showscale=False,
                xgap=1,
                ygap=2,
                hovertemplate="%{y}<br>%{x|%H:%M:%S}<br>backpressure %{text}<extra></extra>",
                name="backpressure",
                showlegend=False,
            ),
            row=3,
            col=1,
        )
    fig.update_yaxes(rangemode="tozero", tickformat="~s", row=1, col=1)
    fig.update_yaxes(rangemode="tozero", tickformat="~s", row=2, col=1)
    fig.update_yaxes(autorange="reversed", automargin=True, row=3, col=1)
    fig.update_layout(
        height=600,
        margin={"l": 60, "r": 20, "t": 40, "b": 40},
        legend={"title": {"text": "operator"}, "orientation": "v"},
        hovermode="closest",
    )
    return fig


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


_BOX_W, _BOX_H, _GAP_X, _GAP_Y = 2.6, 1.0, 0.5, 0.6
_LAYER_PX, _MIN_COLUMNS = 80, 3  # a box keeps its size: narrow graphs get side margins


def _rate(value: float) -> str:
    if value != value:
        return "-"
    for bound, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= bound:
            return f"{value / bound:.1f}{suffix}"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def pipeline_graph(graph: Any, metric_groups: Any = None, *, window_s: float = METRICS_WINDOW_S) -> go.Figure:
    """The pipeline as Arroyo's console draws it: one box an operator, sources on top.

    Each box shows the operator, its parallelism and events in/out per second, filled with
    its backpressure level's colour (grey without metrics) and edged in the operator's
    colour; arrows are the edges. Numbers come from ``frames.operator_summary_frame``.
    """
    nodes = list(_get(graph, "nodes") or []) if graph is not None else []
    edges = list(_get(graph, "edges") or []) if graph is not None else []
    layer = _layers(nodes, edges)
    summary = operator_summary_frame(metric_groups or [], graph, window_s=window_s)
    now = {int(r.node_id): r for r in summary.itertuples()}
    per_layer: dict[int, list[Any]] = {}
    for n in sorted(nodes, key=lambda n: operator_order(_get(n, "node_id"))):
        per_layer.setdefault(layer[_get(n, "node_id")], []).append(n)
    widest = max((len(v) for v in per_layer.values()), default=1)
    centre: dict[Any, tuple[float, float]] = {}
    for depth, row in per_layer.items():
        offset = (widest - len(row)) * (_BOX_W + _GAP_X) / 2
        for i, n in enumerate(row):
            centre[_get(n, "node_id")] = (
                offset + i * (_BOX_W + _GAP_X) + _BOX_W / 2,
                -depth * (_BOX_H + _GAP_Y),
            )
    fig = go.Figure()
    shapes: list[dict] = []  # collected and set once: add_shape per box re-validates the layout
    notes: list[dict] = []
    for n in nodes:
        nid = _get(n, "node_id")
        cx, cy = centre[nid]
        r = now.get(int(nid))
        level = r.backpressure_level if r is not None else None
        fill = {"LOW": "#d4f4dd", "MEDIUM": "#ffe8cc", "HIGH": "#fdd5d9"}.get(level or "", "#f2f2f2")
        shapes.append(
            dict(type="rect", x0=cx - _BOX_W / 2, x1=cx + _BOX_W / 2, y0=cy - _BOX_H / 2, y1=cy + _BOX_H / 2,
                 line={"color": operator_colour(nid), "width": 2}, fillcolor=fill, layer="below")
        )  # fmt: skip
        rate_in = _rate(r.messages_recv if r is not None else float("nan"))
        rate_out = _rate(r.messages_sent if r is not None else float("nan"))
        name = str(_get(n, "operator"))
        short = name if len(name) <= 28 else name[:27] + "…"
        notes.append(
            {
                "x": cx,
                "y": cy,
                "text": (
                    f"<b>{_esc(short)}</b><br>parallelism {_esc(_get(n, 'parallelism'))} · "
                    f"in {rate_in} · out {rate_out} eps"
                    f"<br>backpressure {level or 'n/a'}"
                ),
                "showarrow": False,
                "font": {"size": 11},
            }
        )
    for e in edges:
        a, b = centre.get(_get(e, "src_id")), centre.get(_get(e, "dest_id"))
        if a and b:
            notes.append(
                dict(x=b[0], y=b[1] + _BOX_H / 2, ax=a[0], ay=a[1] - _BOX_H / 2,
                     xref="x", yref="y", axref="x", ayref="y",
                     showarrow=True, arrowhead=2, arrowsize=1.2, arrowwidth=1.5, arrowcolor="#888", text="")
            )  # fmt: skip
    ids = [_get(n, "node_id") for n in nodes]
    fig.add_trace(  # invisible points at the box centres carry the hover
        go.Scatter(
            x=[centre[i][0] for i in ids],
            y=[centre[i][1] for i in ids],
            mode="markers",
            marker={"size": 40, "opacity": 0, "symbol": "square"},
            customdata=[
                [
                    _esc(_get(n, "node_id")),
                    _esc(_get(n, "operator")),
                    _esc(_get(n, "description")),
                    _esc(_get(n, "parallelism")),
                    _rate(now[int(i)].messages_recv) if int(i) in now else "-",
                    _rate(now[int(i)].messages_sent) if int(i) in now else "-",
                    (
                        f"{now[int(i)].backpressure_level} ({now[int(i)].backpressure:.2f})"
                        if int(i) in now and now[int(i)].backpressure_level
                        else "n/a"
                    ),
                ]
                for i, n in zip(ids, nodes, strict=True)
            ],
            hovertemplate=(
                "node %{customdata[0]}: %{customdata[1]}<br>%{customdata[2]}<br>parallelism %{customdata[3]}"
                "<br>in %{customdata[4]}/s · out %{customdata[5]}/s<br>backpressure %{customdata[6]}<extra></extra>"
            ),
            showlegend=False,
        )
    )
    depth = max(per_layer, default=0) + 1
    fig.update_layout(
        shapes=shapes,
        annotations=notes,
        title={"text": "Pipeline graph", "x": 0, "xanchor": "left"},
        height=max(180, int(depth * _LAYER_PX + 60)),
        xaxis={
            "visible": False,
            "range": [
                -(max(widest, _MIN_COLUMNS) - widest) * (_BOX_W + _GAP_X) / 2 - 0.1,
                widest * (_BOX_W + _GAP_X) + (max(widest, _MIN_COLUMNS) - widest) * (_BOX_W + _GAP_X) / 2,
            ],
        },
        yaxis={
            "visible": False,
            "range": [-(depth - 1) * (_BOX_H + _GAP_Y) - _BOX_H, _BOX_H],
        },
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        plot_bgcolor="rgba(0,0,0,0)",
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
