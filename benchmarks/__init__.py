"""Speed and memory of arroyo_jupyter's hot paths, each beside its baseline (``make bench``).

``python -m benchmarks [--size tiny|full] [--runs N] [--only stream_decode,charts]``
prints one line per figure, ``name: value unit (baseline: value unit, ratio: x)``, and
writes ``benchmarks/RESULTS.md``. These are measurements, not tests.
"""

# Order of the issue: each entry is a module of this package with run(size, runs).
BENCHMARKS = (
    "stream_decode",
    "live_table",
    "engine",
    "server",
    "charts",
    "idle_jobs",
    "connectors",
    "lookup",
)
