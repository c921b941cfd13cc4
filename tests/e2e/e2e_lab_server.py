"""Start one Jupyter server (JupyterLab + Notebook 7 front-ends) on 127.0.0.1 for the tests.

One ``jupyter lab`` process serves both UIs: ``/lab/tree/NB.ipynb`` (JupyterLab) and
``/notebooks/NB.ipynb`` (Notebook 7, installed alongside). Token and password are
empty because it binds loopback only and lives for one test session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    url: str  # e.g. http://127.0.0.1:8890
    root_dir: Path
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def shutdown_kernels(self) -> None:
        """End every kernel session (a test's notebook must not leak into the next test)."""
        for session in httpx.get(f"{self.url}/api/sessions", timeout=10).json():
            httpx.delete(f"{self.url}/api/sessions/{session['id']}", timeout=30)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server's process group (server + its kernels), SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        pgid = os.getpgid(self.process.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(timeout=5)
        # Kernels run in the same group; make sure none outlives the server.
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_lab_server(root_dir: Path, env: dict[str, str], log_path: Path, timeout: float = 90.0) -> LabServer:
    """Start ``jupyter lab`` serving ``root_dir``; return once ``/api/status`` answers."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--port-retries=0",
        "--ServerApp.ip=127.0.0.1",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
        # widget pumps send while the kernel idles; keep the rate limiter from eating them
        "--ServerApp.iopub_msg_rate_limit=10000",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the child for its lifetime
    process = subprocess.Popen(
        cmd, cwd=root_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    server = LabServer(f"http://127.0.0.1:{port}", root_dir, process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/api/status", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    server.stop()
    raise TimeoutError(f"jupyter lab did not answer within {timeout:.0f} s:\n{server.log_tail()}")
