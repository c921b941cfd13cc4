"""Redis lookup joins (CREATE TEMPORARY TABLE … connector = 'redis' used in JOIN … ON) against a
real redis-server: values joined in, missing keys (inner drops, LEFT keeps with nulls), the
cache, the refusals of other join shapes, and Redis down."""

from __future__ import annotations

import json

import httpx
import pytest
import redis
from brokers import wait_until
from engine_helpers import Recorder, run_sql

from arroyo_jupyter.local.engine import PlanError, plan_query, start_job
from arroyo_jupyter.local.engine.lookup_join import LookupCache

pytestmark = pytest.mark.timeout(120)

IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000', message_count = '20');\n"


def lookup_table(url: str, extra: str = "") -> str:
    return (
        "CREATE TEMPORARY TABLE users (id TEXT METADATA FROM 'key' PRIMARY KEY, name TEXT, age BIGINT) WITH ("
        f"connector = 'redis', address = '{url}', format = 'json'{extra});\n"
    )


@pytest.fixture
def users(redis_server):
    """Users u0 … u9 have values (every even one only: odd keys are missing)."""
    r = redis.Redis.from_url(redis_server.url)
    for i in range(0, 10, 2):
        r.set(f"u{i}", json.dumps({"name": f"user {i}", "age": 20 + i}))
    yield r
    r.close()


def test_inner_lookup_join_joins_values_and_drops_missing_keys(redis_server, users):
    sql = (
        IMPULSE + lookup_table(redis_server.url) + "SELECT i.counter, u.id, u.name, u.age FROM impulse i "
        "JOIN users u ON concat('u', CAST(i.counter % 10 AS TEXT)) = u.id;"
    )
    rec, _ = run_sql(sql)
    assert rec.ended == "finished", rec.errors
    expected = [
        {"counter": c, "id": f"u{c % 10}", "name": f"user {c % 10}", "age": 20 + c % 10}
        for c in range(20)
        if c % 2 == 0
    ]
    assert sorted(rec.rows, key=lambda r: r["counter"]) == expected


def test_left_lookup_join_keeps_rows_without_a_value(redis_server, users):
    sql = (
        IMPULSE
        + lookup_table(redis_server.url)
        + "SELECT counter, name, age + 1 AS next_age FROM impulse LEFT JOIN users "
        "ON users.id = 'u' || CAST(counter % 10 AS TEXT) WHERE counter < 4;"
    )
    rec, _ = run_sql(sql, parallelism=2)  # each impulse subtask counts from 0
    assert rec.ended == "finished", rec.errors
    assert sorted(
        {json.dumps(r, sort_keys=True): r for r in rec.rows}.values(), key=lambda r: r["counter"]
    ) == [
        {"counter": 0, "name": "user 0", "next_age": 21},
        {"counter": 1, "name": None, "next_age": None},
        {"counter": 2, "name": "user 2", "next_age": 23},
        {"counter": 3, "name": None, "next_age": None},
    ]


def test_lookup_join_into_a_sink_and_a_window(redis_server, users, tmp_path):
    out = tmp_path / "out.json"
    sql = (
        IMPULSE
        + lookup_table(
            redis_server.url, ", 'lookup.cache.max_bytes' = '100000', 'lookup.cache.ttl' = '5 seconds'"
        )
        + f"CREATE TABLE out (name TEXT, n BIGINT) WITH (connector = 'single_file', path = '{out}', "
        "format = 'json', type = 'sink');\n"
        "INSERT INTO out SELECT u.name, count(*) AS n FROM impulse i JOIN users u "
        "ON u.id = concat('u', CAST(i.counter % 4 AS TEXT)) GROUP BY tumble(interval '1 hour'), u.name;"
    )
    rec, _ = run_sql(sql)
    assert rec.ended == "finished", rec.errors
    rows = sorted((json.loads(line) for line in out.read_text().splitlines()), key=lambda r: r["name"])
    assert rows == [{"name": "user 0", "n": 5}, {"name": "user 2", "n": 5}]


def test_lookup_columns_that_collide_with_the_stream_keep_both(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    r.set("1", json.dumps({"counter": 100}))
    r.close()
    sql = (
        IMPULSE + "CREATE TEMPORARY TABLE t (k TEXT METADATA FROM 'key' PRIMARY KEY, counter BIGINT) WITH ("
        f"connector = 'redis', address = '{redis_server.url}', format = 'json');\n"
        "SELECT impulse.counter AS mine, t.counter AS theirs FROM impulse JOIN t ON CAST(impulse.counter AS TEXT) = t.k;"
    )
    rec, _ = run_sql(sql)
    assert rec.ended == "finished", rec.errors
    assert rec.rows == [{"mine": 1, "theirs": 100}]


def test_redis_down_fails_the_job_naming_the_address():
    sql = (
        IMPULSE
        + lookup_table("redis://127.0.0.1:1")
        + "SELECT u.name FROM impulse i JOIN users u ON CAST(i.counter AS TEXT) = u.id;"
    )
    rec, _ = run_sql(sql)
    assert rec.ended is not None and rec.ended.startswith("failed"), rec.ended
    assert "lookup table 'users'" in rec.ended
    assert "check that Redis is running at redis://127.0.0.1:1" in rec.ended
    assert any(
        op.startswith("lookup_join") and "redis://127.0.0.1:1" in message for op, _, message, *_ in rec.errors
    )


def test_redis_going_away_mid_run_fails_the_job_naming_the_address(redis_server, users):
    sql = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '50');\n"
        + lookup_table(redis_server.url)
        + "SELECT counter, name FROM impulse LEFT JOIN users ON users.id = concat('u', CAST(counter % 10 AS TEXT));"
    )
    rec = Recorder()
    job = start_job(plan_query(sql), state_dir=None, listener=rec)
    try:
        wait_until(
            lambda: any(r["name"] == "user 0" for r in rec.rows), what="joined rows before Redis stops"
        )
        redis_server.stop()
        assert job.join(60), "the job did not end after Redis went away"
    finally:
        job.stop("immediate")
        job.join(30)
    assert rec.ended is not None and rec.ended.startswith("failed"), rec.ended
    assert f"check that Redis is running at {redis_server.url}" in rec.ended


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "SELECT u.name FROM impulse i RIGHT JOIN users u ON CAST(i.counter AS TEXT) = u.id",
            "INNER or LEFT",
        ),
        ("SELECT u.name FROM impulse i JOIN users u ON CAST(i.counter AS TEXT) = u.name", "key column 'id'"),
        ("SELECT u.name FROM impulse i JOIN users u ON i.counter > 3", "one equality"),
        ("SELECT name FROM users", "only be read through a join"),
        (
            "CREATE TABLE counts (c TEXT, n BIGINT);\nINSERT INTO counts SELECT CAST(counter AS TEXT), count(*) "
            "FROM impulse GROUP BY 1;\nSELECT u.name FROM counts JOIN users u ON counts.c = u.id",
            "'counts' is updating",
        ),
        ("SELECT u.name FROM impulse i JOIN users u ON i.nope = u.id", "key expression: .*nope"),
        (
            "SELECT u.name FROM (SELECT counter FROM impulse) i JOIN users u ON CAST(i.counter AS TEXT) = u.id",
            "must be a table",
        ),
        ("INSERT INTO users SELECT CAST(counter AS TEXT), 'x', 1 FROM impulse", "lookup table"),
    ],
)
def test_other_join_shapes_are_refused_clearly(query, message):
    with pytest.raises(PlanError, match=message):
        plan_query(IMPULSE + lookup_table("redis://127.0.0.1:6379") + query + ";")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (", 'lookup.cache.max_bytes' = 'lots'", "lookup.cache.max_bytes must be a positive number of bytes"),
        (", 'lookup.cache.ttl' = 'soon'", "lookup.cache.ttl: "),
    ],
)
def test_bad_cache_options_are_refused_when_planning(options, message):
    with pytest.raises(PlanError, match=message):
        plan_query(
            IMPULSE
            + lookup_table("redis://127.0.0.1:6379", options)
            + "SELECT u.name FROM impulse i JOIN users u ON CAST(i.counter AS TEXT) = u.id;"
        )


def test_other_formats_are_refused_for_lookup_tables():
    with pytest.raises(PlanError, match="reads format = 'json' or 'raw_string', not 'avro'"):
        plan_query(IMPULSE + lookup_table("redis://127.0.0.1:6379").replace("'json'", "'avro'") + "SELECT 1;")


def test_lookup_join_plans_to_its_own_node():
    program = plan_query(
        IMPULSE
        + lookup_table("redis://127.0.0.1:6379")
        + "SELECT u.name FROM impulse i JOIN users u ON CAST(i.counter AS TEXT) = u.id;"
    )
    assert [n.description for n in program.dag.nodes if n.operator.startswith("lookup_join")] == [
        "LookupJoin<users>"
    ]


def test_cache_is_bounded_and_expires():
    cache = LookupCache(max_bytes=300, ttl=10.0)
    for i in range(10):
        cache.put(f"k{i}", {"v": i}, now=0.0)
    assert (
        cache.bytes <= 300
        and cache.get("k9", 0.0) == (True, {"v": 9})
        and cache.get("k0", 0.0) == (False, None)
    )
    cache.put("gone", None, now=0.0)
    assert cache.get("gone", 5.0) == (True, None)  # a cached absence
    assert cache.get("gone", 11.0) == (False, None)  # older than the ttl: looked up again


def test_a_view_with_a_lookup_join_serves_two_queries(redis_server, users, tmp_path):
    out = tmp_path / "out.json"
    sql = (
        IMPULSE
        + lookup_table(redis_server.url)
        + "CREATE VIEW named AS SELECT i.counter, u.name FROM impulse i JOIN users u "
        "ON u.id = concat('u', CAST(i.counter AS TEXT));\n"
        f"CREATE TABLE out (name TEXT) WITH (connector = 'single_file', path = '{out}', format = 'json', "
        "type = 'sink');\n"
        "INSERT INTO out SELECT name FROM named WHERE counter = 2;\n"
        "SELECT counter, name FROM named;"
    )
    rec, _ = run_sql(sql)
    assert rec.ended == "finished", rec.errors
    assert sorted(rec.rows, key=lambda r: r["counter"]) == [
        {"counter": c, "name": f"user {c}"} for c in range(0, 10, 2)
    ]
    assert [json.loads(line) for line in out.read_text().splitlines()] == [{"name": "user 2"}]


def test_preview_through_the_embedded_server(fresh_server, redis_server, users):
    """What ``%%arroyo preview`` does: the Session previews the SQL on the embedded server."""
    from arroyo_jupyter.session import Session

    s = Session()
    s.connect(fresh_server.url)
    try:
        preview = s.preview(
            IMPULSE.replace("'1000'", "'100'")
            + lookup_table(redis_server.url)
            + "SELECT counter, name FROM impulse LEFT JOIN users ON users.id = concat('u', CAST(counter AS TEXT));",
            collect=20,
        )
        frame = preview.frame.astype(object).where(preview.frame.notna(), None)  # nulls as None
        rows = sorted(frame.to_dict("records"), key=lambda r: r["counter"])
    finally:
        s.disconnect()
    assert [r["counter"] for r in rows] == list(range(20))
    assert [r["name"] for r in rows[:10]] == [f"user {c}" if c % 2 == 0 else None for c in range(10)]
    assert all(r["name"] is None for r in rows[10:])


def test_a_value_that_does_not_fit_its_column_fails_clearly(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    r.set("1", json.dumps({"name": "x", "age": "not a number"}))
    r.close()
    sql = (
        IMPULSE
        + lookup_table(redis_server.url)
        + "SELECT u.age FROM impulse i JOIN users u ON CAST(i.counter AS TEXT) = u.id;"
    )
    rec, _ = run_sql(sql)
    assert rec.ended is not None and rec.ended.startswith("failed"), rec.ended
    assert "lookup table 'users': a value's 'age' does not fit int64" in rec.ended


def test_a_console_lookup_table_joins_in_a_pipeline(fresh_server, redis_server, users):
    """As Arroyo's console does it: a redis profile, a connection table of type Lookup, a query."""
    with httpx.Client(base_url=fresh_server.api_url, timeout=60) as api:
        profile = api.post(
            "/connection_profiles",
            json={"name": "r", "connector": "redis", "config": {"connection": {"address": redis_server.url}}},
        )
        assert profile.status_code == 200, profile.text
        table = api.post(
            "/connection_tables",
            json={
                "name": "people",
                "connector": "redis",
                "connection_profile_id": profile.json()["id"],
                "config": {"connectorType": {"lookup": {}}},
                "schema": {
                    "format": {"json": {}},
                    "fields": [
                        {"name": "id", "type": "string", "required": True, "metadata_key": "key"},
                        {"name": "name", "type": "string", "required": False},
                    ],
                    "primary_keys": ["id"],
                },
            },
        )
        assert table.status_code == 200, table.text
        assert table.json()["table_type"] == "lookup"
        query = (
            "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100', message_count = '4');\n"
            "SELECT counter, p.name FROM impulse JOIN people p ON p.id = concat('u', CAST(counter AS TEXT));"
        )
        checked = api.post("/pipelines/validate_query", json={"query": query})
        assert checked.status_code == 200 and not checked.json().get("errors"), checked.text
    from arroyo_jupyter.session import Session

    s = Session()
    s.connect(fresh_server.url)
    try:
        frame = s.preview(query, collect=2).frame[["counter", "name"]]
    finally:
        s.disconnect()
    assert sorted(frame.to_dict("records"), key=lambda r: r["counter"]) == [
        {"counter": 0, "name": "user 0"},
        {"counter": 2, "name": "user 2"},
    ]


def test_the_cache_reads_each_key_from_redis_once(redis_server, users):
    users.config_resetstat()
    sql = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '2000', message_count = '400');\n"
        + lookup_table(
            redis_server.url, ", 'lookup.cache.max_bytes' = '100000', 'lookup.cache.ttl' = '1 hour'"
        )
        + "SELECT counter, name FROM impulse LEFT JOIN users ON users.id = concat('u', CAST(counter % 10 AS TEXT));"
    )
    rec, _ = run_sql(sql)
    assert rec.ended == "finished", rec.errors
    assert len(rec.rows) == 400 and {r["name"] for r in rec.rows} == {
        f"user {i}" for i in range(0, 10, 2)
    } | {None}
    stats = users.info("stats")
    assert stats["keyspace_hits"] + stats["keyspace_misses"] == 10  # 10 distinct keys, each read once


def test_two_lookup_joins_in_a_row(redis_server, users):
    users.set("user 4", json.dumps({"city": "Lyon"}))
    sql = (
        IMPULSE
        + lookup_table(redis_server.url)
        + "CREATE TEMPORARY TABLE cities (person TEXT METADATA FROM 'key' PRIMARY KEY, city TEXT) WITH ("
        f"connector = 'redis', address = '{redis_server.url}', format = 'json');\n"
        "SELECT i.counter, u.name, c.city FROM impulse i JOIN users u ON u.id = concat('u', CAST(i.counter AS TEXT)) "
        "LEFT JOIN cities c ON c.person = u.name;"
    )
    program = plan_query(sql)
    assert [n.description for n in program.dag.nodes if n.operator.startswith("lookup_join")] == [
        "LookupJoin<users>",
        "LookupJoin<cities>",
    ]
    rec, _ = run_sql(sql)
    assert rec.ended == "finished", rec.errors
    assert sorted(rec.rows, key=lambda r: r["counter"]) == [
        {"counter": c, "name": f"user {c}", "city": "Lyon" if c == 4 else None} for c in range(0, 10, 2)
    ]


def test_raw_string_values_are_kept_whole(redis_server):
    r = redis.Redis.from_url(redis_server.url)
    r.set("1", '{"looks": "like json"}')
    r.set("2", "plain words")
    r.close()
    sql = (
        IMPULSE + "CREATE TEMPORARY TABLE t (k TEXT METADATA FROM 'key' PRIMARY KEY, value TEXT) WITH ("
        f"connector = 'redis', address = '{redis_server.url}', format = 'raw_string');\n"
        "SELECT counter, t.value FROM impulse JOIN t ON CAST(counter AS TEXT) = t.k;"
    )
    rec, _ = run_sql(sql)
    assert rec.ended == "finished", rec.errors
    assert sorted(rec.rows, key=lambda r: r["counter"]) == [
        {"counter": 1, "value": '{"looks": "like json"}'},
        {"counter": 2, "value": "plain words"},
    ]


def test_stop_with_checkpoint_and_restore_at_another_parallelism(redis_server, users, tmp_path):
    sql = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\n"
        + lookup_table(redis_server.url)
        + "SELECT counter, subtask_index, name FROM impulse LEFT JOIN users "
        "ON users.id = concat('u', CAST(counter % 10 AS TEXT));"
    )
    runs = []
    for parallelism in (1, 2):
        rec = Recorder()
        job = start_job(
            plan_query(sql, parallelism=parallelism),
            state_dir=str(tmp_path),
            listener=rec,
            checkpoint_interval_s=0.5,
        )
        try:
            wait_until(
                lambda rec=rec: len(rec.rows) >= 20 and any(r["subtask_index"] == 0 for r in rec.rows),
                what="joined rows (from subtask 0 too)",
            )
            job.checkpoint(stop=True)
            assert job.join(60), "the job did not stop"
        finally:
            job.stop("immediate")
            job.join(30)
        assert rec.ended == "stopped", (rec.ended, rec.errors)
        runs.append(rec.rows)
    for row in runs[0] + runs[1]:
        assert row["name"] == (f"user {row['counter'] % 10}" if row["counter"] % 2 == 0 else None), row
    # subtask 0 of the restored job went on from its checkpoint (impulse's offsets)
    assert min(r["counter"] for r in runs[1] if r["subtask_index"] == 0) > max(r["counter"] for r in runs[0])
