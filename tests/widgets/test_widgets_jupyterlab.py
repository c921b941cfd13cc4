"""The widgets inside real JupyterLab 4 and Notebook 7 (anywidget, real comms, real kernel).

Uses the e2e harness of tests/e2e (temp Jupyter home, lab server, NotebookPage)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_browser import NotebookPage, wait_until  # noqa: E402
from e2e_env import KERNEL_NAME, make_jupyter_env  # noqa: E402
from e2e_lab_server import start_lab_server  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "from arroyo_jupyter.local import start\n"
    "from arroyo_jupyter.api import Client\n"
    "from arroyo_jupyter.widgets import JobStateWidget, OutputTable\n"
    "server = start(port=0)\n"
    "client = Client(server.url)\n"
    "p = client.create_preview(\"CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '50');\\n"
    "SELECT counter, '<img src=x onerror=alert(1)>' AS html FROM impulse;\")\n"
    "table = OutputTable(p)\n"
    "table",
    "state = JobStateWidget(p)\nstate",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("widgets-lab")
    work = root / "work"
    work.mkdir()
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in CELLS],
        metadata={"kernelspec": {"name": KERNEL_NAME, "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, work / "widgets.ipynb")
    server = start_lab_server(work, make_jupyter_env(root / "home"), root / "jupyter.log")
    yield server, root
    server.stop()


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_output_rows_and_stop_button_in_a_real_front_end(widget_browser, lab, ui):
    server, root = lab
    context = widget_browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        nb = NotebookPage(context.new_page(), server.url, root / "shots" / ui, ui)
        nb.open("widgets.ipynb")
        nb.run_all()
        page = nb.page
        rows = page.locator(".arroyo-output-grid .ag-row[row-index]")
        wait_until(lambda: rows.count() >= 3, 90, "rows in the grid")
        first = page.locator(".arroyo-output-grid .ag-row[row-index='0']")
        assert first.locator("[col-id='c0']").text_content().replace(",", "").isdigit()
        assert (
            first.locator("[col-id='c1']").text_content() == "<img src=x onerror=alert(1)>"
        )  # shown as text
        assert page.locator(".arroyo-output-grid img").count() == 0 and nb.dialogs == []
        shots = Path("/work/lead/shots")
        if shots.is_dir():
            page.screenshot(path=str(shots / f"grid-in-{ui}.png"))
        badge = page.locator(".arroyo-job-state .arroyo-state").first
        wait_until(lambda: badge.text_content() == "Running", 60, "Running")
        page.click(".arroyo-job-state .arroyo-action:has-text('Stop')")  # previews stop without confirmation
        wait_until(lambda: badge.text_content() == "Stopped", 60, "Stopped")
        assert nb.kernel_json("[len(table.to_pandas()) > 0, state.job['state']]") == [True, "Stopped"]
        nb.kernel("table.close(); state.close(); server.stop()")
    finally:
        context.close()
        server.shutdown_kernels()
