"""Each benchmark runs at a tiny size and prints its figures in the agreed line format.

These are smoke tests: they prove the suite runs end to end against the real parts
(client, server, engine, widget in Chromium, charts) and reports what the issue asks
for. They never assert a time or a ratio.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks._harness import LINE_RE

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "stream_decode": [
        f"stream_decode.batch{b}.{m}.{vs}"
        for b in (1, 100, 1000)
        for m in ("rows_per_s", "mb_per_s")
        for vs in ("vs_httpx_sse", "vs_in_memory")
    ],
    "charts": [
        f"charts.{c}.{m}" for c in ("timeline", "history", "metrics") for m in ("build_ms", "payload_bytes")
    ],
    "engine": [
        "engine.filter_projection.events_per_s",
        "engine.filter_projection.seconds",
        "engine.filter_projection.p2_events_per_s",
        "engine.tumble_1min_1000keys.events_per_s",
        "engine.tumble_1min_1000keys.peak_rss",
        "engine.tumble_1min_1000keys.rss_end",
        "engine.count_distinct_1000keys.rss_end",
        "engine.slow_sink.upstream_backpressure",
        "engine.checkpoint_20000_keys.seconds",
    ],
    "server": [
        "server.sse_one_client.rows_per_s_client",
        "server.sse_one_client.rows_per_s_light_reader",
        "server.state_change.create_latency",
        "server.state_change.stop_latency",
        "server.state_change.start_latency",
        "server.preview.first_row_latency_cold",
        "server.preview.first_row_latency_warm",
    ],
    "idle_jobs": ["server.idle_jobs.list_pipelines_p50", "server.slow_jobs.list_pipelines_p50"],
    "connectors": ["connectors.kafka_filter_kafka.events_per_s", "connectors.parquet_aggregate.events_per_s"],
    "lookup": ["lookup.redis_lookup_join.events_per_s"],
    "live_table": [
        f"live_table.{r}.{m}"
        for r in ("10k", "50k")
        for m in (
            "messages_per_s",
            "bytes_per_row",
            "kernel_cpu",
            "apply_delta_p50",
            "longest_task",
            "kernel_rss_end",
            "heap_end",
        )
    ],
}


def _run_tiny(name: str, results: Path, timeout: float) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks",
        "--size",
        "tiny",
        "--runs",
        "1",
        "--only",
        name,
        "--results",
        str(results),
    ]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def _check(name: str, tmp_path: Path, timeout: float = 240) -> None:
    results = tmp_path / "RESULTS.md"
    proc = _run_tiny(name, results, timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = [ln for ln in proc.stdout.splitlines() if ln and not ln.startswith("#")]
    parsed = [LINE_RE.match(ln) for ln in lines]
    assert all(parsed), [ln for ln, m in zip(lines, parsed, strict=True) if not m]
    assert [m["name"] for m in parsed] == EXPECTED[name]
    for m in parsed:
        assert float(m["value"]) >= 0 and float(m["baseline"]) >= 0, m.string
    report = results.read_text()
    # The report carries the machine, the versions and every printed line.
    assert "- Machine:" in report and "- Versions:" in report and "datafusion" in report
    for ln in lines:
        assert ln in report


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    "name", ["stream_decode", "charts", "engine", "server", "idle_jobs", "connectors", "lookup"]
)
def test_benchmark_runs_tiny_and_prints_its_lines(name, tmp_path):
    _check(name, tmp_path)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.timeout(300)
def test_live_table_benchmark_runs_in_chromium(tmp_path):
    _check("live_table", tmp_path, timeout=280)
