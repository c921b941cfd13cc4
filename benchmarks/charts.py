"""5. Charts: building the checkpoint timeline, history and metrics figures, and their payload.

Each run is a fresh process that builds the figure once to warm plotly's validators
(a user's second chart), then times ``charts.checkpoint_timeline`` for one epoch of
64 operators x 64 subtasks (4 spans each, 16,384 spans), ``charts.checkpoint_history``
for 10,000 epochs and ``charts.metrics_figure`` for 5 minutes of metrics of 64 operators
x 8 subtasks (3 metrics x 150 points each, 230,400 points, subtasks summed through
``frames.operator_metrics_frame``), from API-shaped dicts. Payload = ``fig.to_json()`` bytes, which is what
the Figure widget syncs to the browser.
Baseline: the plainest plotly figure of the same spans/points, one trace built from
ready numpy arrays (plotly's own floor: no DataFrame, lanes, hover text or layout work).
"""

from __future__ import annotations

import sys
import time

from ._harness import Figure, alternate, emit, judge, median, run_worker

SHAPES = {
    "tiny": {"ops": 8, "subtasks": 8, "epochs": 500, "metric_subtasks": 2, "points": 30},
    "full": {"ops": 64, "subtasks": 64, "epochs": 10_000, "metric_subtasks": 8, "points": 150},
}
T0 = 1_754_000_000_000_000  # µs


def run(size: str, runs: int) -> list[Figure]:
    shape = SHAPES[size]
    figures: list[Figure] = []
    for chart, args, what in (
        ("timeline", [str(shape["ops"]), str(shape["subtasks"])], f"{shape['ops']}x{shape['subtasks']}"),
        ("history", [str(shape["epochs"])], f"{shape['epochs']} epochs"),
        (
            "metrics",
            [str(shape["ops"]), str(shape["metric_subtasks"]), str(shape["points"])],
            f"{shape['ops']} operators x {shape['metric_subtasks']} subtasks x {shape['points']} points",
        ),
    ):
        ours, base = alternate(
            runs,
            lambda c=chart, a=args: run_worker("charts", ["ours", c, *a]),
            lambda c=chart, a=args: run_worker("charts", ["baseline", c, *a]),
        )
        t_ours = [r["seconds"] * 1000 for r in ours]
        t_base = [r["seconds"] * 1000 for r in base]
        build = Figure(
            f"charts.{chart}.build_ms",
            median(t_ours),
            "ms",
            median(t_base),
            "ms",
            f"one plotly trace from ready arrays, {what}",
            target="< 1000 ms",
            samples=t_ours,
            baseline_samples=t_base,
        )
        build.met = judge(build.value, 1000, False)
        if not build.met and size == "full":  # reasons only where figures mean something
            build.note = run_worker("charts", ["profile", chart, *args]).get("hotspot", "")
        payload = Figure(
            f"charts.{chart}.payload_bytes",
            median([r["payload"] for r in ours]),
            "bytes",
            median([r["payload"] for r in base]),
            "bytes",
            f"the same one-trace figure, {what}",
        )
        figures += [build, payload]
    return figures


# ---------------------------------------------------------------- inputs in the API's shapes


def timeline_input(ops: int, subtasks: int) -> tuple[list[dict], dict]:
    groups = []
    for o in range(ops):
        subs = []
        for s in range(subtasks):
            t = T0 + o * 900 + s * 37
            spans = [
                {"event": "Alignment", "start_time": t, "finish_time": t + 400},
                {"event": "Sync", "start_time": t + 400, "finish_time": t + 900},
                {"event": "Async", "start_time": t + 900, "finish_time": t + 4000 + s * 11},
                {"event": "Committing", "start_time": t + 4000 + s * 11, "finish_time": t + 4500 + s * 11},
            ]
            subs.append({"index": s, "bytes": 1000 + s, "event_spans": spans})
        groups.append(
            {
                "operator_id": f"op_{o + 1}",
                "bytes": sum(x["bytes"] for x in subs),
                "started_metadata_write": T0 + 100_000,
                "finish_time": T0 + 110_000,
                "subtasks": subs,
            }
        )
    checkpoint = {
        "epoch": 7,
        "start_time": T0,
        "finish_time": T0 + 120_000,
        "events": [
            {"event": "Checkpointing", "start_time": T0, "finish_time": T0 + 90_000},
            {"event": "WritingMetadata", "start_time": T0 + 100_000, "finish_time": T0 + 110_000},
        ],
    }
    return groups, checkpoint


def metrics_input(ops: int, subtasks: int, points: int) -> tuple[list[dict], dict]:
    groups = [
        {
            "node_id": n + 1,
            "metric_groups": [
                {
                    "name": name,
                    "subtasks": [
                        {
                            "index": s,
                            "metrics": [
                                {"time": T0 + k * 2_000_000, "value": ((k * 7 + s + n) % 13) / 13}
                                for k in range(points)
                            ],
                        }
                        for s in range(subtasks)
                    ],
                }
                for name in ("messages_recv", "messages_sent", "backpressure")
            ],
        }
        for n in range(ops)
    ]
    graph = {
        "nodes": [{"node_id": n + 1, "operator": f"op_{n + 1}", "parallelism": subtasks} for n in range(ops)],
        "edges": [{"src_id": n + 1, "dest_id": n + 2} for n in range(ops - 1)],
    }
    return groups, graph


def history_input(epochs: int) -> list[dict]:
    out = []
    for e in range(1, epochs + 1):
        start = T0 + e * 10_000_000
        out.append(
            {
                "epoch": e,
                "start_time": start,
                "finish_time": start + 50_000 + (e * 7919) % 40_000,
                "checkpoint_type": "checkpoint",
                "events": [],
            }
        )
    return out


# ---------------------------------------------------------------- workers


def _ours(chart: str, args: list[int]):
    from arroyo_jupyter import charts

    if chart == "timeline":
        groups, cp = timeline_input(*args)
        return lambda: charts.checkpoint_timeline(groups, cp)
    if chart == "metrics":
        groups, graph = metrics_input(*args)
        return lambda: charts.metrics_figure(groups, graph)
    cps = history_input(*args)
    return lambda: charts.checkpoint_history(cps, interval_micros=10_000_000)


def _baseline(chart: str, args: list[int]):
    import numpy as np
    import plotly.graph_objects as go

    if chart == "timeline":
        groups, cp = timeline_input(*args)
        starts, durs, rows = [], [], []
        for r, g in enumerate(groups):
            for st in g["subtasks"]:
                for sp in st["event_spans"]:
                    starts.append(sp["start_time"] - cp["start_time"])
                    durs.append(sp["finish_time"] - sp["start_time"])
                    rows.append(r * 1000 + st["index"])
        s, d, y = np.array(starts) / 1000, np.array(durs) / 1000, np.array(rows)
        return lambda: go.Figure(go.Bar(base=s, x=d, y=y, orientation="h"))
    if chart == "metrics":
        groups, _ = metrics_input(*args)
        points = [
            (p["time"], p["value"])
            for g in groups
            for mg in g["metric_groups"]
            for st in mg["subtasks"]
            for p in st["metrics"]
        ]
        t = np.array([p[0] for p in points], dtype="datetime64[us]")
        v = np.array([p[1] for p in points])
        return lambda: go.Figure(go.Scattergl(x=t, y=v, mode="lines"))
    cps = history_input(*args)
    x = np.array([c["start_time"] for c in cps], dtype="datetime64[us]")
    y = np.array([(c["finish_time"] - c["start_time"]) / 1000 for c in cps])
    return lambda: go.Figure(go.Scattergl(x=x, y=y, mode="lines"))


def worker(argv: list[str]) -> None:
    who, chart, *rest = argv
    build = (_baseline if who == "baseline" else _ours)(chart, [int(a) for a in rest])
    if who == "profile":
        from ._profile import profile_call

        emit({"hotspot": profile_call(build)})
        return
    build().to_json()  # warm up plotly's validators and serialisers
    t0 = time.perf_counter()
    fig = build()
    seconds = time.perf_counter() - t0
    emit({"seconds": seconds, "payload": len(fig.to_json().encode())})


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(sys.argv[2:])
