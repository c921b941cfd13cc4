"""Arroyo's own SQL golden tests, through the `arroyo-jupyter run` command line, in both modes.

One pytest test per golden case and mode, so a failure names its query and the rest still run.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO.parent / "shared" / "arroyo" / "sql-golden"
MODES = ("straight", "restore")


def _checker() -> ModuleType | None:
    """Arroyo's check.py, imported as a module (None when the golden tests are not checked out)."""
    path = GOLDEN / "check.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("arroyo_sql_golden_check", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHECK = _checker()
CASES = sorted(p.stem for p in (GOLDEN / "queries").glob("*.sql")) if CHECK is not None else []


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(CHECK is None, reason=f"Arroyo's golden tests are not checked out at {GOLDEN}")
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES)
def test_sql_golden_case(case: str, mode: str) -> None:
    assert CHECK is not None
    engine = [str(Path(sys.executable).parent / "arroyo-jupyter")]
    reason = CHECK.check_one(case, GOLDEN, GOLDEN / "inputs", engine, mode, 120.0)
    assert reason is None, f"{case} [{mode}]: {reason}"
