"""``arroyo-jupyter serve`` as a user runs it: a separate process, Ctrl-C stops it cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx


def test_serve_runs_until_interrupted(tmp_path):
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
            "--api-key",
            "k3y",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # "Arroyo API on http://127.0.0.1:PORT/api/v1 ..."
        match = re.search(r"(http://127\.0\.0\.1:\d+/api/v1)", line)
        assert match, line + proc.stderr.read()
        api = match.group(1)
        assert httpx.get(api + "/ping").status_code == 401
        assert httpx.get(api + "/ping", headers={"Authorization": "Bearer k3y"}).json() == "Pong"
        assert "k3y" not in line
        assert (tmp_path / "arroyo.sqlite").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
