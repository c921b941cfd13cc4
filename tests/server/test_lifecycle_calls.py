"""Lifecycle calls do what they say or answer a 4xx saying why (issue 11, points 4 and 10).

Over real HTTP, as Arroyo's console and our widgets send them.
"""

from __future__ import annotations

import httpx
import pytest
from server_helpers import events, job_of, output_url, wait_for_state, wait_until

from arroyo_jupyter.local import start

ENDLESS = (
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter FROM impulse;"
)


@pytest.fixture
def short_ttl(tmp_path):
    with start(port=0, state_dir=tmp_path, preview_ttl_s=1.0) as server:
        with httpx.Client(base_url=server.api_url, timeout=30) as client:
            yield server, client


def test_an_expired_preview_reads_stopped_with_start_and_start_is_refused(short_ttl):
    server, api = short_ttl
    pid = api.post("/pipelines/preview", json={"query": ENDLESS}).json()["id"]
    wait_for_state(api, pid, "Running")
    job = wait_for_state(api, pid, "Stopped", timeout=20)  # the TTL ended it
    assert job["running_desired"] is False
    p = api.get(f"/pipelines/{pid}").json()
    assert (p["stop"], p["action"], p["action_text"], p["action_in_progress"]) == (
        "immediate",
        "none",
        "Start",
        False,
    )
    # Start (what the action says) is answered plainly: previews do not run again
    r = api.patch(f"/pipelines/{pid}", json={"stop": "none"})
    assert r.status_code == 409 and "previews do not run again" in r.json()["error"]
    r = api.post(f"/pipelines/{pid}/restart", json={"ignore_state": True})
    assert r.status_code == 409 and "previews do not run again" in r.json()["error"]
    # nothing changed: still Stopped, not desired running, no spinner
    assert job_of(api, pid)["running_desired"] is False
    assert api.get(f"/pipelines/{pid}").json()["action_text"] == "Start"


def _first_start_id(api, pid: str, jid: str) -> int:
    with api.stream("GET", output_url(pid, jid)) as s:
        return next(e for e in events(s) if e[0] == "event")[2]["start_id"]


def test_restart_without_state_starts_a_stopped_job_from_scratch(fresh_api):
    api = fresh_api
    query = ENDLESS.replace("'200'", "'1000'")
    p = api.post("/pipelines", json={"name": "fresh-start", "query": query, "parallelism": 1}).json()
    job = wait_for_state(api, p["id"], "Running")
    before = wait_until(lambda: (n := _first_start_id(api, p["id"], job["id"])) >= 2000 and n, what="rows")
    api.patch(f"/pipelines/{p['id']}", json={"stop": "checkpoint"})
    stopped = wait_for_state(api, p["id"], "Stopped")
    assert api.get(f"/pipelines/{p['id']}/jobs/{job['id']}/checkpoints").json()["data"]  # state exists
    r = api.post(f"/pipelines/{p['id']}/restart", json={"ignore_state": True})  # the console's button
    assert r.status_code == 200 and r.json()["stop"] == "none"
    running = wait_for_state(api, p["id"], "Running")
    assert running["run_id"] == stopped["run_id"] + 1 and running["finish_time"] is None
    assert running["start_time"] > stopped["start_time"]  # a fresh start
    assert _first_start_id(api, p["id"], job["id"]) < before  # counters start over: no state restored
    api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})
    wait_for_state(api, p["id"], "Stopped")


def test_parallelism_changed_while_stopped_shows_at_once_and_is_used_at_start(fresh_api):
    api = fresh_api
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\n"
        "CREATE TABLE out WITH (connector = 'blackhole');\n"
        "INSERT INTO out SELECT counter FROM impulse;"
    )
    p = api.post("/pipelines", json={"name": "rescaled", "query": query, "parallelism": 1}).json()
    wait_for_state(api, p["id"], "Running")
    api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})
    wait_for_state(api, p["id"], "Stopped")
    r = api.patch(f"/pipelines/{p['id']}", json={"parallelism": 3})
    assert r.status_code == 200
    for answer in (r.json(), api.get(f"/pipelines/{p['id']}").json()):  # at once, still Stopped
        assert [n["parallelism"] for n in answer["graph"]["nodes"]] == [3] * len(answer["graph"]["nodes"])
    assert job_of(api, p["id"])["state"] == "Stopped"
    api.patch(f"/pipelines/{p['id']}", json={"stop": "none"})
    job = wait_for_state(api, p["id"], "Running")
    nodes = api.get(f"/pipelines/{p['id']}").json()["graph"]["nodes"]
    assert job["tasks"] == sum(n["parallelism"] for n in nodes) == 3 * len(nodes)  # the sink too
    api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})
    wait_for_state(api, p["id"], "Stopped")


def test_lifecycle_calls_that_would_do_nothing_say_why(fresh_api, tmp_path):
    api = fresh_api
    bounded = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000', message_count = '50');\n"
        "CREATE TABLE out WITH (connector = 'blackhole');\nINSERT INTO out SELECT counter FROM impulse;"
    )
    p = api.post("/pipelines", json={"name": "bounded", "query": bounded, "parallelism": 1}).json()
    wait_for_state(api, p["id"], "Finished", timeout=60)
    r = api.post(f"/pipelines/{p['id']}/restart", json={})
    assert r.status_code == 409 and "Finished" in r.json()["error"]
    preview = api.post("/pipelines/preview", json={"query": ENDLESS}).json()
    r = api.patch(f"/pipelines/{preview['id']}", json={"parallelism": 2})
    assert r.status_code == 400 and "parallelism 1" in r.json()["error"]
    api.patch(f"/pipelines/{preview['id']}", json={"stop": "immediate"})
    wait_for_state(api, preview["id"], "Stopped")


FAILING_UDF = (
    "from arroyo_udf import udf\n\n@udf\ndef blow_up(x: int) -> int:\n"
    "    if x >= 5:\n        raise ValueError('boom at ' + str(x))\n    return x\n"
)


def test_start_offered_on_a_failed_job_runs_it_again(fresh_server, fresh_api):
    api = fresh_api
    query = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\nSELECT blow_up(counter) AS v FROM impulse;"
    body = {
        "name": "boom",
        "query": query,
        "parallelism": 1,
        "udfs": [{"definition": FAILING_UDF, "language": "python"}],
    }
    p = api.post("/pipelines", json=body).json()
    job = wait_for_state(api, p["id"], "Failed", timeout=60)
    api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})  # Failed, not desired running
    failed = api.get(f"/pipelines/{p['id']}").json()
    assert (failed["action_text"], failed["action"]) == ("Start", "none")
    n = len(fresh_server.store.state_history(job["id"]))
    r = api.patch(f"/pipelines/{p['id']}", json={"stop": "none"})  # what that button sends
    assert r.status_code == 200
    wait_until(lambda: "Compiling" in fresh_server.store.state_history(job["id"])[n:], what="a new run")
    wait_for_state(api, p["id"], "Failed", timeout=60)  # (and it fails again, as its UDF does)
