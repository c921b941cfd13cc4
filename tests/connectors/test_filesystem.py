"""The filesystem connector on local directories: JSON (plain, gzip, zstd) and Parquet
sources with a regex, partitioned and rolled sinks whose files appear only at checkpoints
(exactly once), restore at another parallelism, bad data, and clear errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from engine_helpers import Recorder, read_lines, run_sql

from arroyo_jupyter.local.engine import PlanError, plan_query, start_job


def write_json_files(root: Path, n_files: int, per_file: int, compress: str | None = None) -> list[dict]:
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for f in range(n_files):
        chunk = [{"id": f * per_file + i, "kind": "ab"[i % 2], "v": float(i)} for i in range(per_file)]
        rows += chunk
        data = "".join(json.dumps(r) + "\n" for r in chunk).encode()
        if compress == "gzip":
            (root / f"part-{f:02d}.json.gz").write_bytes(gzip.compress(data))
        elif compress == "zstd":
            with pa.CompressedOutputStream(str(root / f"part-{f:02d}.json.zst"), "zstd") as out:
                out.write(data)
        else:
            (root / f"part-{f:02d}.json").write_bytes(data)
    return rows


def fs_source(name: str, root: Path, fmt: str = "json", extra: str = "") -> str:
    return (
        f"CREATE TABLE {name} (id BIGINT, kind TEXT, v DOUBLE) WITH (connector = 'filesystem', "
        f"path = '{root}', format = '{fmt}', type = 'source'{extra});\n"
    )


@pytest.mark.parametrize("compress", [None, "gzip", "zstd"])
def test_json_directory_with_regex_and_compression(tmp_path, compress):
    rows = write_json_files(tmp_path / "in", 3, 10, compress)
    (tmp_path / "in" / "notes.txt").write_text("not data\n")  # not matched by the regex
    comp = f", 'source.compression' = '{compress}'" if compress else ""
    sql = fs_source("events", tmp_path / "in", extra=f", 'source.regex_pattern' = '^part-.*json'{comp}")
    rec, _ = run_sql(sql + "SELECT id, kind, v FROM events;", parallelism=2)
    assert rec.ended == "finished", rec.errors
    assert sorted(rec.rows, key=lambda r: r["id"]) == rows


def test_parquet_source_aggregate_into_a_partitioned_parquet_sink(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for f in range(4):
        table = pa.table(
            {
                "id": pa.array(range(f * 100, f * 100 + 100), pa.int64()),
                "kind": pa.array(["a", "b", "c", "d"] * 25),
                "v": pa.array([1.0] * 100),
                "at": pa.array(
                    [1_700_000_000_000_000_000 + i * 1_000_000_000 for i in range(100)], pa.timestamp("ns")
                ),
            }
        )
        pq.write_table(table, src / f"{f:05d}-000.parquet")
    out = tmp_path / "out"
    source = (
        f"CREATE TABLE events (id BIGINT, kind TEXT, v DOUBLE, at TIMESTAMP, WATERMARK FOR at) WITH ("
        f"connector = 'filesystem', path = '{src}', format = 'parquet', type = 'source');\n"
    )
    sql = (
        source
        + f"CREATE TABLE counts (kind TEXT, n BIGINT, total DOUBLE) WITH (connector = 'filesystem', path = 'file://{out}', "
        "format = 'parquet', type = 'sink', 'partitioning.fields' = 'kind', 'filename.prefix' = 'counts');\n"
        "INSERT INTO counts SELECT kind, count(*) AS n, sum(v) AS total FROM events "
        "GROUP BY kind, tumble(interval '1 hour');"
    )
    rec, _ = run_sql(sql, parallelism=2)
    assert rec.ended == "finished", rec.errors
    files = sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*.parquet") if ".arroyo-staging" not in p.parts
    )
    assert files and all(
        f.split("/")[0].startswith("kind=") and f.split("/")[1].startswith("counts-") for f in files
    )
    final = {}
    for f in out.rglob("*.parquet"):
        if ".arroyo-staging" in f.parts:
            continue
        for r in pq.read_table(f).to_pylist():
            final[r["kind"]] = (r["n"], r["total"])
    assert final == {k: (100, 100.0) for k in "abcd"}
    updating = sql.replace("GROUP BY kind, tumble(interval '1 hour')", "GROUP BY kind")
    rec, _ = run_sql(updating)
    assert rec.ended.startswith("failed") and "append-only" in rec.ended


def test_sink_files_appear_at_checkpoints_and_restore_writes_each_row_once(tmp_path):
    out, state = tmp_path / "out", tmp_path / "state"
    sql = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '2000');\n"
        f"CREATE TABLE o (counter BIGINT) WITH (connector = 'filesystem', path = '{out}', format = 'json', "
        "type = 'sink', 'rolling_policy.file_size' = '2KB');\n"
        "INSERT INTO o SELECT counter FROM impulse;"
    )

    def committed() -> list[int]:
        return [r["counter"] for f in sorted(out.glob("*.json")) for r in read_lines(f)]

    rec = Recorder()
    job = start_job(plan_query(sql), state_dir=str(state), listener=rec, checkpoint_every_batches=5)
    _wait(lambda: len(committed()) > 500 and rec.checkpoints)
    job.stop("immediate")  # rows after the last checkpoint stay in staging: not committed
    assert job.join(30)
    before = committed()
    assert sorted(before) == list(range(len(before))), "only whole checkpoints are visible"
    assert len(list(out.glob("*.json"))) > 1, "files rolled at 2 KB"

    rec = Recorder()
    job = start_job(plan_query(sql), state_dir=str(state), listener=rec, checkpoint_every_batches=5)
    _wait(lambda: len(committed()) > len(before) + 500)
    job.checkpoint(stop=True)
    assert job.join(30) and rec.ended == "stopped"
    after = committed()
    assert sorted(after) == list(range(len(after))), "each row exactly once across the restore"


def test_source_restored_at_another_parallelism_reads_each_row_once(tmp_path):
    rows = write_json_files(tmp_path / "in", 5, 40)
    out, state = tmp_path / "out.jsonl", tmp_path / "state"
    sql = (
        fs_source("events", tmp_path / "in")
        + f"CREATE TABLE o WITH (connector = 'single_file', path = '{out}', format = 'json', type = 'sink');\n"
        "INSERT INTO o SELECT id FROM events;"
    )
    rec = Recorder()
    job = start_job(
        plan_query(sql, parallelism=2),
        state_dir=str(state),
        listener=rec,
        batch_size=7,
        checkpoint_every_batches=4,
        stop_after_epoch=1,
    )  # stops half-way through
    assert job.join(60) and rec.ended == "stopped", rec.errors
    assert 0 < len(read_lines(out)) < len(rows)
    rec = Recorder()
    job = start_job(plan_query(sql, parallelism=3), state_dir=str(state), listener=rec, batch_size=7)
    assert job.join(60) and rec.ended == "finished", rec.errors
    assert sorted(r["id"] for r in read_lines(out)) == [r["id"] for r in rows]


def test_bad_json_lines_drop_or_fail(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a.json").write_text('{"id": 1, "kind": "a", "v": 1}\nnot json\n{"id": 2, "kind": "b", "v": 2}\n')
    rec, _ = run_sql(fs_source("e", d, extra=", bad_data = 'drop'") + "SELECT id FROM e;")
    assert [r["id"] for r in rec.rows] == [1, 2]
    assert any(f"line 2 of {d / 'a.json'}" in e[2] for e in rec.errors)
    rec, _ = run_sql(fs_source("e", d) + "SELECT id FROM e;")
    assert rec.ended.startswith("failed") and f"line 2 of {d / 'a.json'}" in rec.ended


def test_clear_errors(tmp_path):
    rec, _ = run_sql(fs_source("e", tmp_path / "missing") + "SELECT id FROM e;")
    assert rec.ended.startswith("failed") and "does not exist" in rec.ended
    rec, _ = run_sql(fs_source("e", "s3://bucket/x") + "SELECT id FROM e;")
    assert rec.ended.startswith("failed") and "local paths only" in rec.ended
    with pytest.raises(PlanError, match="format = 'json' or 'parquet'"):
        plan_query(fs_source("e", tmp_path, fmt="raw_string") + "SELECT id FROM e;")
    with pytest.raises(PlanError, match="rolling_policy|invalid size"):
        plan_query(
            fs_source("e", tmp_path) + "CREATE TABLE o WITH (connector = 'filesystem', path = '/tmp/x', "
            "format = 'json', type = 'sink', 'rolling_policy.file_size' = 'big');\nINSERT INTO o SELECT id FROM e;"
        )


def _wait(cond, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_server_serves_the_schema_and_tests_a_directory(fresh_server, tmp_path):
    import httpx

    write_json_files(tmp_path / "in", 2, 3)
    with httpx.Client(base_url=fresh_server.api_url, timeout=30) as api:
        fs = next(c for c in api.get("/connectors").json()["data"] if c["id"] == "filesystem")
        assert json.loads(fs["table_config"])["properties"]["source.regex_pattern"]
        table = {
            "name": "files",
            "connector": "filesystem",
            "config": {"path": str(tmp_path / "in"), "type": "source", "format": "json"},
            "schema": {
                "format": {"json": {}},
                "fields": [{"name": "id", "type": "int64", "required": False, "sql_name": "BIGINT"}],
            },
        }
        r = api.post("/connection_tables/test", json=table)
        messages = [json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:")]
        assert any("2 matching files" in m["message"] for m in messages), messages
        assert messages[-1]["done"] and not messages[-1]["error"]
        missing = {**table, "config": {**table["config"], "path": str(tmp_path / "nope")}}
        r = api.post("/connection_tables/test", json=missing)
        last = [json.loads(line[5:]) for line in r.text.splitlines() if line.startswith("data:")][-1]
        assert last["error"] and "does not exist" in last["message"]
        assert api.post("/connection_tables", json=table).status_code == 200
        created = api.post(
            "/pipelines", json={"name": "p", "parallelism": 1, "query": "SELECT id FROM files"}
        )
        assert created.status_code == 200, created.text


def test_delta_sink_commits_a_table_delta_rs_reads(tmp_path):
    deltalake = pytest.importorskip("deltalake", reason="deltalake (test extra) reads the table back")
    out, state = tmp_path / "table", tmp_path / "state"
    sql = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '5000', message_count = '300');\n"
        f"CREATE TABLE t (counter BIGINT, parity TEXT) WITH (connector = 'delta', path = '{out}', format = 'parquet', "
        "'partitioning.fields' = 'parity', 'rolling_policy.file_size' = '1KB');\n"
        "INSERT INTO t SELECT counter, CASE WHEN counter % 2 = 0 THEN 'even' ELSE 'odd' END AS parity FROM impulse;"
    )
    rec = Recorder()
    job = start_job(
        plan_query(sql, parallelism=2),
        state_dir=str(state),
        listener=rec,
        checkpoint_every_batches=2,
        batch_size=50,
    )
    assert job.join(60) and rec.ended == "finished", rec.errors
    table = deltalake.DeltaTable(str(out))
    rows = table.to_pyarrow_table().to_pylist()
    assert sorted(r["counter"] for r in rows) == sorted(list(range(300)) * 2), "each subtask's 300 rows once"
    assert {r["parity"] for r in rows} == {"even", "odd"}
    assert table.metadata().partition_columns == ["parity"]
    assert table.version() >= 1, "several checkpoints, several commits"


def test_filesystem_paths_are_confined_to_the_servers_file_roots(tmp_path):
    import httpx

    from arroyo_jupyter.local import start

    root = tmp_path / "data"
    write_json_files(root / "in", 1, 3)
    (root / "in" / "passwd.json").symlink_to("/etc/passwd")  # a link out of the root: skipped
    with start(port=0, state_dir=tmp_path / "state", file_roots=[str(root)]) as server:
        for connector, path in [
            ("filesystem", "/etc"),
            ("filesystem", f"file://{root}/../x"),
            ("delta", "/tmp/t"),
        ]:
            kind = "source" if connector == "filesystem" else "sink"
            query = (
                f"CREATE TABLE f (id BIGINT) WITH (connector = '{connector}', path = '{path}', format = "
                f"'{'json' if kind == 'source' else 'parquet'}', type = '{kind}');\n"
                + (
                    "SELECT id FROM f"
                    if kind == "source"
                    else "CREATE TABLE i WITH (connector = 'impulse', event_rate = '10');\n"
                    "INSERT INTO f SELECT counter AS id FROM i"
                )
            )
            r = httpx.post(server.api_url + "/pipelines/preview", json={"query": query})
            assert r.status_code == 400 and "outside the directories" in r.json()["error"], (path, r.text)
    rec, _ = run_sql(fs_source("e", root / "in") + "SELECT id FROM e;")
    assert rec.ended == "finished" and sorted(r["id"] for r in rec.rows) == [0, 1, 2]
