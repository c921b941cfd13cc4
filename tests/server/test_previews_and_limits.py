"""Previews (TTL, hidden from lists, no restart, cleanup) and the org limits."""

from __future__ import annotations

import httpx
import pytest
from server_helpers import job_of, wait_for_state, wait_until

from arroyo_jupyter.local import start

ENDLESS = (
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '50');\nSELECT counter FROM impulse;"
)


@pytest.fixture
def short_ttl(tmp_path):
    # a 1.5 s preview TTL and deletion of ended previews 2 s after they end
    with start(
        port=0, state_dir=tmp_path, preview_ttl_s=1.5, preview_cleanup_after_s=2.0, cleanup_every_s=0.1
    ) as server:
        with httpx.Client(base_url=server.api_url, timeout=30) as client:
            yield server, client


def test_preview_lifecycle_ttl_hidden_and_cleanup(short_ttl):
    server, api = short_ttl
    normal = api.post("/pipelines", json={"name": "visible", "query": ENDLESS, "parallelism": 1}).json()
    r = api.post("/pipelines/preview", json={"query": ENDLESS})
    assert r.status_code == 200, r.text
    preview = r.json()
    pid = preview["id"]
    assert preview["preview"] is True and preview["name"].startswith("preview_")
    assert preview["name"][len("preview_") :].isdigit() and len(preview["name"]) == len("preview_") + 13
    assert preview["checkpoint_interval_micros"] == 86_400_000_000
    assert max(n["parallelism"] for n in preview["graph"]["nodes"]) == 1

    job = wait_for_state(api, pid, "Running")
    # hidden from both lists, reachable directly
    assert [p["id"] for p in api.get("/pipelines").json()["data"]] == [normal["id"]]
    assert job["id"] not in [j["id"] for j in api.get("/jobs").json()["data"]]
    assert api.get(f"/pipelines/{pid}").status_code == 200
    assert api.get(f"/pipelines/{pid}/jobs/{job['id']}/errors").json() == {"data": [], "hasMore": False}

    # the TTL stops it (immediately), as its desired state: Stopped, and it does not start again
    job = wait_for_state(api, pid, "Stopped", timeout=20)
    assert server.store.state_history(job["id"])[-2:] == ["Stopping", "Stopped"]
    assert job["running_desired"] is False
    with api.stream("GET", f"/pipelines/{pid}/jobs/{job['id']}/output") as r:  # replayed after the end
        assert r.status_code == 200 and b"event: run_end" in r.read()

    # ended previews are deleted a while after ending, not at once
    assert api.get(f"/pipelines/{pid}").status_code == 200
    wait_until(lambda: api.get(f"/pipelines/{pid}").status_code == 404, timeout=20, what="preview cleanup")
    assert job_of(api, normal["id"])["state"] == "Running"  # normal pipelines are untouched


def test_preview_with_sinks_enabled_keeps_the_sink_and_adds_a_preview(api, tmp_path):
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '50');\n"
        "CREATE TABLE out WITH (connector = 'blackhole');\n"
        "INSERT INTO out SELECT counter FROM impulse;"
    )
    plain = api.post("/pipelines/preview", json={"query": query}).json()
    with_sinks = api.post("/pipelines/preview", json={"query": query, "enable_sinks": True}).json()
    ops = lambda p: sorted(n["operator"] for n in p["graph"]["nodes"])  # noqa: E731
    assert "blackhole" not in ops(plain) and "preview" in ops(plain)
    assert "blackhole" in ops(with_sinks) and "preview" in ops(with_sinks)
    for p in (plain, with_sinks):
        api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})


def test_pipeline_without_preview_sink_has_no_output(api):
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '50');\n"
        "CREATE TABLE out WITH (connector = 'blackhole');\n"
        "INSERT INTO out SELECT counter FROM impulse;"
    )
    p = api.post("/pipelines", json={"name": "sinky", "query": query, "parallelism": 1}).json()
    job = wait_for_state(api, p["id"], "Running")
    r = api.get(f"/pipelines/{p['id']}/jobs/{job['id']}/output")
    assert r.status_code == 400 and r.json() == {"error": "Job does not have a preview sink"}
    api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})
    wait_for_state(api, p["id"], "Stopped")
    assert api.delete(f"/pipelines/{p['id']}").status_code == 200


def test_running_job_limit_rejects_at_the_limit_and_leaves_nothing(tmp_path):
    with start(port=0, state_dir=tmp_path, max_running_jobs=2) as server:
        api = httpx.Client(base_url=server.api_url, timeout=30)
        ids = [
            api.post("/pipelines", json={"name": f"p{i}", "query": ENDLESS, "parallelism": 1}).json()["id"]
            for i in range(2)
        ]
        r = api.post("/pipelines", json={"name": "third", "query": ENDLESS, "parallelism": 1})
        assert r.status_code == 400 and "maximum number of running jobs (2)" in r.json()["error"]
        r = api.post("/pipelines/preview", json={"query": ENDLESS})
        assert r.status_code == 400  # checked for previews too, as Arroyo does
        assert sorted(p["id"] for p in api.get("/pipelines").json()["data"]) == sorted(ids)
        assert server.store.count_running_jobs() == 2
        assert len(server.store.all_jobs(include_previews=True)) == 2  # no orphan rows
        # stopping one frees a slot
        api.patch(f"/pipelines/{ids[0]}", json={"stop": "immediate"})
        wait_for_state(api, ids[0], "Stopped")
        r = api.post("/pipelines", json={"name": "third", "query": ENDLESS, "parallelism": 1})
        assert r.status_code == 200, r.text
        api.close()


def test_parallelism_and_interval_limits(tmp_path):
    with start(port=0, state_dir=tmp_path, max_parallelism=4) as server:
        api = httpx.Client(base_url=server.api_url, timeout=30)
        r = api.post("/pipelines", json={"name": "big", "query": ENDLESS, "parallelism": 5})
        assert r.status_code == 400 and "parallelism 4" in r.json()["error"]
        r = api.post("/pipelines", json={"name": "zero", "query": ENDLESS, "parallelism": 0})
        assert r.status_code == 400
        r = api.post(
            "/pipelines",
            json={
                "name": "slow",
                "query": ENDLESS,
                "parallelism": 1,
                "checkpoint_interval_micros": 86_400_000_001,
            },
        )
        assert r.json() == {"error": "Checkpoint_interval_micros must be between 1 second and 1 day."}
        p = api.post("/pipelines", json={"name": "ok", "query": ENDLESS, "parallelism": 1}).json()
        assert p["checkpoint_interval_micros"] == 10_000_000
        r = api.patch(f"/pipelines/{p['id']}", json={"checkpoint_interval_micros": 10})
        assert r.json() == {"error": "checkpoint_interval_micros must be between 1 second and 1 day."}
        r = api.patch(f"/pipelines/{p['id']}", json={"parallelism": 9})
        assert r.status_code == 400
        r = api.patch(f"/pipelines/{p['id']}", json={"checkpoint_interval_micros": 2_000_000})
        assert r.json()["checkpoint_interval_micros"] == 2_000_000
        assert api.get("/pipelines").json()["data"][0]["id"] == p["id"]
        api.close()


def test_sql_errors_on_create_preview_and_validate(api):
    bad = "SELECT counter FROM no_such_table"
    for path, body in [
        ("/pipelines", {"name": "bad", "query": bad, "parallelism": 1}),
        ("/pipelines/preview", {"query": bad}),
    ]:
        r = api.post(path, json=body)
        assert r.status_code == 400
        assert r.json()["error"].startswith("Failed to plan query:\n * ")
    v = api.post("/pipelines/validate_query", json={"query": "SELEC 1"}).json()
    assert v["graph"] is None and v["errors"]
    assert {"message"} <= set(v["errors"][0]) and v["errors"][0]["span"]["start"]["line"] == 1
    ok = api.post("/pipelines/validate_query", json={"query": ENDLESS}).json()
    assert ok["errors"] == [] and ok["graph"]["nodes"]
    empty = api.post("/pipelines", json={"name": "e", "query": "  ", "parallelism": 1})
    assert empty.status_code == 400 and "Failed to plan query" in empty.json()["error"]


def test_put_creates_under_a_chosen_id_once(api):
    body = {"name": "chosen", "query": ENDLESS, "parallelism": 1, "tags": {"team": "data"}}
    r = api.put("/pipelines/my-own-id", json=body)
    assert r.status_code == 200 and r.json()["id"] == "my-own-id" and r.json()["tags"] == {"team": "data"}
    again = api.put("/pipelines/my-own-id", json=body)
    assert again.status_code == 400 and again.json() == {
        "error": "A record already exists with that name or id"
    }
    api.patch("/pipelines/my-own-id", json={"stop": "immediate"})
    wait_for_state(api, "my-own-id", "Stopped")
    assert api.delete("/pipelines/my-own-id").status_code == 200
