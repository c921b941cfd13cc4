"""The kafka connector against a real Kafka-protocol broker (Tansu): rows round-trip through
SQL, metadata columns, formats, bad data, offsets in checkpoints (stop → resume exactly once,
also at another parallelism) and clear errors when the broker is down or goes away."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from brokers import wait_until
from engine_helpers import Recorder, read_lines

from arroyo_jupyter.local.engine import plan_query, start_job
from arroyo_jupyter.local.engine.connectors import kafka as kafka_module


def topic(kafka, partitions: int = 1) -> str:
    return kafka.create_topic(f"t-{uuid.uuid4().hex[:10]}", partitions)


def source_sql(bootstrap: str, name: str, t: str, columns: str, fmt: str = "json", extra: str = "") -> str:
    return (
        f"CREATE TABLE {name} ({columns}) WITH (connector = 'kafka', bootstrap_servers = '{bootstrap}', "
        f"topic = '{t}', format = '{fmt}', type = 'source', 'source.offset' = 'earliest'{extra});\n"
    )


def sink_sql(bootstrap: str, name: str, t: str, fmt: str = "json", extra: str = "") -> str:
    return (
        f"CREATE TABLE {name} WITH (connector = 'kafka', bootstrap_servers = '{bootstrap}', topic = '{t}', "
        f"format = '{fmt}', type = 'sink'{extra});\n"
    )


_RUNNING: list[Any] = []


@pytest.fixture(autouse=True)
def _stop_jobs():
    yield
    while _RUNNING:  # a failed test leaves no job (and no Kafka client) behind
        job = _RUNNING.pop()
        job.stop("immediate")
        job.join(30)


class Run:
    """A job of the real engine with a recorder; stopped at the end of the test."""

    def __init__(self, sql: str, state_dir: Path | None, parallelism: int = 1, **kwargs: Any):
        self.recorder = Recorder()
        if state_dir is not None:
            kwargs.setdefault("checkpoint_interval_s", 0.5)  # the file sink flushes at checkpoints
        self.job = start_job(
            plan_query(sql, parallelism=parallelism),
            state_dir=str(state_dir) if state_dir else None,
            listener=self.recorder,
            **kwargs,
        )
        _RUNNING.append(self.job)

    def stop_with_checkpoint(self) -> None:
        self.job.checkpoint(stop=True)
        assert self.job.join(60), "job did not stop"
        assert self.recorder.ended == "stopped", (self.recorder.ended, self.recorder.errors)

    def stop(self) -> None:
        self.job.stop("immediate")
        assert self.job.join(60)

    def wait_failed(self, timeout: float = 60.0) -> str:
        assert self.job.join(timeout), "job did not fail"
        assert self.recorder.ended and self.recorder.ended.startswith("failed"), self.recorder.ended
        return self.recorder.errors[-1][2]


ORDERS = [{"id": i, "customer": f"c{i % 7}", "amount": i * 1.5} for i in range(200)]


def test_rows_round_trip_kafka_to_kafka_through_a_filter(kafka, tmp_path):
    src, dst = topic(kafka, 3), topic(kafka, 2)
    kafka.produce(src, [json.dumps(o).encode() for o in ORDERS], partition=lambda i: i % 3)
    sql = (
        source_sql(kafka.bootstrap, "orders", src, "id BIGINT, customer TEXT, amount DOUBLE")
        + sink_sql(kafka.bootstrap, "big", dst)
        + "INSERT INTO big SELECT id, customer, amount FROM orders WHERE amount >= 150;"
    )
    run = Run(sql, tmp_path / "state", parallelism=2)
    expected = [o for o in ORDERS if o["amount"] >= 150]
    got = kafka.read(dst, len(expected))
    run.stop_with_checkpoint()
    assert sorted((json.loads(m.value()) for m in got), key=lambda r: r["id"]) == expected
    assert run.recorder.errors == []


def test_metadata_columns_and_event_time_from_the_message(kafka):
    t = topic(kafka, 2)
    kafka.produce(
        t,
        [json.dumps({"name": f"n{i}"}).encode() for i in range(10)],
        keys=[f"k{i}".encode() for i in range(10)],
        partition=lambda i: i % 2,
    )
    sql = source_sql(
        kafka.bootstrap,
        "users",
        t,
        "name TEXT, off BIGINT METADATA FROM 'offset_id', tp TEXT METADATA FROM 'topic', "
        "p INT METADATA FROM 'partition', k BYTEA METADATA FROM 'key', ts BIGINT METADATA FROM 'timestamp'",
    )
    sql += "SELECT name, off, tp, p, k, ts FROM users;"
    run = Run(sql, None, parallelism=2)
    rows = wait_until(
        lambda: len(run.recorder.rows) >= 10 and list(run.recorder.rows), what="10 preview rows"
    )
    run.stop()
    by_name = {r["name"]: r for r in rows}
    assert sorted(by_name) == sorted(f"n{i}" for i in range(10))
    for i in range(10):
        r = by_name[f"n{i}"]
        assert (r["p"], r["off"], r["tp"], r["k"]) == (i % 2, i // 2, t, f"k{i}".encode())
        assert abs(r["ts"] / 1000 - time.time()) < 120
    # event time is the message's timestamp (ms → the engine's µs)
    assert all(abs(ts / 1e6 - time.time()) < 120 for ts in run.recorder.timestamps)


def test_raw_string_in_and_raw_string_out(kafka):
    src, dst = topic(kafka), topic(kafka)
    lines = ["hello", "wörld", "x,y"]
    kafka.produce(src, [s.encode() for s in lines])
    sql = (
        source_sql(kafka.bootstrap, "lines", src, "value TEXT", fmt="raw_string")
        + sink_sql(kafka.bootstrap, "upper_lines", dst, fmt="raw_string")
        + "INSERT INTO upper_lines SELECT upper(value) FROM lines;"
    )
    run = Run(sql, None)
    got = kafka.read(dst, 3)
    run.stop()
    assert [m.value().decode() for m in got] == [s.upper() for s in lines]


def test_raw_string_needs_one_value_column():
    with pytest.raises(Exception, match="value TEXT"):
        plan_query(source_sql("127.0.0.1:1", "x", "t", "line TEXT", fmt="raw_string") + "SELECT * FROM x;")


def test_bad_data_drop_reports_and_goes_on(kafka):
    t = topic(kafka)
    kafka.produce(t, [b'{"id": 1}', b"not json", b'{"id": "two"}', b'{"id": 3}'])
    run = Run(
        source_sql(kafka.bootstrap, "s", t, "id BIGINT", extra=", bad_data = 'drop'") + "SELECT id FROM s;",
        None,
    )
    wait_until(
        lambda: len(run.recorder.rows) >= 2 and len(run.recorder.errors) >= 2, what="2 rows and 2 errors"
    )
    run.stop()
    assert [r["id"] for r in run.recorder.rows] == [1, 3]
    messages = [e[2] for e in run.recorder.errors]
    assert all(f"{t}/0 offset" in m for m in messages), messages


def test_bad_data_fail_fails_the_job_naming_the_message(kafka):
    t = topic(kafka)
    kafka.produce(t, [b'{"id": 1}', b"not json"])
    run = Run(source_sql(kafka.bootstrap, "s", t, "id BIGINT") + "SELECT id FROM s;", None)
    message = run.wait_failed()
    assert f"{t}/0 offset 1" in message and "bad_data = 'drop'" in message


def test_debezium_json_source_feeds_an_updating_query(kafka):
    t = topic(kafka)
    changes = [
        {"before": None, "after": {"id": 1, "n": 10}, "op": "c"},
        {"before": None, "after": {"id": 2, "n": 5}, "op": "c"},
        {"before": {"id": 1, "n": 10}, "after": {"id": 1, "n": 20}, "op": "u"},
        {"before": {"id": 2, "n": 5}, "after": None, "op": "d"},
    ]
    kafka.produce(t, [json.dumps(c).encode() for c in changes])
    sql = source_sql(kafka.bootstrap, "d", t, "id INT PRIMARY KEY, n INT", fmt="debezium_json")
    run = Run(sql + "SELECT sum(n) AS total FROM d;", None)

    def final():
        rows = list(run.recorder.rows)
        return rows and rows[-1]["after"] == {"total": 20} and rows

    wait_until(final, what="sum 20 after the changes")
    run.stop()


def test_stop_with_checkpoint_and_restore_at_another_parallelism_read_each_record_once(kafka, tmp_path):
    src = topic(kafka, 4)
    out = tmp_path / "out.jsonl"
    state = tmp_path / "state"
    sql = (
        source_sql(kafka.bootstrap, "events", src, "id BIGINT")
        + f"CREATE TABLE o WITH (connector = 'single_file', path = '{out}', format = 'json', type = 'sink');\n"
        + "INSERT INTO o SELECT id FROM events;"
    )
    kafka.produce(src, [json.dumps({"id": i}).encode() for i in range(100)], partition=lambda i: i % 4)
    run = Run(sql, state, parallelism=2)
    wait_until(lambda: out.exists() and len(read_lines(out)) >= 100, what="100 rows in the file")
    run.stop_with_checkpoint()

    kafka.produce(src, [json.dumps({"id": i}).encode() for i in range(100, 160)], partition=lambda i: i % 4)
    run = Run(sql, state, parallelism=3)  # restored: partitions move to other subtasks
    wait_until(lambda: len(read_lines(out)) >= 160, what="160 rows in the file")
    # rows read after the last checkpoint, then an immediate stop (no checkpoint): the restored
    # job rolls the exactly-once file back and reads them again from the saved offsets
    run.job.checkpoint()
    wait_until(lambda: any(c.finish_time for c in run.recorder.checkpoints), what="a checkpoint")
    kafka.produce(src, [json.dumps({"id": i}).encode() for i in range(160, 200)], partition=lambda i: i % 4)
    wait_until(lambda: len(read_lines(out)) >= 200, what="200 rows in the file")
    run.stop()

    run = Run(sql, state, parallelism=1)
    kafka.produce(src, [json.dumps({"id": i}).encode() for i in range(200, 220)], partition=lambda i: i % 4)
    wait_until(lambda: len(read_lines(out)) >= 220, what="220 rows in the file")
    run.stop_with_checkpoint()
    ids = [r["id"] for r in read_lines(out)]
    assert sorted(ids) == list(range(220)), "every record exactly once"


def test_exactly_once_sink_commits_at_checkpoints(kafka, tmp_path):
    src, dst = topic(kafka), topic(kafka)
    kafka.produce(src, [json.dumps({"id": i}).encode() for i in range(30)])
    sql = (
        source_sql(kafka.bootstrap, "s", src, "id BIGINT")
        + sink_sql(
            kafka.bootstrap, "d", dst, extra=", 'sink.commit_mode' = 'exactly_once', 'sink.key_field' = 'id'"
        )
        + "INSERT INTO d SELECT id FROM s;"
    )
    run = Run(sql, tmp_path / "state")
    wait_until(
        lambda: (
            run.job.metrics()
            and sum(c.messages_recv for subs in run.job.metrics().values() for c in subs.values()) > 0
        ),
        what="rows flowing",
    )
    run.stop_with_checkpoint()  # the checkpoint commits the transaction
    got = kafka.read(dst, 30, committed=True)
    assert sorted(json.loads(m.value())["id"] for m in got) == list(range(30))
    assert {m.key() for m in got} == {str(i).encode() for i in range(30)}


def test_broker_down_at_start_fails_with_the_host_and_what_to_check(monkeypatch):
    monkeypatch.setattr(kafka_module, "CONNECT_TIMEOUT_S", 1.0)
    from brokers import free_port

    where = f"127.0.0.1:{free_port()}"  # nothing listens there
    run = Run(source_sql(where, "s", "t", "id BIGINT") + "SELECT id FROM s;", None)
    message = run.wait_failed()
    assert f"cannot reach Kafka at {where}" in message and "check that a Kafka broker is running" in message


def test_missing_topic_is_named(kafka):
    run = Run(source_sql(kafka.bootstrap, "s", "no-such-topic", "id BIGINT") + "SELECT id FROM s;", None)
    assert "topic 'no-such-topic' does not exist" in run.wait_failed()


def test_broker_going_away_mid_run_fails_the_job_with_a_clear_error(own_kafka, monkeypatch):
    monkeypatch.setattr(kafka_module, "BROKERS_DOWN_GRACE_S", 1.0)
    t = topic(own_kafka)
    own_kafka.produce(t, [b'{"id": 1}'])
    run = Run(source_sql(own_kafka.bootstrap, "s", t, "id BIGINT") + "SELECT id FROM s;", None)
    wait_until(lambda: run.recorder.rows, what="the first row")
    own_kafka.stop()
    message = run.wait_failed(timeout=90)
    assert f"lost the connection to Kafka at {own_kafka.bootstrap}" in message
    assert "no rows are lost" in message


AVRO_SCHEMA = {
    "type": "record",
    "name": "Order",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "customer", "type": "string"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    ],
}


def test_avro_raw_datums_with_an_inline_schema(kafka):
    import io

    import fastavro

    t = topic(kafka)
    parsed = fastavro.parse_schema(AVRO_SCHEMA)
    payloads = []
    for i in range(5):
        out = io.BytesIO()
        fastavro.schemaless_writer(
            out, parsed, {"id": i, "customer": f"c{i}", "at": 1_700_000_000_000_000 + i}
        )
        payloads.append(out.getvalue())
    kafka.produce(t, payloads + [b"\xff\xff"])
    schema_text = json.dumps(AVRO_SCHEMA).replace("'", "''")
    sql = source_sql(
        kafka.bootstrap,
        "orders",
        t,
        "id BIGINT, customer TEXT, at TIMESTAMP",
        fmt="avro",
        extra=f", 'avro.raw_datums' = 'true', 'avro.schema' = '{schema_text}', bad_data = 'drop'",
    )
    run = Run(sql + "SELECT id, customer, at FROM orders;", None)
    wait_until(lambda: len(run.recorder.rows) >= 5 and run.recorder.errors, what="5 rows and the bad one")
    run.stop()
    assert [(r["id"], r["customer"]) for r in run.recorder.rows] == [(i, f"c{i}") for i in range(5)]
    assert "not an Avro datum" in run.recorder.errors[0][2]


def test_avro_through_a_schema_registry_round_trips(kafka, schema_registry, tmp_path):
    src, mid = topic(kafka), topic(kafka)
    kafka.produce(src, [json.dumps(o).encode() for o in ORDERS[:20]])
    registry = f", 'schema_registry.endpoint' = '{schema_registry.url}'"
    write = (
        source_sql(kafka.bootstrap, "orders", src, "id BIGINT, customer TEXT, amount DOUBLE")
        + sink_sql(kafka.bootstrap, "avro_out", mid, fmt="avro", extra=registry)
        + "INSERT INTO avro_out SELECT id, customer, amount FROM orders;"
    )
    run = Run(write, tmp_path / "state")
    written = kafka.read(mid, 20)
    run.stop_with_checkpoint()
    assert all(m.value()[:1] == b"\0" for m in written), "Confluent framing"
    assert list(schema_registry.subjects) == [f"{mid}-value"]

    read = (
        source_sql(
            kafka.bootstrap,
            "back",
            mid,
            "id BIGINT, customer TEXT, amount DOUBLE",
            fmt="avro",
            extra=registry,
        )
        + "SELECT id, customer, amount FROM back;"
    )
    run = Run(read, None)
    rows = wait_until(lambda: len(run.recorder.rows) >= 20 and list(run.recorder.rows), what="20 avro rows")
    run.stop()
    assert sorted(rows, key=lambda r: r["id"]) == ORDERS[:20]


def test_avro_registry_down_names_it(kafka):
    t = topic(kafka)
    kafka.produce(t, [b"\0\0\0\0\1\2"])
    sql = source_sql(
        kafka.bootstrap,
        "s",
        t,
        "id BIGINT",
        fmt="avro",
        extra=", 'schema_registry.endpoint' = 'http://127.0.0.1:1'",
    )
    run = Run(sql + "SELECT id FROM s;", None)
    assert "cannot reach the schema registry at http://127.0.0.1:1" in run.wait_failed()


def test_group_offsets_are_committed_at_checkpoints_and_latest_skips_old_records(kafka, tmp_path):
    t = topic(kafka, 2)
    kafka.produce(t, [json.dumps({"id": i}).encode() for i in range(10)], partition=lambda i: i % 2)
    group = f"g-{uuid.uuid4().hex[:6]}"
    sql = (
        source_sql(kafka.bootstrap, "s", t, "id BIGINT", extra=f", 'source.group_id' = '{group}'")
        + "SELECT id FROM s;"
    )
    run = Run(sql, tmp_path / "one")
    wait_until(lambda: len(run.recorder.rows) >= 10, what="10 rows")
    run.stop_with_checkpoint()  # its offsets go to the consumer group too

    kafka.produce(
        t,
        [json.dumps({"id": i}).encode() for i in range(10, 14)],
        partition=lambda i: i % 2,
        one_per_batch=True,
    )
    by_group = sql.replace("'source.offset' = 'earliest'", "'source.offset' = 'group'")
    run = Run(by_group, tmp_path / "two")  # no saved state: the group's offsets say where to start
    wait_until(lambda: len(run.recorder.rows) >= 4, what="the 4 new rows")
    run.stop()
    assert sorted(r["id"] for r in run.recorder.rows) == [10, 11, 12, 13]

    latest = sql.replace("'source.offset' = 'earliest'", "'source.offset' = 'latest'").replace(
        group, group + "x"
    )
    run = Run(latest, tmp_path / "three")
    # 'latest' is resolved when the source opens; a completed checkpoint says it has
    wait_until(lambda: any(c.finish_time for c in run.recorder.checkpoints), what="a checkpoint")
    kafka.produce(t, [json.dumps({"id": 99}).encode()])
    wait_until(lambda: run.recorder.rows, what="the new record")
    run.stop()
    assert [r["id"] for r in run.recorder.rows] == [99]


def test_updating_query_into_a_debezium_json_sink(kafka):
    from engine_helpers import fold_debezium

    dst = topic(kafka)
    sql = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000', message_count = '30');\n"
        + sink_sql(kafka.bootstrap, "counts", dst, fmt="debezium_json")
        + "INSERT INTO counts SELECT counter % 3 AS k, count(*) AS n FROM impulse GROUP BY counter % 3;"
    )
    run = Run(sql, None, parallelism=3)  # more subtasks than the topic's one partition is fine for a sink
    assert run.job.join(60) and run.recorder.ended == "finished", run.recorder.errors
    final = [{"k": 0, "n": 30}, {"k": 1, "n": 30}, {"k": 2, "n": 30}]

    def folded() -> bool:  # every change is in the topic once the job finished; read them all
        changes = [json.loads(m.value()) for m in kafka.read(dst, 10_000, timeout=0.5)]
        return fold_debezium(changes) == final

    wait_until(folded, timeout=30, what="the changes to fold to the final counts")
