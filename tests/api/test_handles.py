"""Pipeline / Job handles against a scripted server: actions, waiting, pagination."""

from __future__ import annotations

import json
from itertools import islice
from typing import Any

import pytest

from arroyo_jupyter.api import ArroyoError, AsyncClient, Client, Job, Pipeline, Retries
from arroyo_jupyter.states import JobState, StopType

from . import fixtures as fx
from .conftest import FaultServer, reply
from .spec import NEWER

PID = "pl_W2UjDI6Iud"
BASE = f"/api/v1/pipelines/{PID}"


def script_jobs(server: FaultServer, *states: str | tuple[str, dict]) -> None:
    """GET …/jobs answers these states in turn, then keeps answering the last one."""
    answers = [s if isinstance(s, tuple) else (s, {}) for s in states]

    def handler(h: Any, _s: Any) -> None:
        state, extra = answers.pop(0) if len(answers) > 1 else answers[0]
        reply(h, 200, json.dumps(fx.jobs(fx.job(state, **extra))))

    server.route("GET", BASE + "/jobs", handler)


def pipeline_routes(server: FaultServer) -> None:
    server.json("GET", BASE, 200, fx.pipeline())

    def patch(h: Any, seen: Any) -> None:
        body = json.loads(seen.body)
        NEWER.check_request("PATCH", f"/v1/pipelines/{PID}", body)
        reply(h, 200, json.dumps(fx.pipeline(stop=body.get("stop", "none"))))

    def restart(h: Any, seen: Any) -> None:
        NEWER.check_request("POST", f"/v1/pipelines/{PID}/restart", json.loads(seen.body))
        reply(h, 200, json.dumps(fx.pipeline()))

    server.route("PATCH", BASE, patch)
    server.route("POST", BASE + "/restart", restart)
    server.route("DELETE", BASE, lambda h, _s: reply(h, 200, "", None))


def sent(server: FaultServer) -> list[tuple[str, str, Any]]:
    return [
        (s.method, s.path, json.loads(s.body) if s.body else None) for s in server.seen if s.method != "GET"
    ]


@pytest.fixture
def client(server: FaultServer) -> Any:
    pipeline_routes(server)
    with Client(server.url, retries=Retries(attempts=0)) as c:
        yield c


def test_pipeline_handle_fields_and_repr(client: Client) -> None:
    p = client.pipeline(PID)
    assert isinstance(p, Pipeline)
    assert (p.id, p.name, p.stop_mode, p.tags, p.parallelism) == (
        PID,
        "top_auctions",
        StopType.NONE,
        {"team": "data"},
        2,
    )
    assert p.created_at_dt is not None and p.created_at_dt.tzinfo is not None
    assert p.graph.nodes[1].operator == "preview"
    text = repr(p)
    assert PID in text and "top_auctions" in text and "\n" not in text
    with pytest.raises(AttributeError):
        _ = p.no_such_field


def test_actions_send_what_the_console_sends(client: Client, server: FaultServer) -> None:
    p = client.pipeline(PID)
    p.stop()
    assert p.stop_mode is StopType.CHECKPOINT  # the PATCH answer is kept
    p.stop("immediate")
    p.start()
    p.start(ignore_state=True)
    p.restart(force=True)
    p.rescale(3)
    p.delete()
    assert sent(server) == [
        ("PATCH", BASE, {"stop": "checkpoint"}),
        ("PATCH", BASE, {"stop": "immediate"}),
        ("PATCH", BASE, {"stop": "none"}),
        ("POST", BASE + "/restart", {"force": False, "ignore_state": True}),
        ("PATCH", BASE, {"stop": "none"}),
        ("POST", BASE + "/restart", {"force": True}),
        ("PATCH", BASE, {"parallelism": 3}),
        ("DELETE", BASE, None),
    ]


def test_bad_action_arguments(client: Client, server: FaultServer) -> None:
    p = client.pipeline(PID)
    with pytest.raises(ValueError, match="use start"):
        p.stop("none")
    with pytest.raises(ValueError, match="stop mode"):
        p.stop("pause")
    with pytest.raises(ValueError, match="parallelism must be an int >= 1"):
        p.rescale(0)
    with pytest.raises(ValueError, match="unknown job state"):
        p.wait_for("Runing")
    assert sent(server) == []


def test_wait_for_polls_until_the_state(client: Client, server: FaultServer) -> None:
    script_jobs(server, "Created", "Compiling", "Scheduling", "Running")
    job = client.pipeline(PID).wait_for("Running", timeout=10)
    assert isinstance(job, Job) and job.state is JobState.RUNNING
    assert server.hits("GET", BASE + "/jobs") == 4


def test_wait_for_any_of_several_states(client: Client, server: FaultServer) -> None:
    script_jobs(server, "CheckpointStopping", "Stopped")
    job = client.pipeline(PID).wait_for({JobState.STOPPED, "Finished"}, timeout=10)
    assert job.state is JobState.STOPPED and not job.running_desired


def test_wait_for_times_out_naming_the_state(client: Client, server: FaultServer) -> None:
    script_jobs(server, "Compiling")
    with pytest.raises(TimeoutError, match="still Compiling after 0.3s, not Running"):
        client.pipeline(PID).wait_for("Running", timeout=0.3)


def test_wait_for_stops_when_the_job_fails_meanwhile(client: Client, server: FaultServer) -> None:
    reason = {"failure_reason": {"error": "task failed: division by zero", "domain": "user"}}
    script_jobs(server, "Running", ("Failed", reason))
    with pytest.raises(ArroyoError, match="failed while waiting for Stopped: task failed: division by zero"):
        client.pipeline(PID).wait_for("Stopped", timeout=10)


def test_wait_for_a_restarting_failed_job(client: Client, server: FaultServer) -> None:
    # right after restart() the job may still read Failed: that is not a new failure
    script_jobs(server, "Failed", "Compiling", "Running")
    assert client.pipeline(PID).wait_for("Running", timeout=10).state is JobState.RUNNING


def test_job_handle(client: Client, server: FaultServer) -> None:
    script_jobs(server, "Running")
    errors_path = BASE + "/jobs/job_Tqkow4Uc4x/errors"
    server.json("GET", errors_path, 200, {"data": [{"id": "jlm_1", "created_at": fx.T0, "level": "error",
                "message": "task failed", "details": "boom", "operator_id": None, "task_index": None,
                "error_domain": "user"}], "hasMore": False})  # fmt: skip
    job = client.pipeline(PID).job()
    assert job.pipeline_id == PID and job.state is JobState.RUNNING and job.tasks == 3
    assert job.start_time_dt is not None and job.start_time_dt.tzinfo is not None
    assert "job_Tqkow4Uc4x" in repr(job) and "Running" in repr(job) and "\n" not in repr(job)
    page = job.errors(limit=5)
    assert [e.details for e in page] == ["boom"] and not page.has_more
    assert server.seen[-1].query == "limit=5"
    job.stop("force")
    assert sent(server)[-1] == ("PATCH", BASE, {"stop": "force"})
    assert job.refresh().state is JobState.RUNNING


def test_unknown_state_from_server_is_kept_as_text(client: Client, server: FaultServer) -> None:
    server.json("GET", BASE + "/jobs", 200, {"data": [dict(fx.job(), state="Paused")]})
    job = client.pipeline(PID).job()
    assert job.state == "Paused"
    with pytest.raises(TimeoutError, match="still Paused"):
        job.wait_for("Running", timeout=0.1)


def pages_server(server: FaultServer, ids: list[str]) -> None:
    def handler(h: Any, seen: Any) -> None:
        from urllib.parse import parse_qs

        q = {k: v[0] for k, v in parse_qs(seen.query).items()}
        start = ids.index(q["starting_after"]) + 1 if "starting_after" in q else 0
        chunk = ids[start : start + int(q.get("limit", 10))]
        body = {"data": [fx.pipeline(pid) for pid in chunk], "hasMore": start + len(chunk) < len(ids)}
        NEWER.validate(NEWER.component("PipelineCollection"), body)
        reply(h, 200, json.dumps(body))

    server.route("GET", "/api/v1/pipelines", handler)


def test_iter_pipelines_fetches_pages_lazily(client: Client, server: FaultServer) -> None:
    ids = [f"pl_{i:010d}" for i in range(5)]
    pages_server(server, ids)
    it = client.iter_pipelines(page_size=2)
    assert [p.id for p in islice(it, 2)] == ids[:2]
    assert server.hits("GET", "/api/v1/pipelines") == 1  # lazily: one page so far
    assert [p.id for p in it] == ids[2:]
    assert server.hits("GET", "/api/v1/pipelines") == 3
    page = client.list_pipelines(limit=2)
    assert page.has_more and page.next_cursor == ids[1] and len(page) == 2


def test_stuck_pagination_is_an_error_not_a_hang(client: Client, server: FaultServer) -> None:
    server.json("GET", "/api/v1/pipelines", 200, {"data": [fx.pipeline()], "hasMore": True})
    with pytest.raises(ArroyoError, match="pagination stuck"):
        list(client.iter_pipelines())


async def test_async_handles(server: FaultServer) -> None:
    pipeline_routes(server)
    script_jobs(server, "Stopped", "Compiling", "Running")
    async with AsyncClient(server.url, retries=0) as client:
        p = await client.pipeline(PID)
        await p.start(ignore_state=True)
        job = await p.wait_for("Running", timeout=10)
        assert job.state is JobState.RUNNING and "AsyncJob" in repr(job)
        await job.rescale(2)
    assert sent(server) == [
        ("POST", BASE + "/restart", {"force": False, "ignore_state": True}),
        ("PATCH", BASE, {"stop": "none"}),
        ("PATCH", BASE, {"parallelism": 2}),
    ]


def test_a_handle_needs_only_the_public_sender_protocol() -> None:
    """Handles build Calls and hand them to ``send``: any object with the Sender methods
    backs them (here one that records the calls and answers from fixtures, no HTTP)."""
    import msgspec

    from arroyo_jupyter.api import Call, Sender, models

    class Recorder:
        def __init__(self) -> None:
            self.calls: list[tuple[str, str, Any]] = []

        def send(self, call: Call[Any]) -> Any:
            self.calls.append((call.method, call.path, call.body))
            if call.path.endswith("/jobs"):
                return call.parse(json.dumps(fx.jobs(fx.job("Running"))).encode())
            body = call.body or {}
            return call.parse(json.dumps(fx.pipeline(stop=body.get("stop", "none"))).encode())

        def stream_output(self, pipeline_id: str, job_id: str, read_timeout: float | None = None) -> Any:
            raise AssertionError("not used here")

        def follow_output(
            self, pipeline_id: str, *, runs: int | None = None, poll_s: float = 0.5, wake: Any = None
        ) -> Any:
            raise AssertionError("not used here")

    recorder = Recorder()
    sender: Sender = recorder  # the protocol is structural: mypy checks this line
    p = Pipeline(sender, msgspec.convert(fx.pipeline(), models.Pipeline))
    p.stop("graceful")
    assert p.stop_mode is StopType.GRACEFUL  # the answer to the PATCH is kept
    assert p.job().state is JobState.RUNNING
    assert recorder.calls == [
        ("PATCH", f"/pipelines/{PID}", {"stop": "graceful"}),
        ("GET", f"/pipelines/{PID}/jobs", None),
    ]
    with pytest.raises(ValueError, match="stop mode must be one of"):
        p.stop("sideways")  # refused before anything is sent
    assert len(recorder.calls) == 2
