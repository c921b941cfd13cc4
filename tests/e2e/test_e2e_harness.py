"""The headless harness itself works: nbclient on this venv's kernel, probe, HTML copy.

A trivial notebook (no arroyo_jupyter needed), so a failure here points at the harness,
not the product. (The browser harness is proven by the Notebook 7 smoke run, which
also checks the kernel is this venv's python.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

TRIVIAL = [
    "import sys\nanswer = 6 * 7\nprint('answer', answer)",
    "import ipywidgets\nslider = ipywidgets.IntSlider(value=answer, description='answer')\nslider",
]


@pytest.fixture(scope="module")
def trivial_notebook(notebook_workdir: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in TRIVIAL]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = notebook_workdir / "e2e_trivial.ipynb"
    nbformat.write(nb, path)
    return path


def test_nbclient_runs_on_this_venv_and_renders_html(execute_notebook, trivial_notebook: Path) -> None:
    run = execute_notebook(trivial_notebook, probe="{'answer': answer, 'python': sys.executable}")
    assert run.probe == {"answer": 42, "python": sys.executable}
    assert "answer 42" in run.outputs_text()
    assert "answer 42" in run.html_path.read_text()
    assert all(
        c.cell_type != "code" or "e2e-probe" not in c.metadata.get("tags", []) for c in run.notebook.cells
    )
