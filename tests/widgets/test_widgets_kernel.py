"""JobState, Errors, Checkpoints, Metrics and Dashboard widgets, kernel side: a recording
comm and a fake pipeline handle with injected faults."""

from __future__ import annotations

import json
import threading
import time

import pytest
from test_charts import make_checkpoint, make_groups, metric_groups, plain
from widget_fakes import T0, FakePipeline, ServerError, wait_for

from arroyo_jupyter.api import watch
from arroyo_jupyter.widgets import (
    CheckpointsWidget,
    Dashboard,
    ErrorsWidget,
    FigureView,
    JobStateWidget,
    MetricsWidget,
)

pytestmark = pytest.mark.usefixtures("recording_comm", "no_thread_leaks")
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'"


# ---------------------------------------------------------------- job state


@pytest.mark.parametrize(
    "state,desired,labels",
    [
        ("Running", True, ["Stop"]),
        ("Failed", False, ["Restart", "Restart without state"]),
        ("Stopped", False, ["Start", "Start without state"]),
        ("CheckpointStopping", True, ["Force Stop"]),
        ("Finished", False, []),  # the badge says Finished; no dead "Finished" button beside it
    ],
)
def test_buttons_come_from_the_shared_state_table(fake, state, desired, labels):
    fake.state, fake.running_desired = state, desired
    w = JobStateWidget(fake)
    wait_for(lambda: w.job.get("state") == state)
    assert [b["label"] for b in w.buttons] == labels
    assert all(b["enabled"] for b in w.buttons)
    w.close()


def test_stop_needs_confirmation_then_calls_the_api_with_the_chosen_mode(fake):
    w = JobStateWidget(fake)
    comm = w.comm
    wait_for(lambda: w.job.get("state") == "Running")
    comm.deliver({"type": "action", "method": "stop", "mode": "graceful"})
    assert fake.calls == []
    assert "confirmation" in w.error
    comm.deliver({"type": "action", "method": "stop", "mode": "graceful", "confirmed": True})
    wait_for(lambda: w.job.get("state") == "Stopped", message="Stopped")
    assert fake.calls == [("stop", "graceful")]
    assert [b["label"] for b in w.buttons] == ["Start", "Start without state"]
    assert [s["state"] for s in w.timeline] == ["Running", "Stopped"]
    assert w.timeline_source == "polls"  # the fake has no state_transitions
    # Stopped is terminal: the watcher polls slowly until an action hurries it
    calls = fake.job_calls
    comm.deliver({"type": "action", "method": "start", "ignore_state": True})
    assert "Start without state needs confirmation" in w.error and fake.calls[-1] == ("stop", "graceful")
    w.act("start", ignore_state=True)
    wait_for(lambda: w.job.get("state") == "Running")
    assert fake.calls[-1] == ("start", True)
    assert fake.job_calls > calls
    w.close()


def test_previews_stop_without_confirmation(recording_comm):
    p = FakePipeline(preview=True)
    w = JobStateWidget(p)
    assert not w.confirm_stop
    w.comm.deliver({"type": "action", "method": "stop", "mode": "immediate"})
    wait_for(lambda: p.calls == [("stop", "immediate")])
    w.close()


def test_a_failing_call_shows_the_servers_error(fake):
    fake.fail_with = ServerError("409: pipeline is already stopping")
    w = JobStateWidget(fake, confirm_stop=False)
    w.act("stop", "checkpoint")
    assert w.error == "stop failed: 409: pipeline is already stopping"
    assert w.busy == ""
    with pytest.raises(ValueError, match="stop mode must be one of"):
        w.act("stop", "sideways")
    with pytest.raises(ValueError, match="method must be one of"):
        w.act("explode")
    w.close()


def test_failure_reason_and_snapshot_are_escaped(fake):
    fake.state, fake.running_desired, fake.failure = "Failed", False, XSS
    fake.name = XSS
    w = JobStateWidget(fake)
    wait_for(lambda: w.job.get("failure") == XSS)
    data, _ = w._repr_mimebundle_()
    assert "<script>" not in data["text/html"] and "<img" not in data["text/html"]
    assert "&lt;script&gt;" in data["text/html"]
    assert "Failed" in data["text/plain"] and "run 1" in data["text/plain"]
    w.close()


def test_poll_interval_follows_the_state(fake):
    w = JobStateWidget(fake, refresh_interval=3.0)
    watcher = w._sub.watcher
    wait_for(lambda: w.job.get("state") == "Running")
    watcher._hurry_until = 0.0
    fake.state = "Scheduling"
    assert watcher._poll_once() == watch.FAST_POLL
    fake.state = "Running"
    assert watcher._poll_once() == 3.0  # the widget's refresh_interval
    fake.start_time = int(time.time() * 1e6) - 2_000_000  # a run that began 2 s ago
    assert watcher._poll_once() == watch.FAST_POLL  # a young run may end any moment
    fake.start_time = T0
    fake.state = "Finished"
    assert watcher._poll_once() == watch.IDLE_POLL  # still polled: someone may start or delete it
    w.comm.deliver({"type": "__visible__", "visible": False})
    assert watcher._poll_once() == watch.HIDDEN_POLL
    w.close()
    assert not watcher.alive


# ---------------------------------------------------------------- errors


def error_log(n):
    return [
        {
            "id": f"jlm_{i:04d}",
            "created_at": T0 - i * 1_000_000,
            "operator_id": f"op_{i % 3}" if i % 5 else None,
            "task_index": i % 2,
            "level": "error",
            "message": "task failed" if i % 2 else XSS,
            "details": f"detail {i}",
            "error_domain": "user",
        }
        for i in range(n)
    ]


def test_errors_pages_lazily_with_starting_after(fake):
    fake.error_log = error_log(23)
    w = ErrorsWidget(fake, page_size=10)
    assert [m["id"] for m in w.page] == [f"jlm_{i:04d}" for i in range(10)]
    assert w.has_more
    w.comm.deliver({"type": "page", "dir": "next"})
    wait_for(lambda: w.page_index == 1)
    assert w.page[0]["id"] == "jlm_0010"
    w.next_page()
    assert w.page_index == 2 and len(w.page) == 3 and not w.has_more
    w.next_page()  # no further page: stays
    assert w.page_index == 2
    w.previous_page()
    assert w.page[0]["id"] == "jlm_0010"
    w.comm.deliver({"type": "page_size", "value": 5})
    wait_for(lambda: w.page_size == 5 and len(w.page) == 5 and w.page_index == 0)
    assert len(w.to_pandas()) == 5
    df = w.to_pandas(all_pages=True)
    assert len(df) == 23 and df["created_at"].dt.tz is not None
    w.close()


def test_errors_first_page_refreshes_live_while_the_job_runs(fake):
    fake.error_log = error_log(2)
    w = ErrorsWidget(fake, page_size=10, refresh=0.05)
    assert len(w.page) == 2
    fake.error_log = [{**error_log(1)[0], "id": "jlm_new", "message": "new failure"}, *fake.error_log]
    wait_for(lambda: w.page and w.page[0]["id"] == "jlm_new", message="the new error")
    w.close()


def test_errors_grouping_counts_and_first_last_seen(fake):
    fake.error_log = error_log(30)
    w = ErrorsWidget(fake, page_size=7)
    g = w.group()
    assert g["count"].sum() == 30
    top = g.iloc[0]
    assert top["first_seen"] <= top["last_seen"]
    assert w.grouped_over == 30 and len(w.groups) == len(g)
    data, _ = w._repr_mimebundle_()
    assert "<script>" not in data["text/html"]
    w.close()


def test_errors_bad_page_size_and_server_failure(fake):
    with pytest.raises(ValueError, match="page_size"):
        ErrorsWidget(fake, page_size=0)
    fake.errors = lambda **kw: (_ for _ in ()).throw(ServerError("500: Something went wrong"))
    w = ErrorsWidget(fake)
    assert w.error == "500: Something went wrong"
    w.close()


# ---------------------------------------------------------------- checkpoints


def test_checkpoints_follow_the_latest_epoch_and_show_its_timeline(fake):
    fake.cps = [make_checkpoint(e, T0 + e * 10_000_000, 1_000_000) for e in (1, 2, 3)]
    fake.details = {e: make_groups(2, 2, T0 + e * 10_000_000) for e in (1, 2, 3)}
    w = CheckpointsWidget(fake, refresh=0)
    wait_for(lambda: w.shown_epoch == 3, message="epoch 3 shown")
    assert [e["epoch"] for e in w.epochs] == [3, 2, 1]
    timeline = json.loads(w.timeline_json)
    assert {"op_1", "op_2"} <= {plain(x) for x in timeline["layout"]["yaxis"]["ticktext"]}
    assert w.summary["duration"] == "1000 ms"
    assert json.loads(w.history_json)["data"]
    w.select(1)
    wait_for(lambda: w.shown_epoch == 1)
    w.select(1)
    w.comm.deliver({"type": "refresh"})
    wait_for(lambda: fake.calls.count(("details", 1)) == 1)
    assert "3 checkpoints" in w._snapshot_text()
    w.close()


def test_checkpoints_show_server_errors_and_hint(fake):
    fake.cps = [make_checkpoint(e, T0 + e * 10_000_000, 6_000_000) for e in (1, 2)]
    fake.details = {e: make_groups(1, 1) for e in (1, 2)}
    w = CheckpointsWidget(fake, refresh=0)
    wait_for(lambda: w.hint, message="hint")
    assert "60%" in w.hint
    fake.fail_with = ServerError("502: leader unreachable")
    w.comm.deliver({"type": "refresh"})
    wait_for(lambda: w.error == "502: leader unreachable")
    w.close()


def test_figure_host_sends_plotly_js_on_request(fake):
    fig = FigureView()
    fig.comm.deliver({"type": "need_plotly"})
    (_, content, bufs) = fig.comm.customs("plotly")[0]
    assert len(bufs[0]) > 1_000_000 and b"Plotly" in bufs[0][:5000]
    fig.close()


# ---------------------------------------------------------------- metrics and dashboard


def test_metrics_rows_and_levels(fake):
    fake.metric_groups = metric_groups()
    w = MetricsWidget(fake, refresh=0)
    wait_for(lambda: w.operators, message="metrics")
    by = {r["node_id"]: r for r in w.operators}
    assert by[1]["operator"] == "impulse" and by[1]["level"] == "LOW"
    assert by[2]["level"] == "HIGH"
    assert by[1]["recv"] == pytest.approx(1.0)
    assert json.loads(w.figure_json)["data"]
    assert "backpressure HIGH" in w._snapshot_text()
    w.close()


def test_an_unreachable_server_keeps_the_last_state_as_of_its_poll(fake, monkeypatch):
    w = JobStateWidget(fake, refresh_interval=0.05)
    wait_for(lambda: w.job.get("state") == "Running", message="Running")
    real_job = fake.job

    def down():
        raise ServerError("connection refused")

    monkeypatch.setattr(fake, "job", down)
    wait_for(lambda: w.as_of > 0, message="as of")
    assert w.job["state"] == "Running" and w.error == "could not refresh: connection refused"
    assert w.gone == ""  # an error is not a deletion
    monkeypatch.setattr(fake, "job", real_job)
    wait_for(lambda: w.as_of == 0 and w.error == "", message="back to live")
    w.close()


def test_viewed_widgets_hear_a_heartbeat_until_they_close(fake):
    from arroyo_jupyter.widgets import _base

    w = JobStateWidget(fake)
    comm = w.comm
    assert not comm.customs("__beat__")  # nothing until a view announces itself
    comm.deliver({"type": "__view__"})
    wait_for(lambda: len(comm.customs("__beat__")) >= 2, timeout=3 * _base.BEAT_S, message="two beats")
    assert [t for t in threading.enumerate() if t.name == "arroyo-widget-heartbeat"]
    w.close()
    beats = len(comm.customs("__beat__"))
    assert not [t for t in threading.enumerate() if t.name == "arroyo-widget-heartbeat"]
    assert len(comm.customs("__beat__")) == beats


def test_every_widget_of_a_deleted_pipeline_stops_polling_and_says_deleted(fake):
    w = ErrorsWidget(fake, refresh=0.05)
    assert w._sub is not None and w._sub.watcher.subscribers == 1  # on the pipeline's one watcher
    wait_for(lambda: w._pollers and w._pollers[0].alive, message="its own poller")
    fake.deleted = True
    w._sub.watcher.wake()
    wait_for(lambda: w.gone == "deleted", message="deleted")
    assert w.error == "" and not any(p.alive for p in w._pollers)
    w.close()


def test_dashboard_on_a_deleted_pipeline_stops_every_part(fake):
    d = Dashboard(fake, refresh_interval=0.1)
    try:
        wait_for(lambda: d.state.job.get("state") == "Running", message="Running")
        fake.deleted = True
        d.state.refresh()
        wait_for(lambda: d.deleted and d.state.gone == "deleted", message="deleted")
        parts = [p for p in d.parts if p is not d.state and getattr(p, "_pollers", None)]
        assert len(parts) == 4  # output, errors, checkpoints, metrics
        wait_for(
            lambda: all(not poller.alive for p in parts for poller in p._pollers),
            message="every part's own poller to stop",
        )
    finally:
        d.close()


def test_dashboard_has_all_parts_and_closes_them(fake):
    fake.error_log = error_log(3)
    d = Dashboard(fake)
    assert d.tabs.titles == ("Output", "Errors", "Checkpoints", "Metrics", "Graph")
    assert d.output is not None  # the fake graph has a preview sink
    data, _ = d._repr_mimebundle_()
    assert "Errors of fake" in data["text/html"] and "OutputTable" in data["text/plain"]
    d.close()
    assert all(w.closed for w in d.parts)
