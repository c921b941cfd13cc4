"""Runtime errors, recovery, failure and metrics, all coming from the running engine."""

from __future__ import annotations

import httpx
import pytest
from server_helpers import wait_for_state, wait_until

from arroyo_jupyter.local import start

FAILING_UDF = (
    "from arroyo_udf import udf\n\n@udf\ndef blow_up(x: int) -> int:\n"
    "    if x >= 5:\n        raise ValueError('boom at ' + str(x))\n    return x\n"
)


@pytest.fixture
def quick_retries(tmp_path):
    with start(
        port=0, state_dir=tmp_path / "state", allowed_restarts=3, initial_backoff_s=0.05, metrics_every_s=0.2
    ) as s:
        with httpx.Client(base_url=s.api_url, timeout=30) as client:
            yield s, client


def test_user_error_fails_the_job_with_operator_errors(quick_retries):
    server, api = quick_retries
    query = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\nSELECT blow_up(counter) AS v FROM impulse;"
    p = api.post(
        "/pipelines",
        json={
            "name": "boom",
            "query": query,
            "parallelism": 1,
            "udfs": [{"definition": FAILING_UDF, "language": "python"}],
        },
    ).json()
    job = wait_for_state(api, p["id"], "Failed")
    assert job["failure_reason"]["domain"] == "user" and "boom at 5" in job["failure_reason"]["error"]
    assert server.store.state_history(job["id"])[-2:] == ["Failing", "Failed"]
    errors = api.get(f"/pipelines/{p['id']}/jobs/{job['id']}/errors").json()["data"]
    from_operator = [e for e in errors if e["operator_id"]]
    assert (
        from_operator and from_operator[0]["task_index"] == 0 and "boom at 5" in from_operator[0]["message"]
    )
    assert any(e["message"] == "job failed" for e in errors)
    assert all(e["id"].startswith("jlm_") and e["level"] == "error" for e in errors)
    failed = api.get(f"/pipelines/{p['id']}").json()
    assert (failed["action_text"], failed["action"]) == ("Failed", None)

    # restart of a Failed job goes back through Compiling (and fails again here)
    n = len(server.store.state_history(job["id"]))
    api.post(f"/pipelines/{p['id']}/restart", json={})
    wait_until(lambda: "Failed" in server.store.state_history(job["id"])[n:], what="second failure")
    assert server.store.state_history(job["id"])[n] == "Compiling"


def test_retryable_failure_recovers_once_the_cause_is_fixed(quick_retries, tmp_path):
    server, api = quick_retries
    missing_dir = tmp_path / "blocked"
    missing_dir.write_text("a file where the sink's directory should be")
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\n"
        f"CREATE TABLE out WITH (connector = 'single_file', path = '{missing_dir / 'out.json'}', format = 'json', type = 'sink');\n"
        "INSERT INTO out SELECT counter FROM impulse;"
    )
    server.config.allowed_restarts = 1000  # keep retrying until the path is usable
    p = api.post("/pipelines", json={"name": "retry", "query": query, "parallelism": 1}).json()
    jid = wait_for_state(api, p["id"], ["Recovering", "Compiling", "Scheduling", "Running"])["id"]
    wait_until(lambda: "Recovering" in server.store.state_history(jid), what="Recovering")
    missing_dir.unlink()  # the cause is gone: the next recovery attempt succeeds
    wait_until(
        lambda: (missing_dir / "out.json").exists() and (missing_dir / "out.json").stat().st_size > 0,
        what="output",
    )
    assert wait_for_state(api, p["id"], "Running")["failure_reason"] is None
    errors = api.get(f"/pipelines/{p['id']}/jobs/{jid}/errors").json()["data"]
    assert any("cannot open sink" in e["message"] for e in errors)
    api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})
    wait_for_state(api, p["id"], "Stopped")


def test_retries_run_out_into_failed(quick_retries, tmp_path):
    server, api = quick_retries
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\n"
        f"CREATE TABLE out WITH (connector = 'single_file', path = '{tmp_path / 'nope' / 'o.json'}', format = 'json', type = 'sink');\n"
        "INSERT INTO out SELECT counter FROM impulse;"
    )
    (tmp_path / "nope").write_text("not a directory")
    p = api.post("/pipelines", json={"name": "doomed", "query": query, "parallelism": 1}).json()
    job = wait_for_state(api, p["id"], "Failed")
    assert job["failure_reason"]["error"].startswith("Exhausted retries: ")
    assert server.store.state_history(job["id"]).count("Recovering") == 4  # allowed_restarts=3, then give up


def test_operator_metric_groups_are_sampled_rates(quick_retries):
    server, api = quick_retries
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '500');\nSELECT counter FROM impulse;"
    )
    p = api.post("/pipelines", json={"name": "metered", "query": query, "parallelism": 2}).json()
    job = wait_for_state(api, p["id"], "Running")
    url = f"/pipelines/{p['id']}/jobs/{job['id']}/operator_metric_groups"

    def source_sent() -> list:
        for group in api.get(url).json()["data"]:
            if group["node_id"] == p["graph"]["nodes"][0]["node_id"]:
                for mg in group["metric_groups"]:
                    if (
                        mg["name"] == "messages_sent"
                        and mg["subtasks"]
                        and all(len(s["metrics"]) >= 2 for s in mg["subtasks"])
                    ):
                        return mg["subtasks"]
        return []

    subtasks = wait_until(source_sent, what="source rates")
    assert sorted(s["index"] for s in subtasks) == [0, 1]
    assert any(m["value"] > 0 for s in subtasks for m in s["metrics"])
    names = {mg["name"] for g in api.get(url).json()["data"] for mg in g["metric_groups"]}
    assert names <= {"bytes_recv", "bytes_sent", "messages_recv", "messages_sent", "backpressure"}
    for g in api.get(url).json()["data"]:
        for mg in g["metric_groups"]:
            if mg["name"] == "backpressure":
                assert all(0 <= m["value"] <= 1 for s in mg["subtasks"] for m in s["metrics"])
    api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})
    wait_for_state(api, p["id"], "Stopped")
    assert api.get(url).json()["data"]  # metrics stay after the job stops
