"""Arroyo's own SQL golden tests, through the `arroyo-jupyter run` command line, in both modes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO.parent / "shared" / "arroyo" / "sql-golden"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_sql_golden_suite_passes_straight_and_restored():
    if not (GOLDEN / "check.py").exists():
        pytest.skip(f"Arroyo's golden tests are not checked out at {GOLDEN}")
    engine = Path(sys.executable).parent / "arroyo-jupyter"
    done = subprocess.run(
        [sys.executable, str(GOLDEN / "check.py"), "--engine", str(engine), "--timeout", "120", str(GOLDEN)],
        capture_output=True, text=True, timeout=590,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    failures = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert done.returncode == 0 and summary.endswith(" 0 failed"), "\n".join(failures) or summary
