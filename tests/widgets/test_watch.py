"""One watcher per pipeline (api/watch.py): one poll loop fanned out to every view,
stopped when the last view closes, no thread left; deletions and server transitions.

Against the embedded server over real HTTP; requests are counted by a transport that
wraps httpx's own."""

from __future__ import annotations

import collections
import threading

import httpx
import pytest
from widget_fakes import FakePipeline, wait_for

from arroyo_jupyter.api import Client, watch
from arroyo_jupyter.widgets import Dashboard, JobStateWidget

pytestmark = pytest.mark.usefixtures("recording_comm", "no_thread_leaks")
IMPULSE = (
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '50');\nSELECT counter FROM impulse;"
)


class CountingTransport(httpx.HTTPTransport):
    """httpx's transport, counting requests per (method, path)."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.counts[(request.method, request.url.path)] += 1
        return super().handle_request(request)

    def jobs_gets(self, pid: str) -> int:
        with self._lock:
            return sum(
                n for (m, path), n in self.counts.items() if m == "GET" and path.endswith(f"/{pid}/jobs")
            )


@pytest.fixture
def counted(arroyo_server):
    transport = CountingTransport()
    client = Client(arroyo_server.url, transport=transport)
    yield client, transport
    client.close()


def arroyo_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("arroyo-watch-", "arroyo-widget-"))]


def test_several_views_share_one_poll_loop_and_it_ends_with_the_last(counted):
    client, transport = counted
    p = client.create_preview(IMPULSE)
    try:
        seen: list[str] = []
        a, b = JobStateWidget(p, refresh_interval=0.2), JobStateWidget(p, refresh_interval=0.2)
        script = p.watch(lambda ev: seen.append(ev.state), refresh_interval=0.2)
        watcher = watch.watcher_for(p)
        assert a._sub.watcher is watcher and b._sub.watcher is watcher and script.watcher is watcher
        assert watcher.subscribers == 3
        wait_for(lambda: a.job.get("state") == "Running" == b.job.get("state"), timeout=60, message="Running")
        # three views, one loop: each poll is one GET …/jobs, however many views listen
        polls0, gets0 = watcher.polls, transport.jobs_gets(p.id)
        wait_for(lambda: watcher.polls >= polls0 + 10, timeout=30, message="ten more polls")
        polls, gets = watcher.polls - polls0, transport.jobs_gets(p.id) - gets0
        assert polls - 1 <= gets <= polls + 1, (polls, gets)  # one poll may be in flight
        assert "Running" in seen
        # the last view to close ends the loop; no thread is left and the registry forgets it
        a.close()
        script.close()
        assert watcher.alive
        b.close()
        assert not watcher.alive and watch.watchers() == []
        gets_after = transport.jobs_gets(p.id)
        assert not [n for n in arroyo_threads() if n.startswith("arroyo-watch-")]
        assert transport.jobs_gets(p.id) == gets_after  # nobody polls any more
    finally:
        p.stop("immediate")


def test_a_dashboard_polls_the_job_once_for_all_its_parts(counted):
    """Five views in one dashboard: the job is fetched by the watcher, not once per part."""
    client, transport = counted
    p = client.create_preview(IMPULSE)
    d = Dashboard(p, refresh_interval=0.3)
    try:
        watcher = d.state._sub.watcher
        wait_for(lambda: d.state.job.get("state") == "Running", timeout=60, message="Running")
        polls0, gets0 = watcher.polls, transport.jobs_gets(p.id)
        wait_for(lambda: watcher.polls >= polls0 + 8, timeout=30, message="eight more polls")
        polls, gets = watcher.polls - polls0, transport.jobs_gets(p.id) - gets0
        # the data widgets read the job from the watcher while its poll is fresh
        assert gets <= polls + 3, (polls, gets)
    finally:
        d.close()
        p.stop("immediate")
    assert watch.watchers() == []


def test_an_off_screen_view_still_gets_every_transition_with_server_times(counted):
    client, _ = counted
    p = client.create_preview(IMPULSE)
    w = JobStateWidget(p, confirm_stop=False)
    try:
        wait_for(lambda: w.job.get("state") == "Running", timeout=60, message="Running")
        run = w.job["run_id"]
        w.comm.deliver({"type": "__visible__", "visible": False})  # scrolled away: slow polls
        p.stop("immediate")
        p.wait_for("Stopped", timeout=30)
        w.comm.deliver({"type": "__visible__", "visible": True})  # back on screen: poll now
        wait_for(lambda: w.job.get("state") == "Stopped", timeout=30, message="Stopped")
        states = [c["state"] for c in w.timeline]
        assert w.timeline_source == "server"
        assert states[-2:] == ["Stopping", "Stopped"], states  # the passing state is there too
        assert states.index("Running") < states.index("Stopping")
        server = client.get_job_state_transitions(p.id, w.job["id"])
        assert [c["time"] for c in w.timeline] == [t.time // 1000 for t in server]  # the server's times
        assert all(c["run_id"] == run for c in w.timeline if c["state"] in ("Running", "Stopping"))
    finally:
        w.close()


def test_deleted_pipeline_says_deleted_disables_controls_and_stops_polling(counted):
    client, transport = counted
    p = client.create_preview(IMPULSE)
    w = JobStateWidget(p, confirm_stop=False, refresh_interval=0.2)
    try:
        wait_for(lambda: w.job.get("state") == "Running", timeout=60, message="Running")
        p.stop("immediate")
        p.wait_for("Stopped", timeout=30)
        p.delete()
        wait_for(lambda: w.gone == "deleted", timeout=30, message="deleted")
        assert w.buttons == [] and w.busy == ""
        assert "404" not in w.error
        assert "Deleted" in w._snapshot_text()
        watcher = w._sub.watcher
        wait_for(lambda: not watcher.alive, timeout=10, message="the watcher's loop to end")
        gets = transport.jobs_gets(p.id)
        w.act("start")
        assert "deleted" in w.error and transport.jobs_gets(p.id) == gets
    finally:
        w.close()


def test_an_expired_preview_shows_stopped_with_start_and_its_refusal(tmp_path):
    from arroyo_jupyter.local import start

    with start(port=0, state_dir=tmp_path, preview_ttl_s=1.0) as server, Client(server.url) as client:
        p = client.create_preview(IMPULSE)
        w = JobStateWidget(p, refresh_interval=0.2)
        try:
            wait_for(lambda: w.job.get("state") == "Stopped", timeout=60, message="the TTL to stop it")
            assert [b["label"] for b in w.buttons] == ["Start", "Start without state"]
            assert all(b["enabled"] and not b["in_progress"] for b in w.buttons)  # no spinning "Starting"
            w.act("start")
            assert w.error.startswith("start failed: 409") and "previews do not run again" in w.error
            assert w.busy == "" and w.job["state"] == "Stopped"
        finally:
            w.close()


def test_a_script_iterates_events_until_it_closes():
    fake = FakePipeline()
    sub = watch.watch(fake, refresh_interval=0.05)
    events = iter(sub)
    first = next(events)
    assert first.state == "Running" and first.run_id == 1 and first.transitions is None
    fake.state = "Stopped"
    assert next(e for e in events if e.state == "Stopped").job.state == "Stopped"
    fake.deleted = True
    sub.watcher.wake()  # Stopped is polled every IDLE_POLL s; no need to wait for it
    assert next(events).deleted  # and the iteration ends there
    assert list(events) == []
    assert sub.closed and watch.watchers() == []
    # leaving a loop with break ends the subscription and the watcher's thread
    fake.deleted = False
    again = watch.watch(fake, refresh_interval=0.05)
    for ev in again:
        if ev.state == "Stopped":
            break
    assert again.closed and watch.watchers() == []


def test_a_broken_callback_does_not_stop_the_others():
    fake = FakePipeline()
    got: list[str | None] = []

    def broken(_ev):
        raise RuntimeError("view bug")

    with watch.watch(fake, broken, refresh_interval=0.05), watch.watch(fake, lambda ev: got.append(ev.state)):
        wait_for(lambda: "Running" in got, message="the healthy view's event")
        fake.state = "Stopped"
        wait_for(lambda: "Stopped" in got, message="news after the broken callback raised")
    assert watch.watchers() == []


def test_refresh_interval_must_be_positive():
    with pytest.raises(ValueError, match="refresh_interval must be > 0"):
        watch.watch(FakePipeline(), refresh_interval=0)
    assert watch.watchers() == []  # the refused call left no watcher behind


def test_nudge_makes_a_sleeping_watcher_poll_now():
    fake = FakePipeline(state="Stopped")
    got: list[str | None] = []
    with watch.watch(fake, lambda ev: got.append(ev.state), refresh_interval=60):
        wait_for(lambda: got == ["Stopped"], message="first event")
        fake.state = "Running"  # started elsewhere; the watcher sleeps IDLE_POLL s
        watch.nudge(fake)
        wait_for(lambda: got[-1:] == ["Running"], timeout=3, message="news without waiting a whole interval")
    watch.nudge(fake)  # no watcher: nothing happens
    assert watch.watchers() == []


def test_a_rescale_while_stopped_shows_before_the_next_start(counted):
    client, _ = counted
    p = client.create_pipeline("rescaled_view", IMPULSE, parallelism=1)
    w = JobStateWidget(p, confirm_stop=False, refresh_interval=0.2)
    try:
        wait_for(lambda: w.job.get("state") == "Running", timeout=60, message="Running")
        assert w.parallelism == 1
        w.act("stop", "immediate")
        wait_for(lambda: w.job.get("state") == "Stopped", timeout=60, message="Stopped")
        client.get_pipeline(p.id).rescale(3)  # another handle, as a magic or a script would
        w._sub.watcher.wake()
        wait_for(lambda: w.parallelism == 3, timeout=30, message="parallelism 3 while still Stopped")
        assert w.job["state"] == "Stopped"
    finally:
        w.close()
        p.delete()


def test_an_action_through_any_handle_wakes_the_pipelines_watcher(counted):
    client, _ = counted
    p = client.create_pipeline("nudged_by_handle", IMPULSE)
    states: list[str | None] = []
    try:
        p.wait_for("Running", timeout=60)
        p.stop("immediate")
        p.wait_for("Stopped", timeout=60)
        with p.watch(lambda ev: states.append(ev.state), refresh_interval=60):
            wait_for(lambda: states[-1:] == ["Stopped"], message="first event")
            # a Job handle of another lookup starts it; the watcher sleeps IDLE_POLL (10 s) otherwise
            client.get_pipeline(p.id).job().start()
            wait_for(lambda: states[-1:] != ["Stopped"], timeout=5, message="news of the start within a poll")
    finally:
        p.stop("immediate")
        p.wait_for("Stopped", timeout=60)
        p.delete()
