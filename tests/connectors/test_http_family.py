"""sse, websocket and polling_http sources and the webhook sink against small real servers."""

from __future__ import annotations

import json

import pytest
from brokers import wait_until
from engine_helpers import Recorder, run_sql

from arroyo_jupyter.local.engine import plan_query, start_job
from arroyo_jupyter.local.engine.connectors import background

pytestmark = pytest.mark.timeout(120)


class Live:
    def __init__(self, sql: str, state_dir=None, **kwargs):
        self.rec = Recorder()
        self.job = start_job(
            plan_query(sql), state_dir=str(state_dir) if state_dir else None, listener=self.rec, **kwargs
        )

    def stop(self):
        self.job.stop("immediate")
        assert self.job.join(30)


def test_sse_keeps_the_chosen_events_and_resumes_after_the_last_id(http_family):
    sql = (
        f"CREATE TABLE ticks (i BIGINT) WITH (connector = 'sse', endpoint = '{http_family.url}/sse', "
        "events = 'tick', format = 'json');\nSELECT i FROM ticks;"
    )
    live = Live(sql)
    wait_until(lambda: len(live.rec.rows) >= 10, what="10 ticks")
    live.stop()
    assert [r["i"] for r in live.rec.rows] == list(range(1, 11)), "each tick once, no noise"
    assert http_family.sse_requests[:2] == [None, "5"], "reopened with Last-Event-ID"


def test_websocket_sends_its_subscriptions_and_reads_messages(http_family):
    ws = http_family.url.replace("http://", "ws://") + "/ws"
    sql = (
        f"CREATE TABLE feed (k BIGINT, sub TEXT) WITH (connector = 'websocket', endpoint = '{ws}', format = 'json', "
        """subscription_messages = '["{\\"channel\\": \\"a\\"}", "{\\"channel\\": \\"b\\"}"]');\n"""
        "SELECT k, sub FROM feed;"
    )
    live = Live(sql)
    wait_until(lambda: len(live.rec.rows) >= 10, what="10 messages")
    live.stop()
    assert sorted((r["sub"], r["k"]) for r in live.rec.rows) == [(s, k) for s in "ab" for k in range(5)]
    assert [json.loads(m)["channel"] for m in http_family.subscriptions] == ["a", "b"]


def test_polling_http_all_and_changed(http_family):
    sql = (
        f"CREATE TABLE p (n BIGINT, method TEXT, body TEXT) WITH (connector = 'polling_http', "
        f"endpoint = '{http_family.url}/poll', method = 'POST', body = 'hello', poll_interval_ms = '20', "
        "format = 'json');\nSELECT n, method, body FROM p;"
    )
    live = Live(sql)
    wait_until(lambda: len(live.rec.rows) >= 5, what="5 polls")
    live.stop()
    rows = live.rec.rows
    assert [r["n"] for r in rows] == sorted({r["n"] for r in rows}) and rows[0]["method"] == "POST"
    assert rows[0]["body"] == "hello"

    sql = (
        f"CREATE TABLE s (n BIGINT) WITH (connector = 'polling_http', endpoint = '{http_family.url}/static', "
        "poll_interval_ms = '20', emit_behavior = 'changed', format = 'json');\nSELECT n FROM s;"
    )
    live = Live(sql)
    wait_until(lambda: live.rec.rows, what="the first body")
    seen = http_family.static_count
    wait_until(lambda: http_family.static_count >= seen + 5, what="5 more polls of an unchanged body")
    live.stop()
    assert [r["n"] for r in live.rec.rows] == [42], "an unchanged body is not emitted again"


def test_webhook_posts_each_row_with_its_headers(http_family):
    sql = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000', message_count = '25');\n"
        f"CREATE TABLE hook WITH (connector = 'webhook', endpoint = '{http_family.url}/hook', "
        "headers = 'X-Token: secret', format = 'json');\n"
        "INSERT INTO hook SELECT counter FROM impulse;"
    )
    rec, _ = run_sql(sql)
    assert rec.ended == "finished", rec.errors
    assert sorted(p["body"]["counter"] for p in http_family.posts) == list(range(25))
    assert {p["auth"] for p in http_family.posts} == {"secret"}


def test_webhook_failure_names_the_endpoint(http_family, monkeypatch):
    from arroyo_jupyter.local.engine.connectors import webhook

    monkeypatch.setattr(webhook, "RETRY_S", 0.5)
    sql = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000', message_count = '3');\n"
        f"CREATE TABLE hook WITH (connector = 'webhook', endpoint = '{http_family.url}/broken', format = 'json');\n"
        "INSERT INTO hook SELECT counter FROM impulse;"
    )
    rec, _ = run_sql(sql)
    assert rec.ended.startswith("failed") and f"{http_family.url}/broken failed: HTTP 500" in rec.ended


def test_unreachable_endpoint_fails_after_retries_naming_it(monkeypatch):
    from brokers import free_port

    monkeypatch.setattr(background, "GIVE_UP_S", 1.0)
    where = f"http://127.0.0.1:{free_port()}/sse"
    live = Live(
        f"CREATE TABLE t (i BIGINT) WITH (connector = 'sse', endpoint = '{where}', format = 'json');\n"
        "SELECT i FROM t;"
    )
    assert live.job.join(30)
    assert live.rec.ended.startswith("failed") and f"cannot read the SSE endpoint {where}" in live.rec.ended
    assert "gave up after 1 s" in live.rec.ended


def test_server_serves_their_schemas_and_tests_endpoints(fresh_server, http_family):
    import httpx

    with httpx.Client(base_url=fresh_server.api_url, timeout=30) as api:
        ids = {c["id"]: c for c in api.get("/connectors").json()["data"]}
        assert json.loads(ids["websocket"]["table_config"])["title"] == "WebsocketTable"
        assert ids["webhook"]["sink"] and not ids["webhook"]["source"]
        schema = {
            "format": {"json": {}},
            "fields": [{"name": "i", "type": "int64", "required": False, "sql_name": "BIGINT"}],
        }
        for connector, config, expect in [
            ("sse", {"endpoint": f"{http_family.url}/sse", "events": "tick"}, "an event stream"),
            (
                "websocket",
                {
                    "endpoint": http_family.url.replace("http", "ws") + "/ws",
                    "subscription_messages": ['{"channel": "x"}'],
                },
                "Connected to",
            ),
            ("polling_http", {"endpoint": f"{http_family.url}/static"}, "HTTP 200"),
            ("webhook", {"endpoint": f"{http_family.url}/hook"}, "is reachable"),
        ]:
            table = {"name": f"t_{connector}", "connector": connector, "config": config, "schema": schema}
            r = api.post("/connection_tables/test", json=table)
            messages = [json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:")]
            assert any(expect in m["message"] for m in messages), (connector, messages)
            assert not messages[-1]["error"], messages
            assert api.post("/connection_tables", json=table).status_code == 200
        bad = {
            "name": "t_bad",
            "connector": "sse",
            "config": {"endpoint": "http://127.0.0.1:1/x"},
            "schema": schema,
        }
        r = api.post("/connection_tables/test", json=bad)
        last = [json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:")][-1]
        assert last["error"] and "cannot connect to http://127.0.0.1:1/x" in last["message"]
        pipeline = api.post(
            "/pipelines", json={"name": "ws", "parallelism": 1, "query": "SELECT i FROM t_sse"}
        )
        assert pipeline.status_code == 200, pipeline.text
