"""The kafka connector through the embedded server's HTTP API, as Arroyo's console uses it:
its schema in GET /connectors, connection profiles (test, autocomplete of topics), connection
tables tested against the real broker, and a pipeline over a profile's table."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

pytestmark = pytest.mark.timeout(120)


def sse_messages(response: httpx.Response) -> list[dict]:
    return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]


@pytest.fixture
def api(fresh_server):
    with httpx.Client(base_url=fresh_server.api_url, timeout=60) as client:
        yield client


def test_connectors_serves_arroyos_kafka_schemas(api):
    kafka = next(c for c in api.get("/connectors").json()["data"] if c["id"] == "kafka")
    assert kafka["source"] and kafka["sink"] and kafka["custom_schemas"]
    table = json.loads(kafka["table_config"])
    profile = json.loads(kafka["connection_config"])
    assert table["title"] == "KafkaTable" and table["properties"]["topic"]["format"] == "autocomplete"
    assert profile["title"] == "KafkaConfig" and "bootstrapServers" in profile["properties"]


def test_profile_test_autocomplete_and_a_table_that_really_connects(api, kafka):
    topic = kafka.create_topic(f"srv-{uuid.uuid4().hex[:8]}", 2)
    config = {"bootstrapServers": kafka.bootstrap, "authentication": {}}
    tested = api.post(
        "/connection_profiles/test", json={"name": "k", "connector": "kafka", "config": config}
    ).json()
    assert tested["error"] is False and kafka.bootstrap in tested["message"], tested
    profile = api.post("/connection_profiles", json={"name": "local", "connector": "kafka", "config": config})
    assert profile.status_code == 200, profile.text
    pid = profile.json()["id"]
    values = api.get(f"/connection_profiles/{pid}/autocomplete").json()["values"]
    assert topic in values["topic"]

    table = {
        "name": "events",
        "connector": "kafka",
        "connection_profile_id": pid,
        "config": {"topic": topic, "type": {"offset": "earliest"}},
        "schema": {
            "format": {"json": {}},
            "fields": [{"name": "id", "type": "int64", "required": False, "sql_name": "BIGINT"}],
        },
    }
    messages = sse_messages(api.post("/connection_tables/test", json=table))
    assert messages[-1] == {"error": False, "done": True, "message": "Successfully validated connection"}
    assert any("2 partitions" in m["message"] for m in messages)

    missing = sse_messages(
        api.post(
            "/connection_tables/test",
            json={**table, "config": {"topic": "nope", "type": {"offset": "earliest"}}},
        )
    )
    assert missing[-1]["error"] and "topic 'nope' does not exist" in missing[-1]["message"]

    bad = api.post(
        "/connection_tables", json={**table, "config": {"topic": topic, "type": {"offset": "soon"}}}
    )
    assert bad.status_code == 400 and "type.offset" in bad.json()["error"]

    created = api.post("/connection_tables", json=table)
    assert created.status_code == 200, created.text
    assert created.json()["table_type"] == "source"

    out = kafka.create_topic(f"srv-out-{uuid.uuid4().hex[:8]}", 1)
    kafka.produce(topic, [json.dumps({"id": i}).encode() for i in range(5)], partition=lambda i: i % 2)
    query = (
        f"CREATE TABLE out WITH (connector = 'kafka', bootstrap_servers = '{kafka.bootstrap}', "
        f"topic = '{out}', format = 'json', type = 'sink');\n"
        "INSERT INTO out SELECT id * 10 AS x FROM events;"
    )
    pipeline = api.post("/pipelines", json={"name": "p", "query": query, "parallelism": 1})
    assert pipeline.status_code == 200, pipeline.text
    got = kafka.read(out, 5)
    api.patch(f"/pipelines/{pipeline.json()['id']}", json={"stop": "immediate"})
    assert sorted(json.loads(m.value())["x"] for m in got) == [0, 10, 20, 30, 40]


def test_profile_test_names_the_unreachable_host(api):
    config = {"bootstrapServers": "127.0.0.1:1", "authentication": {}}
    tested = api.post(
        "/connection_profiles/test", json={"name": "k", "connector": "kafka", "config": config}
    ).json()
    assert tested["error"] is True and "cannot reach Kafka at 127.0.0.1:1" in tested["message"]
