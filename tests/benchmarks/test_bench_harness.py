"""The harness: the line format parses back, ratios and targets, failures reported."""

from __future__ import annotations

import math
import types

import pytest

from benchmarks import __main__ as bench_main
from benchmarks._harness import LINE_RE, Figure, fmt, judge


@pytest.mark.parametrize("value", [0.000123, 0.5, 7, 12.345, 999.9, 1234.5, 98_765_432.0])
def test_line_parses_back(value):
    fig = Figure("x.y_z", value, "rows/s", 2.0, "rows/s", "what")
    m = LINE_RE.match(fig.line())
    assert m, fig.line()
    assert m["name"] == "x.y_z" and m["unit"] == "rows/s" and m["baseline_unit"] == "rows/s"
    assert float(m["value"]) == pytest.approx(value, rel=5e-3)
    assert float(m["ratio"]) == pytest.approx(value / 2.0, rel=5e-3)


def test_ratio_of_a_zero_baseline_is_infinite_and_still_parses():
    fig = Figure("a.b", 3.0, "ms", 0.0, "ms", "nothing")
    assert math.isinf(fig.ratio)
    assert LINE_RE.match(fig.line())


def test_fmt_never_uses_thousands_separators():
    assert fmt(1_234_567.8) == "1234568"
    assert "," not in fmt(10**9)


def test_judge_directions():
    assert judge(5, 4, True) and not judge(3, 4, True)
    assert judge(40, 50, False) and not judge(60, 50, False)


def test_a_failing_benchmark_is_reported_and_the_others_still_run(tmp_path, monkeypatch, capsys):
    good = types.SimpleNamespace(run=lambda size, runs: [Figure("good.one", 1.0, "s", 2.0, "s", "half")])

    def broken(size, runs):
        raise RuntimeError("engine not importable")

    modules = {"benchmarks.charts": good, "benchmarks.engine": types.SimpleNamespace(run=broken)}
    real_import = bench_main.importlib.import_module
    monkeypatch.setattr(bench_main.importlib, "import_module", lambda n: modules.get(n) or real_import(n))
    results = tmp_path / "R.md"
    rc = bench_main.main(
        ["--size", "tiny", "--runs", "1", "--only", "engine,charts", "--results", str(results)]
    )
    out = capsys.readouterr().out
    assert rc == 1
    assert "good.one: 1 s (baseline: 2 s, ratio: 0.5)" in out
    assert "# engine FAILED: RuntimeError: engine not importable" in out
    text = results.read_text()
    assert "Did not run to the end:** RuntimeError: engine not importable" in text
    assert "1 benchmark(s) failed to run" in text


def test_bad_arguments_are_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit):
        bench_main.main(["--only", "nope"])
    assert "unknown benchmark(s) nope; choose from stream_decode" in capsys.readouterr().err
