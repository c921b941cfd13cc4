"""The notebooks in git are the ones their sources build, and carry no outputs.

Outputs (rows, ids, timestamps) would churn on every run and leak a machine's data into
git; executed copies belong in test-artifacts/. Sources in notebooks/src/ are what people
edit, so a stale .ipynb would teach something the tests never ran.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
EXPECTED = ["quickstart", "sql_iteration", "checkpoint_analysis", "troubleshooting", "kafka"]


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_committed_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name}.ipynb has no code"
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "widgets" not in nb.metadata
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_notebooks_match_their_sources() -> None:
    result = subprocess.run(
        [sys.executable, str(NOTEBOOKS / "build.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
