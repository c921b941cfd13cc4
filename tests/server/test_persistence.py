"""A server restarted on the same state directory shows the same pipelines and resumes
desired-running jobs from their last checkpoint (API.md §6, controller restart)."""

from __future__ import annotations

import json

import httpx
from server_helpers import wait_for_state, wait_until

from arroyo_jupyter.local import start

TOTAL = 30_000


def _rows(path) -> list[int]:
    if not path.exists():
        return []
    return [json.loads(line)["counter"] for line in path.read_text().splitlines() if line.strip()]


def test_restart_mid_job_resumes_from_checkpoint_without_lost_or_doubled_rows(tmp_path):
    out = tmp_path / "out.json"
    state = tmp_path / "state"
    query = (
        f"CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '10000', message_count = '{TOTAL}');\n"
        f"CREATE TABLE out WITH (connector = 'single_file', path = '{out}', format = 'json', type = 'sink');\n"
        "INSERT INTO out SELECT counter FROM impulse;"
    )
    server = start(port=0, state_dir=state, batch_size=500)
    api = httpx.Client(base_url=server.api_url, timeout=30)
    p = api.post(
        "/pipelines",
        json={"name": "durable", "query": query, "parallelism": 1, "checkpoint_interval_micros": 1_000_000},
    ).json()
    job = wait_for_state(api, p["id"], "Running")
    wait_until(
        lambda: any(
            c["finish_time"]
            for c in api.get(f"/pipelines/{p['id']}/jobs/{job['id']}/checkpoints").json()["data"]
        ),
        what="a completed checkpoint",
    )
    written_before = len(_rows(out))
    api.close()
    server.stop()  # mid-job: the source has not finished
    assert 0 < written_before < TOTAL, written_before

    server = start(port=0, state_dir=state, batch_size=500)
    try:
        api = httpx.Client(base_url=server.api_url, timeout=30)
        listed = api.get("/pipelines").json()["data"]
        assert [x["id"] for x in listed] == [p["id"]] and listed[0]["name"] == "durable"
        job2 = wait_for_state(api, p["id"], "Finished", timeout=60)
        assert job2["id"] == job["id"] and job2["run_id"] > job["run_id"]
        assert server.store.state_history(job["id"])[-1] == "Finished"
        rows = _rows(out)
        assert sorted(rows) == list(range(TOTAL))  # nothing lost, nothing written twice
        checkpoints = api.get(f"/pipelines/{p['id']}/jobs/{job['id']}/checkpoints").json()["data"]
        assert checkpoints and [c["epoch"] for c in checkpoints] == sorted({c["epoch"] for c in checkpoints})
        api.close()
    finally:
        server.stop()


def test_restart_applies_arroyo_recovery_rules(tmp_path):
    """Stopped stays Stopped; a preview does not outlive its server; data is all there."""
    state = tmp_path / "state"
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\nSELECT counter FROM impulse;"
    )
    with start(port=0, state_dir=state) as server:
        api = httpx.Client(base_url=server.api_url, timeout=30)
        kept = api.post("/pipelines", json={"name": "stopped_one", "query": query, "parallelism": 1}).json()
        wait_for_state(api, kept["id"], "Running")
        api.patch(f"/pipelines/{kept['id']}", json={"stop": "immediate"})
        wait_for_state(api, kept["id"], "Stopped")
        preview = api.post("/pipelines/preview", json={"query": query}).json()
        wait_for_state(api, preview["id"], "Running")
        table = api.post(
            "/connection_tables", json={"name": "src", "connector": "impulse", "config": {"event_rate": 5}}
        ).json()
        udf = api.post(
            "/udfs",
            json={
                "prefix": "x",
                "definition": "from arroyo_udf import udf\n@udf\ndef triple(x: int) -> int:\n    return 3 * x\n",
            },
        ).json()
        api.close()
    with start(port=0, state_dir=state) as server:
        api = httpx.Client(base_url=server.api_url, timeout=30)
        assert wait_for_state(api, kept["id"], "Stopped")["running_desired"] is False
        ended = wait_for_state(api, preview["id"], "Stopped")
        assert ended["running_desired"] is False  # stopped as desired: action Start, no spinner
        assert api.get(f"/pipelines/{preview['id']}").json()["action_text"] == "Start"
        assert [t["id"] for t in api.get("/connection_tables").json()["data"]] == [table["id"]]
        assert [u["id"] for u in api.get("/udfs").json()["data"]] == [udf["id"]]
        api.close()
