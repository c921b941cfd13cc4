"""Arroyo's own API integration sequence (crates/integ/tests/api_tests.rs) over real HTTP,
on the real engine: create → Running → stop checkpoint → Stopped → start → Running →
rescale to 2 → restart → stop immediate → delete, observing every state on the way.

Transitional states can be shorter than a poll, so besides polling the job over HTTP the
test reads the controller's persisted state log (the ``job_state_log`` table).
"""

from __future__ import annotations

import time

from server_helpers import job_of, wait_for_state, wait_until

QUERY = (
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\n"
    "SELECT counter, subtask_index FROM impulse;"
)


def _history_since(server, job_id: str, n: int) -> list[str]:
    return server.store.state_history(job_id)[n:]


def _checkpoints(api, pid, jid) -> list[dict]:
    return api.get(f"/pipelines/{pid}/jobs/{jid}/checkpoints").json()["data"]


def test_arroyo_integration_sequence(fresh_server, fresh_api):
    api, server = fresh_api, fresh_server
    r = api.post(
        "/pipelines",
        json={"name": "integ", "query": QUERY, "parallelism": 1, "checkpoint_interval_micros": 1_000_000},
    )
    assert r.status_code == 200, r.text
    pipeline = r.json()
    pid = pipeline["id"]
    assert pipeline["id"].startswith("pl_") and pipeline["stop"] == "none" and pipeline["tags"] == {}
    assert pipeline["preview"] is False and pipeline["graph"]["nodes"]
    assert abs(pipeline["created_at"] / 1e6 - time.time()) < 60  # µs since the epoch

    job = wait_for_state(api, pid, "Running")
    jid = job["id"]
    assert job["pipeline_id"] == pid and job["running_desired"] is True
    assert job["run_id"] == 1 and job["start_time"] and job["finish_time"] is None
    assert job["tasks"] == sum(n["parallelism"] for n in pipeline["graph"]["nodes"])
    assert server.store.state_history(jid) == ["Created", "Compiling", "Scheduling", "Running"]
    running = api.get(f"/pipelines/{pid}").json()
    assert (running["action_text"], running["action"], running["action_in_progress"]) == (
        "Stop",
        "checkpoint",
        False,
    )

    # a running job cannot be deleted
    r = api.delete(f"/pipelines/{pid}")
    assert r.status_code == 400 and "terminal state" in r.json()["error"]

    # scheduled checkpoints, measured by the engine
    cps = wait_until(
        lambda: [c for c in _checkpoints(api, pid, jid) if c["finish_time"]], what="a checkpoint"
    )
    first = cps[0]
    assert first["epoch"] == 1 and first["backend"] == "parquet" and first["checkpoint_type"] == "scheduled"
    groups = api.get(f"/pipelines/{pid}/jobs/{jid}/checkpoints/1/operator_checkpoint_groups").json()["data"]
    assert groups and all(g["subtasks"] for g in groups)
    assert "Checkpointing" in {e["event"] for e in first["events"]}  # the "Global Events" row
    for g in groups:
        assert g["bytes"] == sum(st["bytes"] for st in g["subtasks"])
        for st in g["subtasks"]:
            assert {"Alignment", "Sync", "Async"} <= {sp["event"] for sp in st["event_spans"]}
    source = next(g for g in groups if g["operator_id"].startswith("source_"))
    assert source["bytes"] > 0  # measured by the engine, not invented
    missing = api.get(f"/pipelines/{pid}/jobs/{jid}/checkpoints/999/operator_checkpoint_groups")
    assert missing.status_code == 404 and "epoch 999" in missing.json()["error"]

    # stop with a final checkpoint
    n = len(server.store.state_history(jid))
    assert api.patch(f"/pipelines/{pid}", json={"stop": "checkpoint"}).status_code == 200
    job = wait_for_state(api, pid, "Stopped")
    assert _history_since(server, jid, n) == ["CheckpointStopping", "Stopped"]
    assert job["finish_time"] and job["running_desired"] is False
    assert _checkpoints(api, pid, jid)[-1]["checkpoint_type"] == "stopping"
    stopped = api.get(f"/pipelines/{pid}").json()
    assert (stopped["action_text"], stopped["action"], stopped["stop"]) == ("Start", "none", "checkpoint")

    # start again: resumes from the last checkpoint, run_id +1
    n = len(server.store.state_history(jid))
    api.patch(f"/pipelines/{pid}", json={"stop": "none"})
    job = wait_for_state(api, pid, "Running")
    assert job["run_id"] == 2 and job["finish_time"] is None
    assert _history_since(server, jid, n) == ["Compiling", "Scheduling", "Running"]

    # rescale to 2
    n = len(server.store.state_history(jid))
    api.patch(f"/pipelines/{pid}", json={"parallelism": 2})
    job = wait_until(
        lambda: (j := job_of(api, pid))["run_id"] == 3 and j["state"] == "Running" and j, what="rescale"
    )
    assert _history_since(server, jid, n) == ["Rescaling", "Scheduling", "Running"]
    graph = api.get(f"/pipelines/{pid}").json()["graph"]
    assert max(node["parallelism"] for node in graph["nodes"]) == 2
    assert job["tasks"] == sum(node["parallelism"] for node in graph["nodes"])

    # restart (safe)
    n = len(server.store.state_history(jid))
    api.post(f"/pipelines/{pid}/restart", json={})
    job = wait_until(
        lambda: (j := job_of(api, pid))["run_id"] == 4 and j["state"] == "Running" and j, what="restart"
    )
    assert _history_since(server, jid, n) == ["Restarting", "Scheduling", "Running"]

    # stop immediately, then delete
    n = len(server.store.state_history(jid))
    api.patch(f"/pipelines/{pid}", json={"stop": "immediate"})
    wait_for_state(api, pid, "Stopped")
    assert _history_since(server, jid, n) == ["Stopping", "Stopped"]
    assert api.delete(f"/pipelines/{pid}").status_code == 200
    assert api.get(f"/pipelines/{pid}").status_code == 404
    assert all(p["id"] != pid for p in api.get("/pipelines").json()["data"])
