"""redis sink, mqtt source and sink, nats source and sink against Debian's real servers
(redis-server, mosquitto, nats-server) on free 127.0.0.1 ports."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as paho
import pytest
import redis
from brokers import wait_until
from engine_helpers import Recorder, run_sql

from arroyo_jupyter.local.engine import plan_query, start_job
from arroyo_jupyter.local.engine.connectors import background

pytestmark = pytest.mark.timeout(120)


IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000', message_count = '20');\n"


@pytest.mark.parametrize("target", ["string", "list", "hash"])
def test_redis_sink_targets(redis_server, target):
    extra = {
        "string": "'target.key_prefix' = 'c:', 'target.key_column' = 'k'",
        "list": "'target.key_prefix' = 'l:', 'target.key_column' = 'parity', 'target.max_length' = '5'",
        "hash": "'target.key_prefix' = 'h:', 'target.key_column' = 'parity', 'target.field_column' = 'k'",
    }[target]
    sql = (
        IMPULSE
        + f"CREATE TABLE r WITH (connector = 'redis', address = '{redis_server.url}', format = 'json', "
        f"target = '{target}', {extra});\n"
        "INSERT INTO r SELECT counter AS k, counter % 2 AS parity FROM impulse;"
    )
    rec, _ = run_sql(sql)
    assert rec.ended == "finished", rec.errors
    r = redis.Redis.from_url(redis_server.url)
    if target == "string":
        assert {json.loads(r.get(f"c:{i}"))["k"] for i in range(20)} == set(range(20))
    elif target == "list":
        assert [json.loads(v)["k"] for v in r.lrange("l:0", 0, -1)] == [10, 12, 14, 16, 18]
    else:
        assert sorted(int(f) for f in r.hgetall("h:1")) == list(range(1, 20, 2))
    r.close()


def test_redis_down_at_start_names_the_address():
    sql = (
        IMPULSE
        + "CREATE TABLE r WITH (connector = 'redis', address = 'redis://127.0.0.1:1', format = 'json', "
        "'target.key_prefix' = 'x');\nINSERT INTO r SELECT counter FROM impulse;"
    )
    rec, _ = run_sql(sql)
    assert (
        rec.ended.startswith("failed") and "check that Redis is running at redis://127.0.0.1:1" in rec.ended
    )


def test_mqtt_source_with_topic_metadata_and_sink(mosquitto):
    sql = (
        f"CREATE TABLE plants (value TEXT, t TEXT METADATA FROM 'topic') WITH (connector = 'mqtt', url = '{mosquitto.url}', "
        "topic = 'plant/#', type = 'source', format = 'raw_string', qos = 'AtLeastOnce');\n"
        f"CREATE TABLE out WITH (connector = 'mqtt', url = '{mosquitto.url}', topic = 'out', type = 'sink', "
        "format = 'json', qos = 'AtLeastOnce');\n"
        "INSERT INTO out SELECT t, upper(value) AS v FROM plants;"
    )
    got: list[dict] = []
    reader = paho.Client(paho.CallbackAPIVersion.VERSION2)
    reader.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    host, port = "127.0.0.1", int(mosquitto.url.rsplit(":", 1)[1])
    reader.connect(host, port)
    reader.subscribe("out", qos=1)
    reader.loop_start()
    rec = Recorder()
    job = start_job(plan_query(sql), state_dir=None, listener=rec)
    try:
        publisher = paho.Client(paho.CallbackAPIVersion.VERSION2)
        publisher.connect(host, port)
        publisher.loop_start()

        def publish_until_received() -> bool:  # the source subscribes asynchronously: publish until it reads
            if not got:
                publisher.publish("plant/a", b"first", qos=1).wait_for_publish(5)
                time.sleep(0.1)
            return bool(got)

        wait_until(publish_until_received, what="the first message through the pipeline")
        publisher.publish("plant/b/c", b"second", qos=1).wait_for_publish(5)
        wait_until(lambda: any(r["t"] == "plant/b/c" for r in got), what="the second message")
        publisher.loop_stop()
    finally:
        job.stop("immediate")
        job.join(30)
        reader.loop_stop()
    assert {"t": "plant/b/c", "v": "SECOND"} in got and all(r["v"] in ("FIRST", "SECOND") for r in got)


def test_mqtt_broker_down_fails_after_retries(monkeypatch):
    monkeypatch.setattr(background, "GIVE_UP_S", 1.0)
    rec = Recorder()
    job = start_job(
        plan_query(
            "CREATE TABLE m (value TEXT) WITH (connector = 'mqtt', url = 'tcp://127.0.0.1:1', "
            "topic = 'x', type = 'source', format = 'raw_string');\nSELECT value FROM m;"
        ),
        state_dir=None,
        listener=rec,
    )
    assert job.join(30)
    assert rec.ended.startswith("failed") and "MQTT broker at 127.0.0.1:1" in rec.ended


def test_nats_source_and_sink(nats_server):
    import asyncio

    import nats

    sql = (
        f"CREATE TABLE events (id BIGINT) WITH (connector = 'nats', servers = '{nats_server.url}', "
        "subject = 'in', type = 'source', format = 'json');\n"
        f"CREATE TABLE out WITH (connector = 'nats', servers = '{nats_server.url}', subject = 'out', type = 'sink', "
        "format = 'json');\nINSERT INTO out SELECT id * 2 AS twice FROM events;"
    )

    async def scenario() -> list[int]:
        nc = await nats.connect(nats_server.url)
        got: list[int] = []

        async def on(msg):
            got.append(json.loads(msg.data)["twice"])

        await nc.subscribe("out", cb=on)
        job = start_job(plan_query(sql), state_dir=None, listener=Recorder())
        try:
            deadline = time.monotonic() + 30
            i = 0
            while (
                len(got) < 3 and time.monotonic() < deadline
            ):  # publish until the source's subscription reads
                await nc.publish("in", json.dumps({"id": i}).encode())
                i += 1
                await asyncio.sleep(0.05)
        finally:
            job.stop("immediate")
            job.join(30)
            await nc.close()
        return got

    got = asyncio.run(scenario())
    assert len(got) >= 3 and all(v % 2 == 0 for v in got) and got == sorted(got)


def test_nats_down_at_start_names_the_server():
    sql = (
        IMPULSE + "CREATE TABLE out WITH (connector = 'nats', servers = 'nats://127.0.0.1:1', subject = 'x', "
        "type = 'sink', format = 'json');\nINSERT INTO out SELECT counter FROM impulse;"
    )
    rec, _ = run_sql(sql)
    assert rec.ended.startswith("failed") and "cannot connect to NATS at nats://127.0.0.1:1" in rec.ended


def test_console_tables_with_profiles_connect(fresh_server, redis_server, mosquitto, nats_server):
    import httpx

    schema = {
        "format": {"json": {}},
        "fields": [{"name": "k", "type": "int64", "required": False, "sql_name": "BIGINT"}],
    }
    cases = [
        (
            "redis",
            {"connection": {"address": redis_server.url}},
            {"connectorType": {"target": {"keyPrefix": "p:", "keyColumn": "k"}}},
            "Connected to Redis",
            "sink",
        ),
        (
            "mqtt",
            {"url": mosquitto.url},
            {"topic": "x", "type": {"retain": False}},
            "Connected to the MQTT broker",
            "sink",
        ),
        (
            "nats",
            {"servers": nats_server.url, "authentication": {}},
            {"connectorType": {"sourceType": {"subject": "s"}}},
            "Connected to NATS",
            "source",
        ),
    ]
    with httpx.Client(base_url=fresh_server.api_url, timeout=30) as api:
        for connector, profile, config, expect, kind in cases:
            tested = api.post(
                "/connection_profiles/test",
                json={"name": connector, "connector": connector, "config": profile},
            ).json()
            assert not tested["error"] and expect in tested["message"], tested
            pid = api.post(
                "/connection_profiles", json={"name": connector, "connector": connector, "config": profile}
            ).json()["id"]
            table = {
                "name": f"t_{connector}",
                "connector": connector,
                "connection_profile_id": pid,
                "config": config,
                "schema": schema,
            }
            r = api.post("/connection_tables/test", json=table)
            messages = [json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:")]
            assert any(expect in m["message"] for m in messages) and not messages[-1]["error"], messages
            created = api.post("/connection_tables", json=table)
            assert created.status_code == 200 and created.json()["table_type"] == kind, created.text
        query = (
            "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100', message_count = '5');\n"
            "INSERT INTO t_redis SELECT counter AS k FROM impulse;"
        )
        assert api.post("/pipelines", json={"name": "r", "parallelism": 1, "query": query}).status_code == 200
        wait_until(lambda: redis.Redis.from_url(redis_server.url).get("p:4"), what="rows in redis")
