"""``arroyo-jupyter demo`` (what ``make demo`` runs): quickstart.ipynb headless, then its account.

This is also the headless run of the quickstart: the account cell prints what the
notebook did, from the live objects (rows collected, states reached, checkpoints,
errors, what is left), so asserting on it asserts on the run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from arroyo_jupyter import demo

pytestmark = pytest.mark.slow


def test_demo_runs_the_quickstart_and_tells_its_story(jupyter_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "arroyo_jupyter.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=240,
        env=jupyter_env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "embedded Arroyo engine" in out
    assert re.search(r"cell\s+1/\d+\s+%load_ext arroyo_jupyter", out)  # progress, one line a cell
    assert "collected 100 bids into a DataFrame" in out
    assert "Running, then Stopped with a checkpoint, then Running again" in out
    epoch = int(re.search(r"checkpoints up to epoch (\d+)", out).group(1))
    assert epoch >= 2  # a scheduled checkpoint, then the one taken on stop
    assert "logged 12 errors" in out  # one per broken line of the 36-line file
    assert "cleaned up: 0 pipeline(s) left" in out
    assert "Traceback" not in out + result.stderr

    ipynb = Path(re.search(r"Executed notebook: (\S+)", out).group(1))
    html = Path(re.search(r"Rendered as HTML:\s+(\S+)", out).group(1)).read_text()
    executed = nbformat.read(ipynb, as_version=4)
    assert all(c.get("outputs") is not None for c in executed.cells if c.cell_type == "code")
    assert not any(o.get("output_type") == "error" for c in executed.cells for o in c.get("outputs", []))
    # the HTML shows the story a reader needs, and the hostile label only escaped
    assert "quickstart_auctions" in html and "What happened in this quickstart" in html
    assert 'class="arroyo-snapshot"' in html and "Errors of quickstart_orders" in html  # widget snapshots
    assert "<img src=x onerror" not in html


def test_demo_says_what_to_do_without_the_notebook(monkeypatch, capsys) -> None:
    monkeypatch.setattr(demo, "find_quickstart", lambda: None)
    assert demo.main() == 2
    err = capsys.readouterr().err
    assert "quickstart.ipynb not found" in err and "checkout" in err
