"""A preview's output from its first row, replayed to late subscribers (issue 11, point 1)."""

from __future__ import annotations

import httpx
import orjson
from server_helpers import events, output_url, wait_for_state, wait_until

from arroyo_jupyter.local import start


def _file_source(tmp_path, lines: int = 1000) -> str:
    path = tmp_path / "src.json"
    path.write_bytes(b"".join(orjson.dumps({"k": i % 7, "v": i}) + b"\n" for i in range(lines)))
    return (
        f"CREATE TABLE src (k BIGINT, v BIGINT) WITH (connector = 'single_file', path = '{path}', "
        "format = 'json', type = 'source');\n"
    )


def _read_all(api: httpx.Client, pid: str, jid: str) -> list[tuple]:
    with api.stream("GET", output_url(pid, jid), timeout=30) as r:
        assert r.status_code == 200, r.read()
        return [e for e in events(r) if e[0] != "comment"]


def _rows(evs: list[tuple]) -> list[dict]:
    return [row for kind, _id, data in evs if kind == "event" for row in orjson.loads(data["batch"])]


def test_late_subscriber_to_a_finished_preview_gets_every_row(api, tmp_path):
    query = _file_source(tmp_path) + "SELECT k, count(*) AS n FROM src GROUP BY k;"
    p = api.post("/pipelines/preview", json={"query": query}).json()
    job = wait_for_state(api, p["id"], "Finished", timeout=60)  # nobody subscribed while it ran
    evs = _read_all(api, p["id"], job["id"])
    assert [e[1] for e in evs if e[0] == "event"] == list(range(sum(e[0] == "event" for e in evs)))
    assert evs[-1][0] == "run_end" and evs[-1][2] == {"run_id": job["run_id"], "state": "Finishing"}
    assert "replay_dropped" not in [e[0] for e in evs]
    # an updating aggregate: the last change per key holds the final count
    final: dict[int, int] = {}
    for row in _rows(evs):
        if row["after"] is not None:
            final[row["after"]["k"]] = row["after"]["n"]
        else:
            final.pop(row["before"]["k"], None)
    assert final == {k: len(range(k, 1000, 7)) for k in range(7)}
    # a second late subscriber gets the same again
    assert _rows(_read_all(api, p["id"], job["id"])) == _rows(evs)


def test_subscriber_before_the_run_and_after_the_stop_see_the_same_rows(api):
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter FROM impulse;"
    )
    p = api.post("/pipelines/preview", json={"query": query}).json()
    job = api.get(f"/pipelines/{p['id']}/jobs").json()["data"][0]
    early: list[int] = []
    with api.stream("GET", output_url(p["id"], job["id"]), timeout=30) as r:  # before Running
        assert r.status_code == 200
        for kind, _id, data in events(r):
            if kind == "event":
                early += [row["counter"] for row in orjson.loads(data["batch"])]
                if len(early) >= 50:
                    break
    api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})
    job = wait_for_state(api, p["id"], "Stopped")
    late = [row["counter"] for row in _rows(_read_all(api, p["id"], job["id"]))]
    assert early[:50] == list(range(50))  # from the very first row
    assert late[: len(early)] == early and late == list(range(len(late)))


def test_replay_buffer_is_bounded_and_says_what_it_dropped(tmp_path):
    with start(port=0, state_dir=tmp_path, preview_replay_rows=1000, batch_size=100) as server:
        with httpx.Client(base_url=server.api_url, timeout=30) as api:
            query = (
                "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100000', message_count = '5000');\n"
                "SELECT counter FROM impulse;"
            )
            p = api.post("/pipelines/preview", json={"query": query}).json()
            job = wait_for_state(api, p["id"], "Finished", timeout=60)
            evs = _read_all(api, p["id"], job["id"])
            assert evs[0][0] == "replay_dropped"
            dropped = evs[0][2]["dropped_rows"]
            counters = [row["counter"] for row in _rows(evs)]
            assert len(counters) <= 1000 and dropped + len(counters) == 5000
            assert counters == list(range(dropped, 5000))  # the newest rows, in order
            assert evs[0][2]["max_rows"] == 1000
            warning = wait_until(
                lambda: [m for m in server.store.log_messages(job["id"]) if m["level"] == "warn"],
                what="replay drop warning",
            )
            assert warning[0]["details"].startswith(f"{dropped} of the oldest rows")


def test_replay_is_bounded_in_bytes_too(tmp_path):
    with start(port=0, state_dir=tmp_path, preview_replay_bytes=20_000, batch_size=100) as server:
        with httpx.Client(base_url=server.api_url, timeout=30) as api:
            query = (
                "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100000', message_count = '3000');\n"
                "SELECT counter, repeat('x', 50) AS pad FROM impulse;"
            )
            p = api.post("/pipelines/preview", json={"query": query}).json()
            job = wait_for_state(api, p["id"], "Finished", timeout=60)
            evs = _read_all(api, p["id"], job["id"])
            kept = sum(len(orjson.dumps(data)) for kind, _i, data in evs if kind == "event")
            assert evs[0][0] == "replay_dropped" and kept <= 25_000
            assert evs[0][2]["dropped_rows"] + len(_rows(evs)) == 3000


def test_a_normal_pipeline_still_needs_a_running_job_and_replays_nothing(api):
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter FROM impulse;"
    )
    p = api.post("/pipelines", json={"name": "no-replay", "query": query, "parallelism": 1}).json()
    job = wait_for_state(api, p["id"], "Running")
    wait_until(lambda: api.get(f"/pipelines/{p['id']}/jobs/{job['id']}/checkpoints").status_code == 200)
    import time

    time.sleep(0.5)  # rows flow meanwhile; a live-only subscriber must not get them
    with api.stream("GET", output_url(p["id"], job["id"])) as r:
        first = next(e for e in events(r) if e[0] == "event")
    assert first[2]["start_id"] > 0  # live data, not a replay from row 0
    api.patch(f"/pipelines/{p['id']}", json={"stop": "immediate"})
    wait_for_state(api, p["id"], "Stopped")
    r = api.get(output_url(p["id"], job["id"]))
    assert r.status_code == 400 and r.json() == {"error": "Job must be running to read output"}
    api.delete(f"/pipelines/{p['id']}")
