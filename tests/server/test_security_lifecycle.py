"""Robustness over a server's life: poisoned UDFs, checkpoint retention, `serve` signals,
flags and config file, and `connect --local` with its own generated key."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import httpx
from server_helpers import wait_for_state, wait_until

from arroyo_jupyter.local import start

IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '20');\n"
HEALTHY = IMPULSE + "SELECT counter FROM impulse"
POISON = "from arroyo_udf import udf\nraise RuntimeError('poisoned at load')\n"


def test_udf_without_decorator_is_refused(fresh_api):
    plain = "def plain(x: int) -> int:\n    return x\n"
    v = fresh_api.post("/udfs/validate", json={"definition": plain, "language": "python"}).json()
    assert v["udf_name"] is None and "@udf" in v["errors"][0]
    r = fresh_api.post("/udfs", json={"prefix": "", "definition": plain, "language": "python"})
    assert r.status_code == 400 and "@udf" in r.json()["error"]
    assert fresh_api.get("/udfs").json()["data"] == []
    r = fresh_api.post("/pipelines/preview", json={"query": HEALTHY, "udfs": [{"definition": plain}]})
    assert r.status_code == 400


def test_one_bad_saved_udf_never_breaks_pipelines_that_do_not_use_it(tmp_path):
    state = tmp_path / "state"
    with start(port=0, state_dir=state) as server:
        # as an older server would have saved it: the row is in the store, its code fails to load
        server.store.add_udf(
            {
                "id": "udf_poison",
                "prefix": "",
                "name": "poison",
                "language": "python",
                "definition": POISON,
                "description": None,
                "created_at": 1,
                "updated_at": 1,
            }
        )
        api = httpx.Client(base_url=server.api_url, timeout=30)
        r = api.post("/pipelines", json={"name": "healthy", "query": HEALTHY, "parallelism": 1})
        assert r.status_code == 200, r.text
        pid = r.json()["id"]
        wait_for_state(api, pid, "Running")
        preview = api.post("/pipelines/preview", json={"query": HEALTHY})
        assert preview.status_code == 200, preview.text
        assert api.post("/pipelines/validate_query", json={"query": HEALTHY}).json()["errors"] == []
        # a query that does call it is refused, and says why
        uses = api.post("/pipelines/preview", json={"query": IMPULSE + "SELECT poison(counter) FROM impulse"})
        assert uses.status_code == 400 and "poisoned at load" in uses.json()["error"]
        api.close()
    with start(port=0, state_dir=state) as server:  # the restart re-plans every running job
        api = httpx.Client(base_url=server.api_url, timeout=30)
        wait_for_state(api, pid, "Running")
        time.sleep(1.0)  # a failing plan would have moved it on by now
        assert api.get(f"/pipelines/{pid}/jobs").json()["data"][0]["state"] == "Running"
        api.patch(f"/pipelines/{pid}", json={"stop": "immediate"})
        wait_for_state(api, pid, "Stopped")
        api.close()


def test_checkpoint_rows_are_retained_and_the_list_is_bounded(tmp_path):
    with start(port=0, state_dir=tmp_path, checkpoints_to_keep=3) as server:
        api = httpx.Client(base_url=server.api_url, timeout=30)
        r = api.post(
            "/pipelines",
            json={"name": "cp", "query": HEALTHY, "parallelism": 1, "checkpoint_interval_micros": 1_000_000},
        )
        pid = r.json()["id"]
        jid = wait_for_state(api, pid, "Running")["id"]
        url = f"/pipelines/{pid}/jobs/{jid}/checkpoints"
        wait_until(lambda: (server.store.max_epoch(jid) or 0) >= 5, timeout=60, what="five checkpoints")
        data = api.get(url).json()["data"]
        epochs = [c["epoch"] for c in data]
        assert len(epochs) <= 3 and epochs == sorted(epochs), epochs
        assert max(epochs) >= 4  # the newest are kept
        assert len(server.store.checkpoints(jid)) <= 3  # the rows are gone, not just hidden
        assert len(api.get(url, params={"limit": 1}).json()["data"]) == 1
        api.patch(f"/pipelines/{pid}", json={"stop": "immediate"})
        wait_for_state(api, pid, "Stopped")
        api.close()


def _serve(tmp_path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "arroyo_jupyter.cli",
            "serve",
            "--port",
            "0",
            "--state-dir",
            str(tmp_path),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = proc.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+/api/v1)", line)
    assert match, line + proc.stderr.read()
    return proc, match.group(1)


def test_serve_stops_cleanly_on_sigterm(tmp_path):
    proc, api = _serve(tmp_path)
    try:
        r = httpx.post(api + "/pipelines", json={"name": "t", "query": HEALTHY, "parallelism": 1})
        with httpx.Client(base_url=api, timeout=30) as c:
            wait_for_state(c, r.json()["id"], "Running")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert "stopped" in proc.stdout.read()
    # the shutdown ran: the job is resumable, and a new server resumes it
    with start(port=0, state_dir=tmp_path) as server, httpx.Client(base_url=server.api_url, timeout=30) as c:
        wait_for_state(c, r.json()["id"], "Running")
        c.patch(f"/pipelines/{r.json()['id']}", json={"stop": "immediate"})
        wait_for_state(c, r.json()["id"], "Stopped")


def test_serve_reads_the_key_from_env_and_settings_from_flags_and_file(tmp_path):
    config = tmp_path / "server.toml"
    config.write_text("max_running_jobs = 5\npreview_ttl_s = 7.5\n")
    proc, api = _serve(
        tmp_path / "state",
        "--api-key-env",
        "MY_ARROYO_KEY",
        "--config",
        str(config),
        "--max-running-jobs",
        "1",
        env={"MY_ARROYO_KEY": "env-s3cret"},
    )
    try:
        cmdline = open(f"/proc/{proc.pid}/cmdline", "rb").read()
        assert b"env-s3cret" not in cmdline
        assert httpx.get(api + "/ping").status_code == 401
        auth = {"Authorization": "Bearer env-s3cret"}
        first = httpx.post(
            api + "/pipelines", json={"name": "a", "query": HEALTHY, "parallelism": 1}, headers=auth
        )
        assert first.status_code == 200
        second = httpx.post(
            api + "/pipelines", json={"name": "b", "query": HEALTHY, "parallelism": 1}, headers=auth
        )
        assert second.status_code == 400 and "max_running_jobs" in second.json()["error"]  # the flag won
        httpx.patch(api + f"/pipelines/{first.json()['id']}", json={"stop": "immediate"}, headers=auth)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    bad = subprocess.run(
        [sys.executable, "-m", "arroyo_jupyter.cli", "serve", "--api-key-env", "NOT_SET_ANYWHERE_X"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "NOT_SET_ANYWHERE_X"},
    )
    assert bad.returncode == 2 and "NOT_SET_ANYWHERE_X" in bad.stderr


def test_connect_local_uses_a_generated_key_never_shown(tmp_path, monkeypatch):
    from arroyo_jupyter import session

    monkeypatch.chdir(tmp_path)
    s = session.connect(local=True)
    try:
        key = s.server.config.api_key
        assert key and len(key) >= 32
        assert httpx.get(s.url + "/api/v1/ping").status_code == 401  # others need the key
        assert s.client.list_pipelines() is not None  # the session's client has it
        for text in (repr(s), repr(s.client), repr(s.server), repr(s.server.config)):
            assert key not in text
        roots = s.server.config.file_roots
        assert str(tmp_path) in roots and str(s.server.state_dir) in roots
    finally:
        session.disconnect()
