"""The harness itself works: nbclient on this venv's kernel, JupyterLab and Notebook 7 in Chromium.

A trivial notebook (no arroyo_jupyter needed) proves each layer before the real
notebooks rely on it, so a failure here points at the harness, not the product.
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


@pytest.mark.browser
def test_notebook_runs_in_jupyterlab(open_notebook, trivial_notebook: Path) -> None:
    """The cheapest browser check: if this fails, the harness is broken, not the product."""
    nb = open_notebook(trivial_notebook.name, ui="lab")
    nb.run_all()
    nb.wait_cells_done()
    assert nb.kernel_json("[answer, sys.executable]") == [42, sys.executable]
    # the ipywidgets front-end is installed and renders a live widget view
    nb.page.wait_for_selector(".widget-slider, .jupyter-widgets.widget-slider", timeout=30_000)
    assert "answer 42" in nb.page.locator(".jp-OutputArea-output").first.inner_text()
    nb.screenshot("trivial-ran")
