"""Restart modes (force, ignore_state), start_id continuity across runs, and the catalogue
(connection tables, global Python UDFs) used from SQL."""

from __future__ import annotations

import httpx
import orjson
from server_helpers import events as _events
from server_helpers import output_url as _output_url
from server_helpers import wait_for_state, wait_until

ENDLESS = (
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter FROM impulse;"
)


def _first_event(api, pid: str, jid: str) -> dict:
    with api.stream("GET", _output_url(pid, jid)) as r:
        for kind, *rest in _events(r):
            if kind == "event":
                return rest[1]
    raise AssertionError("the stream ended without an event")


def _last_start_id_then_stop(api, pid: str, jid: str) -> int:
    seen = _first_event(api, pid, jid)["start_id"]
    api.patch(f"/pipelines/{pid}", json={"stop": "checkpoint"})
    wait_for_state(api, pid, "Stopped")
    return seen


def test_start_resumes_row_ids_and_ignore_state_starts_over(fresh_server, fresh_api):
    api = fresh_api
    p = api.post("/pipelines", json={"name": "ids", "query": ENDLESS, "parallelism": 1}).json()
    jid = wait_for_state(api, p["id"], "Running")["id"]
    wait_until(lambda: _first_event(api, p["id"], jid)["start_id"] >= 100, what="some rows")
    before = _last_start_id_then_stop(api, p["id"], jid)

    api.patch(f"/pipelines/{p['id']}", json={"stop": "none"})
    wait_for_state(api, p["id"], "Running")
    assert _first_event(api, p["id"], jid)["start_id"] > before  # continuous across runs
    api.patch(f"/pipelines/{p['id']}", json={"stop": "checkpoint"})
    wait_for_state(api, p["id"], "Stopped")

    # "Start without state" (the console): restart with ignore_state starts the Stopped job
    run_id = wait_for_state(api, p["id"], "Stopped")["run_id"]
    r = api.post(f"/pipelines/{p['id']}/restart", json={"ignore_state": True})
    assert r.status_code == 200
    assert wait_for_state(api, p["id"], "Running")["run_id"] == run_id + 1
    assert _first_event(api, p["id"], jid)["start_id"] < before  # state ignored: from the start
    api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})
    wait_for_state(api, p["id"], "Stopped")


def test_force_restart(fresh_server, fresh_api):
    api = fresh_api
    p = api.post("/pipelines", json={"name": "forced", "query": ENDLESS, "parallelism": 1}).json()
    job = wait_for_state(api, p["id"], "Running")
    n = len(fresh_server.store.state_history(job["id"]))
    api.post(f"/pipelines/{p['id']}/restart", json={"force": True})
    wait_until(lambda: (j := wait_for_state(api, p["id"], "Running"))["run_id"] == 2 and j, what="restart")
    assert fresh_server.store.state_history(job["id"])[n:] == ["Restarting", "Scheduling", "Running"]
    # a forced restart takes no final checkpoint
    assert all(
        c["checkpoint_type"] == "scheduled"
        for c in api.get(f"/pipelines/{p['id']}/jobs/{job['id']}/checkpoints").json()["data"]
    )
    # changing env_vars makes a running job restart safely (API.md §6)
    n = len(fresh_server.store.state_history(job["id"]))
    r = api.patch(f"/pipelines/{p['id']}", json={"env_vars": {"MODE": "blue"}})
    assert r.status_code == 200
    wait_until(
        lambda: (j := wait_for_state(api, p["id"], "Running"))["run_id"] == 3 and j, what="env restart"
    )
    assert fresh_server.store.state_history(job["id"])[n:] == ["Restarting", "Scheduling", "Running"]
    assert api.get(f"/pipelines/{p['id']}/jobs").json()["data"][0]["env_vars"] == {"MODE": "blue"}
    api.patch(f"/pipelines/{p['id']}", json={"stop": "force"})
    wait_for_state(api, p["id"], "Stopped")


def test_connection_table_is_usable_by_name_and_counts_consumers(fresh_api):
    api = fresh_api
    t = api.post(
        "/connection_tables",
        json={
            "name": "saved_impulse",
            "connector": "impulse",
            "config": {"event_rate": 1000, "message_count": 50},
        },
    ).json()
    query = "SELECT counter FROM saved_impulse WHERE counter % 2 = 0;"
    assert api.post("/pipelines/validate_query", json={"query": query}).json()["errors"] == []
    p = api.post("/pipelines", json={"name": "uses_table", "query": query, "parallelism": 1})
    assert p.status_code == 200, p.text
    wait_for_state(api, p.json()["id"], "Finished")
    listed = api.get("/connection_tables").json()["data"]
    assert [x["consumers"] for x in listed if x["id"] == t["id"]] == [1]


def test_global_python_udf_is_callable_from_sql(fresh_api):
    api = fresh_api
    udf = "from arroyo_udf import udf\n\n@udf\ndef triple(x: int) -> int:\n    return 3 * x\n"
    assert api.post("/udfs", json={"prefix": "t", "definition": udf, "language": "python"}).status_code == 200
    query = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\nSELECT counter, triple(counter) AS t FROM impulse;"
    p = api.post("/pipelines/preview", json={"query": query})
    assert p.status_code == 200, p.text
    jid = wait_for_state(api, p.json()["id"], "Running")["id"]
    event = _first_event(api, p.json()["id"], jid)
    rows = orjson.loads(event["batch"])
    assert rows and all(r["t"] == 3 * r["counter"] for r in rows)
    api.patch(f"/pipelines/{p.json()['id']}", json={"stop": "immediate"})


def test_a_udf_whose_import_fails_is_refused_when_saved(fresh_server):
    # Saved, it would break every later query; refused, the user sees why at once.
    bad = "from no_such_udf_module import udf\n\n@udf\ndef inc(x: int) -> int:\n    return x + 1\n"
    r = httpx.post(
        f"{fresh_server.url}/api/v1/udfs", json={"prefix": "", "definition": bad, "language": "python"}
    )
    assert r.status_code == 400
    assert "no_such_udf_module" in r.json()["error"]
    ok = httpx.post(
        f"{fresh_server.url}/api/v1/pipelines/validate_query",
        json={
            "query": "CREATE TABLE i WITH (connector = 'impulse', event_rate = '5'); SELECT counter FROM i;"
        },
    )
    assert ok.status_code == 200 and ok.json()["errors"] == []
