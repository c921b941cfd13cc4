"""Notebook 7 smoke run: the magics and the live widgets work in the classic-style UI too.

A short notebook (connect, preview an impulse query) opened at /notebooks/NB.ipynb:
the state widget reaches Running, the output table's row count rises, and stopping
the preview from its widget works.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from e2e_browser import wait_until
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "%load_ext arroyo_jupyter\n%arroyo connect --local",
    "%%arroyo preview --ttl 60\n"
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '20');\n"
    "SELECT counter, counter % 3 AS bucket FROM impulse;",
]


@pytest.fixture()
def smoke_notebook(notebook_workdir: Path) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, notebook_workdir / "e2e_notebook7_smoke.ipynb")
    return "e2e_notebook7_smoke.ipynb"


def _rows(table) -> int:
    match = re.search(r"([\d,]+) rows received", table.locator(".arroyo-info").text_content() or "")
    return int(match.group(1).replace(",", "")) if match else 0


def test_preview_in_notebook7(open_notebook, smoke_notebook: str) -> None:
    nb = open_notebook(smoke_notebook, ui="notebook")
    nb.run_all()
    nb.wait_cells_done(timeout=120)
    assert nb.kernel_json("__import__('sys').executable") == sys.executable  # the temp kernelspec is used
    state = nb.page.locator(".arroyo-job-state .arroyo-state").first
    expect(state).to_have_text("Running", timeout=60_000)
    table = nb.page.locator(".arroyo-output-grid").first
    wait_until(lambda: _rows(table) > 0, 60, "first rows in Notebook 7")
    first = _rows(table)
    wait_until(lambda: _rows(table) > first, 45, "the row count to rise in Notebook 7")
    nb.screenshot("preview-rows-rising")
    nb.page.locator(".arroyo-job-state .arroyo-action", has_text="Stop").first.click()
    # a preview stops without asking, with a final checkpoint
    expect(state).to_have_text("Stopped", timeout=60_000)
    nb.screenshot("preview-stopped")
