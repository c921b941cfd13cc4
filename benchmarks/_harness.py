"""What every benchmark shares: figures, the line format, medians, workers in subprocesses.

A benchmark module exposes ``run(size, runs) -> list[Figure]``. Anything whose state
matters (a decoder's caches, a server, a browser) is measured in a fresh subprocess
started with :func:`run_worker`, which runs ``python -m benchmarks.<module> worker …``
and reads back the one JSON object it prints last.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZES = ("tiny", "full")
# One printed line per figure; RESULTS.md and the smoke test parse this back.
LINE_RE = re.compile(
    r"^(?P<name>[\w.\-]+): (?P<value>-?[\d.]+(?:e[+-]?\d+)?) (?P<unit>\S+) "
    r"\(baseline: (?P<baseline>-?[\d.]+(?:e[+-]?\d+)?) (?P<baseline_unit>\S+), ratio: (?P<ratio>-?[\d.]+(?:e[+-]?\d+)?|inf|nan)\)$"
)


@dataclass
class Figure:
    """One measured figure beside its baseline (measured in the same run).

    ``ratio`` is value / baseline. ``target`` says in words what "met" means;
    ``met`` is None when there is no target or it could not be judged.
    """

    name: str
    value: float
    unit: str
    baseline: float
    baseline_unit: str
    baseline_what: str
    target: str = ""
    met: bool | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        if self.baseline == 0:
            return math.inf if self.value else math.nan
        return self.value / self.baseline

    def line(self) -> str:
        return (
            f"{self.name}: {fmt(self.value)} {self.unit} "
            f"(baseline: {fmt(self.baseline)} {self.baseline_unit}, ratio: {fmt(self.ratio)})"
        )

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def fmt(x: float) -> str:
    """Three significant figures, no thousands separators (the line must parse back)."""
    if math.isinf(x) or math.isnan(x):
        return str(x)
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:.0f}"
    return f"{x:.3g}" if abs(x) >= 0.001 else f"{x:.3e}"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def judge(value: float, limit: float, higher_is_better: bool) -> bool:
    return value >= limit if higher_is_better else value <= limit


# ---------------------------------------------------------------- subprocess workers


class WorkerError(RuntimeError):
    pass


def run_worker(module: str, args: Sequence[str], *, timeout: float = 300, env: dict | None = None) -> dict:
    """Run ``python -m benchmarks.<module> worker ARGS`` fresh; return its last JSON line."""
    cmd = [sys.executable, "-m", f"benchmarks.{module}", "worker", *args]
    proc = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        raise WorkerError(
            f"{module} worker {' '.join(args)} failed (rc {proc.returncode}): " + " | ".join(tail)
        )
    return json.loads(lines[-1])


def emit(result: dict) -> None:
    """A worker's answer: one JSON line on stdout."""
    print(json.dumps(result), flush=True)


class Background:
    """A helper process (e.g. a server) that prints ``READY <port>`` when it listens."""

    def __init__(self, module: str, args: Sequence[str], *, ready_timeout: float = 60) -> None:
        cmd = [sys.executable, "-m", f"benchmarks.{module}", *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + ready_timeout
        self.port = 0
        self.info: list[str] = []
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("READY"):
                self.port = int(line.split()[1])
                self.info = line.split()[2:]  # anything else the helper reports
                return
        err = self.proc.stderr.read() if self.proc.stderr else ""
        self.stop()
        raise WorkerError(f"{module} did not start: {err.strip()[-500:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alternate(runs: int, *measures: Callable[[], Any]) -> list[list[Any]]:
    """Run each measure ``runs`` times, interleaved, so drift in load hits all alike."""
    out: list[list[Any]] = [[] for _ in measures]
    for _ in range(runs):
        for i, measure in enumerate(measures):
            out[i].append(measure())
    return out


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
