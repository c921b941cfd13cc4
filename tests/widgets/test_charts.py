"""charts.py: figures from API-shaped data, console semantics, and build speed at scale."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from arroyo_jupyter import charts, frames

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


def plain(label: str) -> str:
    """An axis label without its colour swatch markup."""
    return re.sub(r"<[^>]+>■</span> ", "", label)


def test_timeline_rows_follow_the_console_layout():
    groups = make_groups(2, 3)[::-1]  # server order is unspecified: the chart sorts
    groups[0]["operator_id"] = "sink_preview_10"
    fig = charts.checkpoint_timeline(groups, make_checkpoint(1, T0, 1000))
    labels = [plain(x) for x in fig.layout.yaxis.ticktext]
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


def test_an_open_span_says_in_progress_not_a_made_up_duration():
    g = make_groups(1, 1)
    g[0]["subtasks"][0]["event_spans"][2]["finish_time"] = 0  # Arroyo's "not finished yet"
    fig = charts.checkpoint_timeline(g, make_checkpoint(1, T0, 1000))
    async_ = next(t for t in fig.data if t.name == "Async")
    assert list(async_.customdata[:, 2]) == ["in progress"]


def test_timeline_at_64_by_64_has_one_trace_per_span_type():
    # Build time is measured in benchmarks/ (make bench), not asserted here.
    groups = make_groups(64, 64)
    fig = charts.checkpoint_timeline(groups, make_checkpoint(7, T0, 2000))
    assert len(fig.data) <= len(charts.GLOBAL_EVENTS) + len(charts.SUBTASK_EVENTS) + 1
    assert sum(len(t.x) for t in fig.data) == 64 * 64 * 3 + 64 + 2
    assert fig.layout.height <= charts.MAX_TIMELINE_PX


def history(durations_us, interval_s=10):
    return [make_checkpoint(i + 1, T0 + i * interval_s * 1_000_000, d) for i, d in enumerate(durations_us)]


def test_history_of_millisecond_checkpoints_on_a_2s_interval_shows_them():
    rng = np.random.default_rng(7)
    durations = rng.integers(3_000, 30_001, 40).tolist()  # 3-30 ms
    fig = charts.checkpoint_history(history(durations, 2), interval_micros=2_000_000)
    low, high = fig.layout.yaxis.range
    assert low == 0 and max(durations) / 1000 <= high <= 2 * max(durations) / 1000  # not a 2000 ms axis
    assert not fig.layout.shapes  # the interval line would flatten them: left out...
    assert "interval 2000 ms is off scale" in fig.layout.yaxis.title.text  # ...and said instead
    # where the interval is close to the durations, it is drawn as a reference line
    slow = charts.checkpoint_history(history([900_000, 1_200_000, 1_000_000], 2), interval_micros=2_000_000)
    assert [s.y0 for s in slow.layout.shapes] == [2000.0] and slow.layout.yaxis.range[1] >= 2000


def test_history_outliers_by_median_and_mad():
    rng = np.random.default_rng(1)
    durations = rng.integers(900_000, 1_100_000, 50).tolist()
    durations[20] = 9_000_000
    fig = charts.checkpoint_history(history(durations), interval_micros=2_000_000)
    outlier = next(t for t in fig.data if t.name.startswith("outlier"))
    assert list(outlier.customdata[:, 0]) == ["21"]
    # durations that merely vary a few ms are not outliers ("anything over a few ms" was)
    steady = [5_000 + (i % 5) * 400 for i in range(40)]
    assert not charts.checkpoint_outliers(pd.Series(steady)).any()
    assert not any(t.name.startswith("outlier") for t in charts.checkpoint_history(history(steady)).data)
    # a slow trend is not an outlier either
    assert not charts.checkpoint_outliers(pd.Series(range(1000, 1100))).any()


def test_history_size_subplot_selected_epoch_and_hover():
    cps = history([10_000, 12_000, 11_000, 13_000])
    cps[3]["checkpoint_type"] = "stopping"
    fig = charts.checkpoint_history(cps, sizes={1: 1000, 4: 4096}, selected_epoch=3)
    size = next(t for t in fig.data if t.name == "state size")
    assert size.yaxis == "y2" and list(size.y) == [1000, 4096]  # its own subplot, not a 2nd axis
    assert fig.layout.yaxis2.title.text == "size (bytes)" and fig.layout.yaxis.title.text.startswith(
        "duration"
    )
    shown = next(t for t in fig.data if t.name.startswith("epoch 3"))
    assert list(shown.y) == [11.0]
    duration = fig.data[0]
    assert list(duration.customdata[3]) == ["4", "13.0 ms", "4.0 KB", "stopping"]
    for word in ("epoch", "duration", "bytes", "type"):
        assert word in duration.hovertemplate
    # the title sits top-left, the legend under the plot: they cannot overlap
    assert fig.layout.title.x == 0 and fig.layout.legend.y < 0 and fig.layout.legend.orientation == "h"


def test_hint_is_actionable():
    slow = history([1_500_000] * 6)
    hint = charts.checkpoint_hint(slow, 2_000_000)
    assert "75% of the 2000 ms interval" in hint and "Raise the interval" in hint
    low = charts.checkpoint_hint(history([20_000] * 6), 60_000_000)
    assert "0.0% of the 1:00 interval" in low and "overhead is low" in low
    grown = charts.checkpoint_hint(history([20_000] * 6), 2_000_000, sizes={1: 1000, 3: 2000, 6: 9000})
    assert "State grew from 1000 B to 8.8 KB over epochs 1–6" in grown
    groups = make_groups(3, 2)
    groups[2]["subtasks"][1]["event_spans"][2]["finish_time"] = T0 + 90_000  # op_3's Async drags
    slowest = charts.checkpoint_hint(history([100_000] * 6), 2_000_000, groups=groups)
    assert "Slowest operator: op_3 (89.9 ms of its own work in subtask 1, mostly Async" in slowest
    assert charts.checkpoint_hint([], 2_000_000) is None


def test_history_of_10000_epochs_is_one_trace_and_exportable():
    cps = [make_checkpoint(i + 1, T0 + i * 10_000_000, 1_000_000 + (i % 7) * 1000) for i in range(10_000)]
    fig = charts.checkpoint_history(cps, interval_micros=10_000_000)
    assert isinstance(fig, go.Figure) and fig.data[0].type == "scattergl"
    assert len(fig.data[0].x) == 10_000
    assert fig.to_json()


def test_bytes_heatmap_shows_skew():
    groups = make_groups(3, 4)
    groups[1]["subtasks"][2]["bytes"] = 10**9
    fig = charts.checkpoint_bytes(groups)
    z = np.array(fig.data[0].z, dtype=float)
    assert z.shape == (3, 4)
    assert np.unravel_index(np.nanargmax(z), z.shape) == (1, 2)
    groups[0]["subtasks"][3]["bytes"] = None  # not reported: blank, not 0
    table = frames.checkpoint_bytes_frame(groups)
    assert pd.isna(table["bytes"][3]) and list(table["subtask"][:4]) == [0, 1, 2, 3]
    assert np.isnan(np.array(charts.checkpoint_bytes(groups).data[0].z, dtype=float)[0, 3])


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


GRAPH = {
    "nodes": [
        {"node_id": 1, "operator": "impulse", "description": "source", "parallelism": 2},
        {"node_id": 2, "operator": "preview", "description": "sink", "parallelism": 2},
    ],
    "edges": [{"src_id": 1, "dest_id": 2, "edge_type": "Forward"}],
}


def test_metrics_table_and_chart_give_the_same_number():
    groups = metric_groups(points=6)
    # subtask 1 of node 2 samples 1 s later than subtask 0: the sum must still hold both
    for mg in groups[1]["metric_groups"]:
        for p in mg["subtasks"][1]["metrics"]:
            p["time"] += 1_000_000
    table = frames.operator_summary_frame(groups, GRAPH).set_index("node_id")
    fig = charts.metrics_figure(groups, GRAPH)
    for node, label in ((1, "1: impulse"), (2, "2: preview")):
        line = next(t for t in fig.data if t.name == label and t.yaxis == "y2")  # events out
        assert line.y[-1] == pytest.approx(table.loc[node, "messages_sent"])
    # the console's numbers: sum over subtasks of each one's latest value, max of backpressure
    assert table.loc[2, "messages_sent"] == pytest.approx(2 * 0.1 * 6)
    assert table.loc[2, "backpressure"] == pytest.approx(0.7) and table.loc[2, "backpressure_level"] == "HIGH"
    assert list(table["parallelism"]) == [2, 2]


def test_metrics_legend_colours_and_backpressure_levels():
    groups = metric_groups()
    groups[0]["metric_groups"] = [g for g in groups[0]["metric_groups"] if g["name"] != "messages_recv"]
    fig = charts.metrics_figure(groups, GRAPH)
    legend = sorted(t.name for t in fig.data if t.showlegend)
    assert legend == ["1: impulse", "2: preview"]  # the source has no events in: still listed
    colours = {t.name: t.line.color for t in fig.data if t.type == "scatter"}
    assert colours["1: impulse"] == charts.operator_colour(1) == charts.operator_colour("source_impulse_1")
    heat = next(t for t in fig.data if t.type == "heatmap")
    assert [plain(y) for y in heat.y] == ["1: impulse", "2: preview"]
    assert set(np.asarray(heat.z)[0]) == {0} and set(np.asarray(heat.z)[1]) == {2}  # LOW, HIGH
    per_subtask = charts.metrics_figure(groups, GRAPH, per_subtask=True)
    assert {t.name for t in per_subtask.data if t.showlegend} >= {"2: preview [0]", "2: preview [1]"}


def test_pipeline_graph_draws_operator_boxes_and_edges():
    groups = metric_groups()
    fig = charts.pipeline_graph(GRAPH, groups)
    boxes = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [b.line.color for b in boxes] == [charts.operator_colour(1), charts.operator_colour(2)]
    assert [b.fillcolor for b in boxes] == ["#d4f4dd", "#fdd5d9"]  # LOW, HIGH backpressure
    texts = [a.text for a in fig.layout.annotations if a.text]
    assert "<b>impulse</b>" in texts[0] and "parallelism 2" in texts[0] and "in 1.0 · out 1.0 eps" in texts[0]
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    assert len(arrows) == 1 and arrows[0].ay > arrows[0].y  # from the source box down to the sink
    plain_graph = charts.pipeline_graph(GRAPH)
    assert "backpressure n/a" in plain_graph.layout.annotations[0].text


def test_metrics_figure_of_nothing_is_empty_not_an_error():
    fig = charts.metrics_figure([])
    assert len(fig.data) == 0
    assert len(charts.checkpoint_timeline([], None).data) == 0
    assert frames.operator_summary_frame([]).empty


def test_error_groups_mask_numbers_and_ids():
    msgs = [
        {"id": f"jlm_{i}", "created_at": T0 + i, "level": "error", "operator_id": "source_orders_1",
         "message": f"bad data in line {i * 7} of /tmp/orders2.json: could not convert '{i},75' to DOUBLE"}
        for i in range(1, 6)
    ] + [
        {"id": "jlm_x", "created_at": T0 + 99, "level": "error", "operator_id": None,
         "message": "job 8f3a2b9c1d failed after 3 retries"},
        {"id": "jlm_y", "created_at": T0 + 100, "level": "error", "operator_id": None,
         "message": "job 77aa00bb11 failed after 12 retries"},
    ]  # fmt: skip
    groups = frames.error_groups_frame(frames.errors_frame(msgs))
    assert list(groups["count"]) == [5, 2]
    first = groups.iloc[0]
    assert first["pattern"] == "bad data in line N of /tmp/orders2.json: could not convert 'N' to DOUBLE"
    assert first["first_seen"] == pd.Timestamp(T0 + 1, unit="us", tz="UTC")
    assert first["last_seen"] == pd.Timestamp(T0 + 5, unit="us", tz="UTC")
    assert first["example"].startswith("bad data in line 35 ")  # the latest, whole
    assert (
        groups.iloc[1]["operator_id"] is None
        and groups.iloc[1]["pattern"] == "job <id> failed after N retries"
    )
    assert frames.normalise_message("source_impulse_1 in utf8") == "source_impulse_1 in utf8"
    assert frames.error_groups_frame([]).empty


def test_errors_frame_shows_whole_messages_and_stays_a_dataframe():
    long = "bad data: " + "x" * 300 + " trouble at the end"
    df = frames.errors_frame([{"id": "jlm_1", "created_at": T0, "level": "error", "message": long}])
    assert isinstance(df, pd.DataFrame)
    assert long in df._repr_html_() and long in repr(df)
    selected = df[df["level"] == "error"][["message"]]  # what a notebook shows next
    assert long in selected._repr_html_() and isinstance(selected, pd.DataFrame)
    assert long not in pd.DataFrame(selected)._repr_html_()  # (a plain frame would cut it)


def test_figure_mimebundle_renders_in_front_ends_and_in_saved_html():
    fig = charts.checkpoint_timeline(make_groups(2, 2), make_checkpoint(3, T0, 1000))
    bundle = charts.figure_mimebundle(fig)
    import json

    json.dumps(bundle)  # what the kernel sends must be plain JSON (no numpy)
    assert bundle["application/vnd.plotly.v1+json"]["data"]
    assert "plotly-graph-div" in bundle["text/html"]
    assert bundle["text/plain"].startswith("<")
