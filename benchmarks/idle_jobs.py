"""6. Idle and slow jobs: what 30 running jobs cost the API and the CPU.

An ``arroyo-jupyter serve`` process (flags ``--max-running-jobs``) runs N pipelines
``impulse → blackhole``; a fresh client then times ``GET /api/v1/pipelines`` (sequential
requests, 20 ms apart) and reads the server's CPU time from ``/proc``.

- idle: sources at 1 event/s; slow: 50 events/s (the issue's "one 50 ev/s job").
- Baseline: the same GET against the same server with the same N pipelines stopped
  (what listing N pipelines costs when no job competes for the interpreter).
- Target (issue 16): with 30 idle jobs, p50 < 20 ms.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time

from ._harness import ROOT, Figure, judge, median, wait_until

JOBS = {"tiny": 5, "full": 30}
REQUESTS = {"tiny": 40, "full": 200}


def _sql(rate: int) -> str:
    return (
        f"CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '{rate}');\n"
        "CREATE TABLE sink (counter BIGINT) WITH (connector = 'blackhole');\n"
        "INSERT INTO sink SELECT counter FROM impulse;"
    )


def _cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _p50_ms(client, n: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.get("/pipelines").raise_for_status()
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.02)
    return median(times), times


def _states(client) -> list[str]:
    return [j["state"] for j in client.get("/jobs").json()["data"]]


def _measure(size: str, rate: int) -> dict:
    import httpx

    n = JOBS[size]
    with tempfile.TemporaryDirectory(prefix="arroyo-bench-idle-") as state:
        cmd = [sys.executable, "-m", "arroyo_jupyter.cli", "serve", "--port", "0", "--state-dir", state,
               "--max-running-jobs", str(n + 5)]  # fmt: skip
        log = open(os.path.join(state, "server.log"), "w+")  # a pipe nobody reads could fill and stall it
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "Arroyo API on http://127.0.0.1:PORT/api/v1 ..."
            match = re.search(r"(http://127\.0\.0\.1:\d+/api/v1)", line)
            if not match:
                log.seek(0)
                raise RuntimeError(f"the server did not start: {line}{log.read()[-2000:]}")
            client = httpx.Client(base_url=match.group(1), timeout=60)
            ids = []
            for i in range(n):
                r = client.post(
                    "/pipelines", json={"name": f"idle_{i}", "query": _sql(rate), "parallelism": 1}
                )
                r.raise_for_status()
                ids.append(r.json()["id"])
            wait_until(lambda: _states(client).count("Running") == n, 120, f"{n} jobs Running")
            time.sleep(2)  # past start-up work
            cpu0, t0 = _cpu_s(proc.pid), time.monotonic()
            busy_p50, busy = _p50_ms(client, REQUESTS[size])
            cpu = (_cpu_s(proc.pid) - cpu0) / (time.monotonic() - t0)
            for pid in ids:
                client.patch(f"/pipelines/{pid}", json={"stop": "immediate"})
            wait_until(lambda: _states(client).count("Stopped") == n, 120, f"{n} jobs Stopped")
            quiet_p50, quiet = _p50_ms(client, REQUESTS[size])
            client.close()
        finally:
            proc.terminate()
            proc.communicate(timeout=60)
            log.close()
    return {"busy_p50": busy_p50, "quiet_p50": quiet_p50, "cpu": cpu, "n": n, "busy": busy, "quiet": quiet}


def run(size: str, runs: int) -> list[Figure]:
    figures = []
    for label, rate in (("idle", 1), ("slow", 50)):
        got = [_measure(size, rate) for _ in range(runs)]
        n = got[0]["n"]
        busy, quiet = [g["busy_p50"] for g in got], [g["quiet_p50"] for g in got]
        cpu = median([g["cpu"] for g in got])
        f = Figure(
            f"server.{label}_jobs.list_pipelines_p50",
            median(busy),
            "ms",
            median(quiet),
            "ms",
            f"the same GET /pipelines with the {n} pipelines stopped",
            target="< 20 ms" if label == "idle" else "",
            samples=busy,
            baseline_samples=quiet,
            note=f"{n} jobs at {rate} ev/s running; server CPU {cpu * 100:.0f} % of a core "
            f"({cpu * 100 / n:.1f} % per job)",
        )
        if label == "idle":
            f.met = judge(f.value, 20, False)
        figures.append(f)
    return figures
