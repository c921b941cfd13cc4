"""``follow_output()``: a pipeline's rows across runs, with run boundaries, over real HTTP.

Also the preview path of ``%%arroyo preview --save`` (``Preview.collect``), which must get
every row of a bounded preview even when the preview ended before it subscribed.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import orjson
import pytest

from arroyo_jupyter import session
from arroyo_jupyter.api import Client, OutputEvent, RunBoundary

from .conftest import reply

ENDLESS = (
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter FROM impulse;"
)


@pytest.fixture
def client(arroyo_server: Any):
    with Client(arroyo_server.url) as c:
        yield c


class Collector:
    """Runs a follower on a thread and records what it yields."""

    def __init__(self, follower: Any) -> None:
        self.follower = follower
        self.items: list[Any] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for item in self.follower:
                self.items.append(item)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc

    def boundaries(self) -> list[tuple[str, str]]:
        return [(b.kind, b.reason) for b in self.items if isinstance(b, RunBoundary)]

    def rows_after_last_start(self) -> int:
        n = 0
        for item in self.items:
            if isinstance(item, RunBoundary):
                n = 0 if item.kind == "start" else n
            else:
                n += len(item.rows)
        return n

    def wait(self, predicate: Any, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.error is None, self.error
            assert time.monotonic() < deadline, (
                f"timed out waiting for {what}; boundaries {self.boundaries()}"
            )
            time.sleep(0.05)


def _file_source(tmp_path: Any, lines: int = 1000) -> str:
    path = tmp_path / "src.json"
    path.write_bytes(b"".join(orjson.dumps({"k": i % 7, "v": i}) + b"\n" for i in range(lines)))
    return (
        f"CREATE TABLE src (k BIGINT, v BIGINT) WITH (connector = 'single_file', path = '{path}', "
        "format = 'json', type = 'source');\n"
    )


def _final_counts(rows: list[dict]) -> dict[int, int]:
    final: dict[int, int] = {}
    for row in rows:
        if row["after"] is not None:
            final[row["after"]["k"]] = row["after"]["n"]
        else:
            final.pop(row["before"]["k"], None)
    return final


@pytest.mark.parametrize("late", [True, False], ids=["after-it-finished", "at-once"])
def test_save_preview_over_a_file_gets_every_row(arroyo_server, tmp_path, late):
    session.connect(arroyo_server.url)
    try:
        preview = session.preview(_file_source(tmp_path) + "SELECT k, count(*) AS n FROM src GROUP BY k;")
        if late:  # the case users hit: the bounded preview is over before anyone subscribes
            preview.pipeline.wait_for("Finished", timeout=60)
        frame = preview.collect(100_000, timeout=30)
        preview.stop("done collecting")
    finally:
        session.disconnect()
    assert list(frame["arroyo.row_id"]) == list(range(len(frame)))  # from row 0, nothing missing
    assert _final_counts(frame[["before", "after"]].to_dict("records")) == {
        k: len(range(k, 1000, 7)) for k in range(7)
    }


def test_follow_output_across_stop_start_and_restart(client):
    p = client.create_pipeline(f"follow-{uuid.uuid4().hex[:6]}", ENDLESS)
    c = Collector(p.follow_output(poll_s=0.1))
    try:
        c.wait(lambda: c.rows_after_last_start() >= 20, "rows of run 1")
        p.stop("checkpoint")
        c.wait(lambda: ("end", "stopped") in c.boundaries(), "the end of run 1")
        p.wait_for("Stopped")
        p.start()
        c.wait(lambda: c.boundaries().count(("start", "started")) == 2, "run 2's stream")
        c.wait(lambda: c.rows_after_last_start() >= 20, "rows of run 2")
        p.restart()
        c.wait(lambda: ("end", "restarting") in c.boundaries(), "the end of run 2")
        c.wait(lambda: c.boundaries().count(("start", "started")) == 3, "run 3's stream")
        c.wait(lambda: c.rows_after_last_start() >= 20, "rows of run 3")
    finally:
        c.follower.close()
        c.thread.join(10)
    assert not c.thread.is_alive() and c.error is None
    seen = c.boundaries()
    if seen[0] == ("waiting", "waiting"):  # created, not yet Running when the follower began
        seen = seen[1:]
    assert seen[:5] == [
        ("start", "started"),
        ("end", "stopped"),
        ("start", "started"),
        ("end", "restarting"),
        ("start", "started"),
    ]
    starts = [b for b in c.items if isinstance(b, RunBoundary) and b.kind == "start"]
    ends = [b for b in c.items if isinstance(b, RunBoundary) and b.kind == "end"]
    assert [b.run_id for b in starts] == [1, 2, 3] and [b.run_id for b in ends] == [1, 2]
    assert ends[1].runs_again and not ends[0].runs_again
    # state is kept across Stop → Start and Restart: row ids only go up
    ids = [r for e in c.items if isinstance(e, OutputEvent) for r in e.row_ids]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    p.stop("immediate")
    p.wait_for("Stopped")
    p.delete()


def test_follow_output_across_a_rescale(client):
    p = client.create_pipeline(f"follow-{uuid.uuid4().hex[:6]}", ENDLESS)
    c = Collector(p.follow_output(poll_s=0.1))
    try:
        c.wait(lambda: c.rows_after_last_start() >= 10, "rows of run 1")
        p.rescale(2)
        c.wait(lambda: ("end", "rescaling") in c.boundaries(), "the end of run 1")
        c.wait(lambda: c.boundaries()[-1] == ("start", "started"), "the rescaled run's stream")
        c.wait(lambda: c.rows_after_last_start() >= 10, "rows of the rescaled run")
    finally:
        c.follower.close()
        c.thread.join(10)
    assert c.error is None and not c.thread.is_alive()
    end = next(b for b in c.items if isinstance(b, RunBoundary) and b.reason == "rescaling")
    assert end.runs_again and end.state == "Rescaling"
    assert max(n.parallelism for n in client.get_pipeline(p.id).graph.nodes) == 2
    p.stop("immediate")
    p.wait_for("Stopped")
    p.delete()


def test_follow_output_of_a_stopped_pipeline_waits_then_follows_and_sees_the_delete(client):
    p = client.create_pipeline(f"follow-{uuid.uuid4().hex[:6]}", ENDLESS)
    p.wait_for("Running")
    p.stop("immediate")
    p.wait_for("Stopped")
    c = Collector(p.follow_output(poll_s=0.1))
    c.wait(lambda: c.boundaries() == [("waiting", "waiting")], "the waiting marker")
    p.start()
    c.wait(lambda: c.rows_after_last_start() >= 5, "rows once started")
    p.stop("immediate")
    c.wait(lambda: ("end", "stopped") in c.boundaries(), "the end of the run")
    p.wait_for("Stopped")
    p.delete()
    c.wait(lambda: not c.thread.is_alive(), "the follower to end")
    assert c.boundaries() == [
        ("waiting", "waiting"),
        ("start", "started"),
        ("end", "stopped"),
        ("end", "deleted"),
    ]


def test_follow_output_of_a_finished_preview_replays_it_once_and_ends(client, tmp_path):
    p = client.create_preview(_file_source(tmp_path, 300) + "SELECT v FROM src;")
    p.wait_for("Finished", timeout=60)
    items = list(p.follow_output(poll_s=0.1))
    assert [(b.kind, b.reason) for b in items if isinstance(b, RunBoundary)] == [
        ("start", "started"),
        ("end", "finished"),
    ]
    assert sorted(r["v"] for e in items if isinstance(e, OutputEvent) for r in e.rows) == list(range(300))


def test_follow_output_of_a_preview_that_failed_before_running_says_so(client, tmp_path):
    missing = tmp_path / "nope.json"
    p = client.create_preview(
        f"CREATE TABLE src (v BIGINT) WITH (connector = 'single_file', path = '{missing}', "
        "format = 'json', type = 'source');\nSELECT v FROM src;"
    )
    p.wait_for("Failed", timeout=60)
    items = list(p.follow_output(poll_s=0.1))
    assert isinstance(items[-1], RunBoundary) and items[-1].reason == "failed"
    assert not [e for e in items if isinstance(e, OutputEvent)]


def test_state_transitions_carry_server_times_and_run_ids(client, arroyo_server):
    p = client.create_pipeline(f"timeline-{uuid.uuid4().hex[:6]}", ENDLESS)
    job = p.wait_for("Running")
    p.stop("immediate")
    p.wait_for("Stopped")
    p.start()
    job = p.wait_for("Running")
    transitions = client.get_job_state_transitions(p.id, job.id)
    assert transitions is not None
    assert [t.state for t in transitions] == arroyo_server.store.state_history(job.id)
    times = [t.time for t in transitions]
    assert times == sorted(times) and times[0] >= job.created_at
    assert [t.run_id for t in transitions if t.state == "Running"] == [1, 2]
    assert transitions[-1].time_dt is not None
    # a Running entry is the moment the run started (what the job reports as start_time)
    assert transitions[-1].time >= job.start_time
    p.stop("immediate")
    p.wait_for("Stopped")
    p.delete()


def test_state_transitions_are_none_on_a_server_without_them(server):
    server.route(
        "GET",
        "/api/v1/pipelines/pl_x/jobs/job_x/state_transitions",
        lambda h, _s: reply(h, 404, '{"error":"Route not found"}'),
    )
    with Client(server.url, retries=0) as c:
        assert c.get_job_state_transitions("pl_x", "job_x") is None
