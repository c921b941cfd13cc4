"""charts.py: figures from API-shaped data, console semantics, and build speed at scale."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from arroyo_jupyter import charts

T0 = 1_754_000_000_000_000  # µs


def make_checkpoint(epoch: int, start: int, duration: int) -> dict:
    return {
        "epoch": epoch,
        "backend": "parquet",
        "start_time": start,
        "finish_time": start + duration,
        "events": [
            {
                "event": "Checkpointing",
                "start_time": start,
                "finish_time": start + duration,
                "description": "",
            },
            {
                "event": "WritingMetadata",
                "start_time": start + duration - 100,
                "finish_time": start + duration,
                "description": "",
            },
        ],
    }


def make_groups(n_ops: int, n_sub: int, start: int = T0) -> list[dict]:
    groups = []
    for o in range(n_ops):
        subtasks = []
        for s in range(n_sub):
            a = start + 10 * s
            subtasks.append(
                {
                    "index": s,
                    "bytes": 1000 * (o + 1) + s,
                    "event_spans": [
                        {"event": "Alignment", "start_time": a, "finish_time": a + 50, "description": ""},
                        {"event": "Sync", "start_time": a + 50, "finish_time": a + 80, "description": ""},
                        {"event": "Async", "start_time": a + 80, "finish_time": a + 400, "description": ""},
                    ],
                }
            )
        groups.append(
            {
                "operator_id": f"op_{o + 1}",
                "bytes": sum(x["bytes"] for x in subtasks),
                "started_metadata_write": start + 500,
                "finish_time": start + 600,
                "subtasks": subtasks,
            }
        )
    return groups


def test_format_duration_follows_the_console():
    assert charts.format_duration(1500) == "1.5 ms"
    assert charts.format_duration(2_500_000) == "2500 ms"
    assert charts.format_duration(42_000_000) == "42 s"
    assert charts.format_duration(125_000_000) == "2:05"
    assert charts.format_duration(3_725_000_000) == "1:02:05"
    assert charts.format_duration(None) == "-"


@pytest.mark.parametrize(
    "value,level",
    [(0.0, "LOW"), (0.329, "LOW"), (0.33, "MEDIUM"), (0.659, "MEDIUM"), (0.66, "HIGH"), (1.0, "HIGH")],
)
def test_backpressure_levels(value, level):
    assert charts.backpressure_level(value) == level


def test_timeline_rows_follow_the_console_layout():
    groups = make_groups(2, 3)[::-1]  # server order is unspecified: the chart sorts
    groups[0]["operator_id"] = "sink_preview_10"
    fig = charts.checkpoint_timeline(groups, make_checkpoint(1, T0, 1000))
    labels = list(fig.layout.yaxis.ticktext)
    assert labels == ["Global Events", "op_1", "[0]", "[1]", "[2]", "sink_preview_10", "[0]", "[1]", "[2]"]
    names = {t.name for t in fig.data}
    assert {"Checkpointing", "WritingMetadata", "metadata", "Alignment", "Sync", "Async"} <= names
    alignment = next(t for t in fig.data if t.name == "Alignment")
    # one bar per subtask, times in ms relative to the checkpoint start
    assert len(alignment.x) == 6
    assert min(alignment.base) == 0.0
    assert "op_1" in set(alignment.customdata[:, 0])


def test_overlapping_spans_go_to_separate_lanes():
    g = make_groups(1, 1)
    g[0]["subtasks"][0]["event_spans"].append(
        {"event": "Committing", "start_time": T0 + 10, "finish_time": T0 + 90, "description": ""}
    )
    spans = charts.checkpoint_spans(g, make_checkpoint(1, T0, 1000))
    fig = charts.checkpoint_timeline(g, make_checkpoint(1, T0, 1000))
    committing = next(t for t in fig.data if t.name == "Committing" and t.customdata[0][0] == "op_1")
    alignment = next(t for t in fig.data if t.name == "Alignment")
    assert committing.y[0] != alignment.y[0]  # stacked in a second lane
    assert len(spans) == 7  # 2 global + 1 metadata + 3 spans of subtask 0 + 1 committing


def test_timeline_at_64_by_64_has_one_trace_per_span_type():
    # Build time is measured in benchmarks/ (make bench), not asserted here.
    groups = make_groups(64, 64)
    fig = charts.checkpoint_timeline(groups, make_checkpoint(7, T0, 2000))
    assert len(fig.data) <= len(charts.GLOBAL_EVENTS) + len(charts.SUBTASK_EVENTS) + 1
    assert sum(len(t.x) for t in fig.data) == 64 * 64 * 3 + 64 + 2
    assert fig.layout.height <= charts.MAX_TIMELINE_PX


def test_history_marks_outliers_and_hints_at_the_interval():
    rng = np.random.default_rng(1)
    durations = rng.integers(900_000, 1_100_000, 50).tolist()
    durations[20] = 9_000_000
    cps = [make_checkpoint(i + 1, T0 + i * 10_000_000, d) for i, d in enumerate(durations)]
    fig = charts.checkpoint_history(cps, interval_micros=2_000_000, sizes={50: 1234})
    outlier = next(t for t in fig.data if t.name == "outlier")
    assert list(outlier.customdata[:, 0]) == [21]
    assert "interval" in fig.layout.title.text
    hint = charts.checkpoint_hint(cps, 2_000_000)
    assert hint and "50%" in hint
    assert charts.checkpoint_hint(cps, 60_000_000) is None
    assert any(t.name == "size (bytes)" for t in fig.data)


def test_history_of_10000_epochs_is_one_trace_and_exportable():
    cps = [make_checkpoint(i + 1, T0 + i * 10_000_000, 1_000_000 + (i % 7) * 1000) for i in range(10_000)]
    fig = charts.checkpoint_history(cps, interval_micros=10_000_000)
    assert isinstance(fig, go.Figure)
    assert len(fig.data[0].x) == 10_000
    assert fig.to_json()


def test_bytes_heatmap_shows_skew():
    groups = make_groups(3, 4)
    groups[1]["subtasks"][2]["bytes"] = 10**9
    fig = charts.checkpoint_bytes(groups)
    z = np.array(fig.data[0].z, dtype=float)
    assert z.shape == (3, 4)
    assert np.unravel_index(np.nanargmax(z), z.shape) == (1, 2)


def metric_groups(n_nodes=2, n_sub=2, points=5):
    out = []
    for n in range(n_nodes):
        mgs = []
        for name in ("messages_recv", "messages_sent", "backpressure"):
            subs = []
            for s in range(n_sub):
                val = 0.7 if (name == "backpressure" and n == 1 and s == 1) else 0.1
                subs.append(
                    {
                        "index": s,
                        "metrics": [
                            {
                                "time": T0 + k * 2_000_000,
                                "value": val * (k + 1) if name != "backpressure" else val,
                            }
                            for k in range(points)
                        ],
                    }
                )
            mgs.append({"name": name, "subtasks": subs})
        out.append({"node_id": n + 1, "metric_groups": mgs})
    return out


def test_metrics_figure_and_backpressure():
    groups = metric_groups()
    graph = {
        "nodes": [
            {"node_id": 1, "operator": "impulse", "description": "", "parallelism": 2},
            {"node_id": 2, "operator": "preview", "description": "", "parallelism": 2},
        ],
        "edges": [{"src_id": 1, "dest_id": 2, "edge_type": "Forward"}],
    }
    fig = charts.metrics_figure(groups, graph)
    assert {t.name for t in fig.data} == {"1: impulse", "2: preview"}
    assert charts.latest_backpressure(groups) == {1: pytest.approx(0.1), 2: pytest.approx(0.7)}
    rates = charts.latest_rates(groups)
    assert rates.loc[1, "messages_recv"] == pytest.approx(2 * 0.1 * 5)
    g = charts.pipeline_graph(graph, groups)
    assert list(g.data[1].marker.color) == ["#59a14f", "#e15759"]


def test_metrics_figure_of_nothing_is_empty_not_an_error():
    fig = charts.metrics_figure([])
    assert len(fig.data) == 0
    assert len(charts.checkpoint_timeline([], None).data) == 0


def test_figure_mimebundle_renders_in_front_ends_and_in_saved_html():
    fig = charts.checkpoint_timeline(make_groups(2, 2), make_checkpoint(3, T0, 1000))
    bundle = charts.figure_mimebundle(fig)
    import json

    json.dumps(bundle)  # what the kernel sends must be plain JSON (no numpy)
    assert bundle["application/vnd.plotly.v1+json"]["data"]
    assert "plotly-graph-div" in bundle["text/html"]
    assert bundle["text/plain"].startswith("<")
