"""``python -m benchmarks``: run the suite, print the figures, write RESULTS.md."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from . import BENCHMARKS
from ._harness import SIZES, Figure
from ._report import write_results

DEFAULT_RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--size", choices=SIZES, default="full", help="tiny: seconds, for smoke tests")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where to write RESULTS.md")
    parser.add_argument("--no-write", action="store_true", help="print the figures only")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    unknown = [b for b in args.only.split(",") if b and b not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    chosen = [b for b in BENCHMARKS if not args.only or b in args.only.split(",")]
    results: dict[str, list[Figure]] = {}
    failures: dict[str, str] = {}
    durations: dict[str, float] = {}
    for name in chosen:
        print(f"# {name} (size {args.size}, {args.runs} runs)", flush=True)
        t0 = time.monotonic()
        try:
            figures = importlib.import_module(f"benchmarks.{name}").run(args.size, args.runs)
        except Exception as exc:  # one broken part must not hide the others' figures
            failures[name] = f"{type(exc).__name__}: {exc}".strip()
            print(f"# {name} FAILED: {failures[name]}", flush=True)
            traceback.print_exc(file=sys.stderr)
            figures = []
        durations[name] = time.monotonic() - t0
        if args.size != "full":
            for fig in figures:
                fig.met = None  # targets are stated for the full sizes only
        for fig in figures:
            print(fig.line(), flush=True)
        results[name] = figures
    if not args.no_write:
        write_results(args.results, results, failures, durations, size=args.size, runs=args.runs)
        print(f"# wrote {args.results}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
