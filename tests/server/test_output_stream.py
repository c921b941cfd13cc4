"""The live output SSE stream (API.md §4.7) from a real engine over real HTTP."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest
from server_helpers import events as _events
from server_helpers import output_url as _output_url
from server_helpers import wait_for_state, wait_until

from arroyo_jupyter.local import start


def test_million_rows_arrive_in_order_with_continuous_ids(api):
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '2000000', message_count = '1000000');\n"
        "SELECT counter, subtask_index FROM impulse;"
    )
    p = api.post("/pipelines/preview", json={"query": query}).json()
    job = wait_for_state(api, p["id"], "Running")
    expected_event_id, next_row, rows, started = 0, None, 0, time.monotonic()
    with api.stream("GET", _output_url(p["id"], job["id"]), timeout=60) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for kind, *rest in _events(r):
            if kind != "event":
                continue
            event_id, data = rest
            assert event_id == expected_event_id
            expected_event_id += 1
            assert set(data) == {"operator_id", "subtask_idx", "timestamps", "start_id", "batch"}
            batch = orjson.loads(data["batch"])  # a JSON string holding the rows
            if next_row is not None:
                assert data["start_id"] == next_row, "a gap or a repeat in the row ids"
            counters = [row["counter"] for row in batch]
            assert counters == list(range(data["start_id"], data["start_id"] + len(batch)))
            assert len(data["timestamps"]) == len(batch) and "_timestamp" not in batch[0]
            assert abs(data["timestamps"][0] / 1e6 - time.time()) < 3600  # event time in µs
            next_row = data["start_id"] + len(batch)
            rows += len(batch)
    # the stream ended by itself when the bounded source finished and the sink closed
    assert next_row == 1_000_000
    assert rows > 0
    wait_for_state(api, p["id"], "Finished")
    print(f"{rows} rows in {time.monotonic() - started:.2f} s")


def test_reconnecting_client_gets_live_data_again(api):
    # a normal pipeline, as in Arroyo: live data only (previews replay, see test_preview_replay)
    query = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '2000');\nSELECT counter FROM impulse;"
    p = api.post("/pipelines", json={"name": "reconnecting", "query": query, "parallelism": 1}).json()
    job = wait_for_state(api, p["id"], "Running")

    def read_events(n: int) -> list[tuple[int, dict]]:
        got = []
        with api.stream("GET", _output_url(p["id"], job["id"])) as r:
            for kind, *rest in _events(r):
                if kind == "event":
                    got.append((rest[0], rest[1]))
                    if len(got) == n:
                        break
        return got

    first = read_events(3)
    second = read_events(3)  # a brand-new subscription: ids from 0, live rows
    assert [i for i, _ in first] == [0, 1, 2] and [i for i, _ in second] == [0, 1, 2]
    assert second[0][1]["start_id"] > first[-1][1]["start_id"]
    api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})
    wait_for_state(api, p["id"], "Stopped")


def test_slow_client_does_not_stall_the_job_and_drops_are_logged(tmp_path):
    # tiny per-subscriber queue and small batches: a client that never reads overflows fast
    with start(port=0, state_dir=tmp_path, output_queue_events=4, batch_size=1000) as server:
        api = httpx.Client(base_url=server.api_url, timeout=30)
        query = (
            "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000000', message_count = '150000');\n"
            "SELECT counter, repeat('x', 250) AS padding FROM impulse;"
        )  # ~40 MB of output: far more than the loopback socket buffers can absorb
        p = api.post("/pipelines/preview", json={"query": query}).json()
        assert "id" in p, p
        job = wait_for_state(api, p["id"], "Running")
        with api.stream("GET", _output_url(p["id"], job["id"])) as r:
            assert r.status_code == 200
            # never read: the job must still run to the end
            wait_for_state(api, p["id"], "Finished", timeout=60)
        warnings = wait_until(
            lambda: [m for m in server.store.log_messages(job["id"]) if m["level"] == "warn"],
            what="drop warning",
        )
        assert "rows were not sent" in warnings[0]["details"]
        assert int(warnings[0]["details"].split()[0]) > 0
        # warnings are not errors: the errors endpoint lists only error-level messages
        assert api.get(f"/pipelines/{p['id']}/jobs/{job['id']}/errors").json()["data"] == []
        api.close()


def test_idle_stream_sends_keepalive_comments(tmp_path):
    with start(port=0, state_dir=tmp_path, sse_keepalive_s=0.2) as server:
        api = httpx.Client(base_url=server.api_url, timeout=30)
        query = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\nSELECT counter FROM impulse WHERE counter < 0;"
        p = api.post("/pipelines/preview", json={"query": query}).json()
        job = wait_for_state(api, p["id"], "Running")
        with api.stream("GET", _output_url(p["id"], job["id"])) as r:
            first = next(_events(r))
        assert first == ("comment", "keep-alive")
        api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})
        api.close()


@pytest.mark.parametrize("state_query", ["stopped"])
def test_output_requires_a_running_job(api, state_query):
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\nSELECT counter FROM impulse;"
    )
    p = api.post(
        "/pipelines", json={"name": f"needs-running-{state_query}", "query": query, "parallelism": 1}
    ).json()
    job = wait_for_state(api, p["id"], "Running")
    api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})
    wait_for_state(api, p["id"], "Stopped")
    r = api.get(_output_url(p["id"], job["id"]))
    assert r.status_code == 400 and r.json() == {"error": "Job must be running to read output"}
    assert api.get(_output_url(p["id"], "job_nope")).json() == {"error": "Job not found"}
