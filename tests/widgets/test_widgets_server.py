"""Widgets against the embedded Arroyo-compatible server, through the real client."""

from __future__ import annotations

import json

import pytest
from test_charts import plain
from widget_fakes import wait_for

from arroyo_jupyter.api import Client
from arroyo_jupyter.widgets import CheckpointsWidget, ErrorsWidget, JobStateWidget, OutputTable

pytestmark = pytest.mark.usefixtures("recording_comm", "no_thread_leaks")
IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\n"
FAILING_UDF = (
    "from arroyo_udf import udf\n\n@udf\ndef blow_up(x: int) -> int:\n"
    "    if x >= 5:\n        raise ValueError('boom at ' + str(x))\n    return x\n"
)


@pytest.fixture
def client(arroyo_server):
    c = Client(arroyo_server.url)
    yield c
    c.close()


def stop_quietly(p):
    try:
        p.stop("immediate")
    except Exception:
        pass


def test_a_previews_rows_appear_and_close_ends_the_stream(client):
    p = client.create_preview(IMPULSE + "SELECT counter, subtask_index FROM impulse;")
    w = OutputTable(p)
    try:
        wait_for(lambda: len(w.to_pandas()) >= 20, timeout=60, message="preview rows")
        df = w.to_pandas()
        assert {"arroyo.row_id", "arroyo.event_time", "counter", "subtask_index"} <= set(df.columns)
        assert df["counter"].is_monotonic_increasing
        wait_for(lambda: w.comm.customs("delta"), message="a delta to the browser")
        assert w.status == "streaming"
        reader = w._reader
    finally:
        w.close()
        stop_quietly(p)
    assert not reader.is_alive()


def test_an_updating_query_is_shown_as_a_changelog(client):
    p = client.create_preview(
        IMPULSE + "SELECT counter % 3 AS k, count(*) AS n FROM impulse GROUP BY counter % 3;"
    )
    w = OutputTable(p, key=["k"])
    try:
        wait_for(
            lambda: w.stats.get(next(iter(w.stats), ""), {}).get("total", 0) >= 6,
            timeout=60,
            message="updates",
        )
        assert next(iter(w.stats.values()))["mode"] == "changelog"
        final = w.to_pandas("final")
        assert sorted(final["k"].tolist()) == sorted(set(final["k"].tolist()))  # one row per key
        assert set(w.to_pandas("changelog")["arroyo.op"]) <= {"c", "u", "d"}
    finally:
        w.close()
        stop_quietly(p)


def test_stop_button_moves_the_job_to_stopped(client):
    p = client.create_pipeline("widget_stop", IMPULSE + "SELECT counter FROM impulse;")
    w = JobStateWidget(p)
    try:
        wait_for(lambda: w.job.get("state") == "Running", timeout=60, message="Running")
        assert [b["label"] for b in w.buttons] == ["Stop"]
        w.comm.deliver({"type": "action", "method": "stop", "mode": "immediate", "confirmed": True})
        wait_for(lambda: w.job.get("state") == "Stopped", timeout=60, message="Stopped")
        assert [b["label"] for b in w.buttons] == ["Start", "Start without state"]
        assert "Stopped" in [s["state"] for s in w.timeline]
        assert w.error == ""
    finally:
        w.close()
        stop_quietly(p)


def test_errors_page_shows_the_engines_errors(client):
    p = client.create_pipeline(
        "widget_errors",
        IMPULSE + "SELECT blow_up(counter) AS v FROM impulse;",
        udfs=[{"definition": FAILING_UDF, "language": "python"}],
    )
    w = ErrorsWidget(p, page_size=1)
    try:
        wait_for(lambda: (w.refresh(), w.page)[1], timeout=60, message="an error")
        assert any(
            "boom at 5" in (m["message"] + m["details"])
            for m in w.to_pandas(all_pages=True).to_dict("records")
        )
        groups = w.group()
        assert groups["count"].sum() == w.grouped_over >= 1
    finally:
        w.close()
        stop_quietly(p)


def test_a_finished_checkpoints_timeline_has_the_engines_operators_and_subtasks(client):
    p = client.create_pipeline(
        "widget_checkpoints",
        IMPULSE + "SELECT counter FROM impulse;",
        parallelism=2,
        checkpoint_interval_micros=1_000_000,
    )
    w = CheckpointsWidget(p, refresh=0.5)
    try:
        wait_for(
            lambda: w.shown_epoch > 0 and w.summary.get("finish_time"),
            timeout=60,
            message="a finished checkpoint",
        )
        groups = p.checkpoint_details(w.shown_epoch)
        ticks = [plain(x) for x in json.loads(w.timeline_json)["layout"]["yaxis"]["ticktext"]]
        for g in groups:
            assert g.operator_id in ticks
        assert ticks.count("[1]") >= 1  # parallelism 2: a second subtask row
        assert w.summary["operators"] == len(groups)
    finally:
        w.close()
        stop_quietly(p)


def test_dashboard_on_a_preview_streams_and_closes_everything(client):
    from arroyo_jupyter.widgets import Dashboard

    p = client.create_preview(IMPULSE + "SELECT counter FROM impulse;")
    d = Dashboard(p)
    try:
        assert d.output is not None
        wait_for(lambda: len(d.output.to_pandas()) > 0, timeout=60, message="rows in the dashboard")
        wait_for(lambda: d.state.job.get("state") == "Running", timeout=60, message="Running")
        data, _ = d._repr_mimebundle_()
        assert "Running" in data["text/plain"] and "Output of" in data["text/html"]
    finally:
        d.close()
        stop_quietly(p)
    assert all(w.closed for w in d.parts)


def test_metrics_show_the_engines_rates_per_operator(client):
    from arroyo_jupyter.widgets import MetricsWidget

    p = client.create_pipeline("widget_metrics", IMPULSE + "SELECT counter FROM impulse;")
    w = MetricsWidget(p, refresh=0.5)
    try:
        wait_for(
            lambda: any((r["sent"] or 0) > 0 for r in w.operators),
            timeout=60,
            message="events/s from the engine",
        )
        nodes = {n.node_id for n in p.graph.nodes}
        assert {r["node_id"] for r in w.operators} == nodes
        assert all(r["level"] in ("LOW", "MEDIUM", "HIGH", None) for r in w.operators)
        assert json.loads(w.figure_json)["data"]
    finally:
        w.close()
        stop_quietly(p)
