"""The API's plumbing without SQL: routes, errors, pagination, catalogue, startup rules."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from arroyo_jupyter.local import start


def test_ping_and_route_fallbacks(arroyo_server, api):
    assert api.get("/ping").json() == "Pong"
    r = api.get("/no/such/route")
    assert r.status_code == 404 and r.json() == {"error": "Route not found"}
    root = httpx.get(arroyo_server.url + "/")
    assert root.status_code == 200 and "text/html" in root.headers["content-type"]
    assert "/api/v1" in root.text


def test_serves_its_openapi_spec_with_newer_shapes(api):
    spec = api.get("/api-docs/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    schemas = spec["components"]["schemas"]
    assert "tags" in schemas["Pipeline"]["required"]
    assert schemas["QueryValidationResult"]["properties"]["errors"]["items"] == {
        "$ref": "#/components/schemas/SqlDiagnostic"
    }
    assert "put" in spec["paths"]["/v1/pipelines/{id}"]


def test_not_found_bodies(api):
    assert api.get("/pipelines/pl_missing0000").json() == {"error": "Pipeline not found"}
    assert api.get("/pipelines/pl_missing0000/jobs").status_code == 404
    r = api.get("/pipelines/pl_x/jobs/job_y/checkpoints")
    assert r.status_code == 404 and r.json() == {"error": "Job not found"}
    assert api.delete("/udfs/udf_nope").json() == {"error": "UDF not found"}
    assert api.delete("/connection_tables/ct_nope").json() == {"error": "Connection table not found"}
    assert api.delete("/connection_profiles/cp_nope").json() == {"error": "Connection profile not found"}
    r = api.patch("/pipelines/pl_nope", json={})
    assert r.status_code == 404
    # Arroyo answers a restart of an unknown pipeline with 400 "No jobs for pipeline"
    r = api.post("/pipelines/pl_nope/restart", json={})
    assert r.status_code == 400 and r.json() == {"error": "No jobs for pipeline"}


def test_body_errors_use_axum_statuses(api):
    assert api.post("/pipelines", content=b"{}").status_code == 415
    r = api.post("/pipelines", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "error" in r.json()
    r = api.post("/pipelines", json={"name": "x"})
    assert r.status_code == 422 and "query" in r.json()["error"]
    r = api.post("/pipelines", json={"name": "", "query": "select 1", "parallelism": 1})
    assert r.json() == {"error": "Field name must be set"}
    r = api.post(
        "/pipelines", json={"name": "x", "query": "q", "parallelism": 1, "checkpoint_interval_micros": 5}
    )
    assert r.status_code == 400 and "between 1 second and 1 day" in r.json()["error"]


def test_pagination_bad_parameters(api):
    r = api.get("/pipelines", params={"limit": 0})
    assert r.status_code == 400 and r.json() == {"error": "Limit must be greater than 0"}
    r = api.get("/connection_tables", params={"limit": "abc"})
    assert r.status_code == 400 and "limit" in r.text  # plain text, as Arroyo's extractor


def test_connection_tables_page_newest_first_without_skipping(fresh_api):
    names = [f"impulse_{i}" for i in range(25)]
    for n in names:
        r = fresh_api.post(
            "/connection_tables", json={"name": n, "connector": "impulse", "config": {"event_rate": 10}}
        )
        assert r.status_code == 200, r.text
    seen, after = [], None
    while True:
        params = {"limit": 7} | ({"starting_after": after} if after else {})
        body = fresh_api.get("/connection_tables", params=params).json()
        seen += [t["name"] for t in body["data"]]
        if not body["hasMore"]:
            break
        after = body["data"][-1]["id"]
    assert seen == names[::-1]  # all 25, newest first, none skipped or repeated
    default = fresh_api.get("/connection_tables").json()
    assert len(default["data"]) == 10 and default["hasMore"] is True
    unknown = fresh_api.get("/connection_tables", params={"starting_after": "ct_unknown"}).json()
    assert unknown == {"data": [], "hasMore": False}


def test_connection_table_rules(fresh_api):
    ok = fresh_api.post(
        "/connection_tables", json={"name": "src", "connector": "impulse", "config": {"event_rate": 5}}
    )
    table = ok.json()
    assert table["id"].startswith("ct_") and len(table["id"]) == 13
    assert table["table_type"] == "source" and table["consumers"] == 0
    assert [f["name"] for f in table["schema"]["fields"]] == ["counter", "subtask_index"]
    dup = fresh_api.post(
        "/connection_tables", json={"name": "src", "connector": "impulse", "config": {"event_rate": 5}}
    )
    assert dup.json() == {"error": "connection_table with that name already exists"}
    missing = fresh_api.post("/connection_tables", json={"name": "t2", "connector": "impulse", "config": {}})
    assert missing.status_code == 400 and "event_rate" in missing.json()["error"]
    unknown = fresh_api.post("/connection_tables", json={"name": "t3", "connector": "kafkaa", "config": {}})
    assert unknown.status_code == 400 and "kafkaa" in unknown.json()["error"]
    assert fresh_api.delete(f"/connection_tables/{table['id']}").status_code == 200
    assert fresh_api.get("/connection_tables").json()["data"] == []


def test_connectors_list_json_schema_configs(api):
    import json

    data = api.get("/connectors").json()["data"]
    by_id = {c["id"]: c for c in data}
    assert {"impulse", "nexmark", "blackhole"} <= set(by_id)
    assert [c["name"] for c in data] == sorted(c["name"] for c in data)
    impulse = json.loads(by_id["impulse"]["table_config"])
    assert impulse["required"] == ["event_rate"] and by_id["impulse"]["source"] is True


def test_connectors_are_the_engines(api):
    from arroyo_jupyter.local.engine.catalog import KNOWN_CONNECTORS

    listed = {c["id"] for c in api.get("/connectors").json()["data"]}
    assert listed == set(KNOWN_CONNECTORS)


def test_connection_profiles(fresh_api):
    r = fresh_api.post("/connection_profiles", json={"name": "p1", "connector": "nope", "config": {}})
    assert r.json() == {"error": "Unknown connector type"}
    p = fresh_api.post(
        "/connection_profiles", json={"name": "p1", "connector": "impulse", "config": {}}
    ).json()
    assert p["id"].startswith("cp_")
    assert [x["id"] for x in fresh_api.get("/connection_profiles").json()["data"]] == [p["id"]]
    test = fresh_api.post(
        "/connection_profiles/test", json={"name": "p", "connector": "impulse", "config": {}}
    )
    assert test.json()["done"] is True
    assert fresh_api.delete(f"/connection_profiles/{p['id']}").status_code == 200


def test_global_python_udfs(fresh_api):
    good = "from arroyo_udf import udf\n\n@udf\ndef double_it(x: int) -> int:\n    return x * 2\n"
    v = fresh_api.post("/udfs/validate", json={"definition": good, "language": "python"}).json()
    assert v == {"udf_name": "double_it", "errors": []}
    bad = fresh_api.post("/udfs/validate", json={"definition": "def broken(:", "language": "python"}).json()
    assert bad["udf_name"] is None and "line 1" in bad["errors"][0]
    created = fresh_api.post("/udfs", json={"prefix": "p", "definition": good, "language": "python"}).json()
    assert created["name"] == "double_it" and created["id"].startswith("udf_")
    dup = fresh_api.post("/udfs", json={"prefix": "p", "definition": good, "language": "python"})
    assert dup.json() == {"error": "udf with that name already exists"}
    assert [u["id"] for u in fresh_api.get("/udfs").json()["data"]] == [created["id"]]
    assert fresh_api.delete(f"/udfs/{created['id']}").status_code == 200


def test_bearer_key_is_enforced_on_every_route(tmp_path):
    with start(
        port=0, state_dir=tmp_path, api_key="s3cret-key", allowed_origins=["http://localhost:8000"]
    ) as server:
        for path in [
            "/api/v1/ping",
            "/api/v1/pipelines",
            "/api/v1/nope",
            "/",
            "/api/v1/api-docs/openapi.json",
        ]:
            r = httpx.get(server.url + path)
            assert r.status_code == 401 and r.content == b"", path
            r = httpx.get(server.url + path, headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 401
        r = httpx.post(server.url + "/api/v1/pipelines", json={})
        assert r.status_code == 401 and r.content == b""
        ok = httpx.get(server.url + "/api/v1/ping", headers={"Authorization": "Bearer s3cret-key"})
        assert ok.json() == "Pong"
        assert "s3cret" not in repr(server) and "s3cret" not in repr(server.config)
        # a browser's CORS preflight carries no credentials; the real request still needs them
        pre = httpx.options(
            server.api_url + "/pipelines",
            headers={"Origin": "http://localhost:8000", "Access-Control-Request-Method": "GET"},
        )
        # (from an allow-listed origin: CORS names it, never "*")
        assert pre.status_code == 200
        assert pre.headers["access-control-allow-origin"] == "http://localhost:8000"


def test_binds_loopback_and_refuses_wider_binding_without_key(tmp_path):
    with start(port=0, state_dir=tmp_path / "a") as server:
        assert server.url.startswith("http://127.0.0.1:")
        sock = server._server.servers[0].sockets[0]
        assert sock.getsockname()[0] == "127.0.0.1"
    with pytest.raises(ValueError, match="api.key|API key"):
        start(port=0, state_dir=tmp_path / "b", host="0.0.0.0")


def test_serve_command_refuses_public_bind_without_key(capsys):
    from arroyo_jupyter.cli import main

    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 2
    assert "--api-key" in capsys.readouterr().err


def test_stop_leaves_no_threads_even_with_running_jobs_and_open_streams(tmp_path):
    from server_helpers import wait_for_state

    before = set(threading.enumerate())
    server = start(port=0, state_dir=tmp_path)
    api = httpx.Client(base_url=server.api_url, timeout=30)
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\nSELECT counter FROM impulse;"
    )
    p = api.post("/pipelines", json={"name": "a", "query": query, "parallelism": 2}).json()
    job = wait_for_state(api, p["id"], "Running")
    ended = threading.Event()

    def read_output() -> None:
        with httpx.stream(
            "GET", f"{server.api_url}/pipelines/{p['id']}/jobs/{job['id']}/output", timeout=30
        ) as r:
            for _ in r.iter_raw():
                pass
        ended.set()

    reader = threading.Thread(target=read_output)
    reader.start()
    wait_until_subscribed = server.controller.machine(job["id"]).hub
    deadline = time.monotonic() + 10
    while wait_until_subscribed.subscriber_count == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.stop()
    reader.join(10)
    assert ended.is_set()  # the open stream ended with the server
    api.close()
    left = [t for t in threading.enumerate() if t not in before and t is not reader and t.is_alive()]
    assert left == []


def test_start_mistakes_get_short_errors(arroyo_server, tmp_path):
    with pytest.raises(ValueError, match="unknown server setting.*preview_ttl_s"):
        start(port=0, state_dir=tmp_path, preview_ttl=3)
    port = int(arroyo_server.url.rsplit(":", 1)[1])
    with pytest.raises(RuntimeError, match="port=0"):
        start(port=port, state_dir=tmp_path / "busy")


def test_a_server_bug_is_a_json_500_not_a_traceback(fresh_api, monkeypatch):
    from arroyo_jupyter.local import routes_pipelines

    def broken_planner(*args, **kwargs):  # fault injection: a bug inside the planner
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(routes_pipelines, "plan", broken_planner)
    r = fresh_api.post("/pipelines/validate_query", json={"query": "SELECT 1"})
    assert r.status_code == 500 and r.json() == {"error": "Something went wrong"}
