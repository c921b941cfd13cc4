"""Redis lookup join: the engine joining a stream with values looked up in a real redis-server.

- redis_lookup: a bounded impulse (``n`` rows) → ``JOIN users u ON u.id = CAST(counter % 10000
  AS TEXT)`` (10,000 JSON values in Redis, every key present) → blackhole, timed from
  ``start_job`` until the job finished (parallelism 1, no cache). Baseline: redis-py's own loop
  over the same keys — per 1,000 rows, ``MGET`` of the distinct keys and a JSON decode of each
  value — the round trips the operator cannot avoid.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from ._harness import Figure, alternate, emit, median, run_worker

SIZES = {"tiny": 20_000, "full": 500_000}
KEYS = 10_000
BATCH = 1_000


def run(size: str, runs: int) -> list[Figure]:
    n = SIZES[size]
    eng, base = alternate(
        runs,
        lambda: run_worker("lookup", ["engine", str(n)]),
        lambda: run_worker("lookup", ["client", str(n)]),
    )
    rate, brate = [r["events_per_s"] for r in eng], [r["events_per_s"] for r in base]
    return [
        Figure(
            "lookup.redis_lookup_join.events_per_s",
            median(rate),
            "events/s",
            median(brate),
            "events/s",
            f"redis-py's own MGET + JSON decode of the same {n} keys, {BATCH} rows per round trip",
            samples=rate,
            baseline_samples=brate,
        )
    ]


def _redis():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "connectors"))
    import redis
    from brokers import RedisServer

    server = RedisServer(Path(tempfile.mkdtemp(prefix="bench-redis-")))
    r = redis.Redis.from_url(server.url)
    pipe = r.pipeline(transaction=False)
    for i in range(KEYS):
        pipe.set(str(i), json.dumps({"name": f"user {i}", "age": i % 90}))
    pipe.execute()
    return server, r


class _Ended:
    """A JobListener that keeps only why the job failed (None: it did not)."""

    failed: str | None = None

    def __getattr__(self, name: str):
        return lambda *args: None

    def on_failed(self, reason: str) -> None:
        self.failed = reason


def _engine(n: int) -> dict:
    from arroyo_jupyter.local.engine import plan_query, start_job

    server, r = _redis()
    try:
        sql = (
            f"CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100000000', message_count = '{n}');\n"
            "CREATE TEMPORARY TABLE users (id TEXT METADATA FROM 'key' PRIMARY KEY, name TEXT, age BIGINT) WITH ("
            f"connector = 'redis', address = '{server.url}', format = 'json');\n"
            "CREATE TABLE out WITH (connector = 'blackhole');\n"
            f"INSERT INTO out SELECT counter, u.name, u.age FROM impulse JOIN users u "
            f"ON u.id = CAST(counter % {KEYS} AS TEXT);"
        )
        program = plan_query(sql, parallelism=1)
        t0 = time.perf_counter()
        ended = _Ended()
        job = start_job(program, state_dir=None, listener=ended)
        if not job.join(600) or ended.failed:
            raise RuntimeError(f"the lookup-join job did not finish: {ended.failed}")
        elapsed = time.perf_counter() - t0
    finally:
        r.close()
        server.stop()
    return {"events_per_s": n / elapsed}


def _client(n: int) -> dict:
    server, r = _redis()
    try:
        t0 = time.perf_counter()
        for start in range(0, n, BATCH):
            keys = list({str(i % KEYS) for i in range(start, min(n, start + BATCH))})
            values = [json.loads(v) for v in r.mget(keys)]
            assert len(values) == len(keys)
        elapsed = time.perf_counter() - t0
    finally:
        r.close()
        server.stop()
    return {"events_per_s": n / elapsed}


def worker(argv: list[str]) -> None:
    mode, n = argv[0], int(argv[-1])
    emit(_engine(n) if mode == "engine" else _client(n))


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(sys.argv[2:])
