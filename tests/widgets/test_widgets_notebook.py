"""Saved notebooks tell the story without a widget front-end (nbclient + nbconvert HTML)."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_env import make_jupyter_env  # noqa: E402
from e2e_nbrun import run_notebook  # noqa: E402

pytestmark = pytest.mark.slow

SETUP = """
import time
from arroyo_jupyter.local import start
from arroyo_jupyter.api import Client
from arroyo_jupyter.widgets import Dashboard, ErrorsWidget, JobStateWidget, OutputTable
server = start(port=0)
client = Client(server.url)
p = client.create_preview("CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\\n"
                          "SELECT counter, '<script>alert(1)</script>' AS html FROM impulse;")
table = OutputTable(p)
deadline = time.monotonic() + 60
while len(table.to_pandas()) < 5 and time.monotonic() < deadline:
    time.sleep(0.1)
"""
CELLS = [
    SETUP,
    "table",
    "state = JobStateWidget(p); state.refresh(); time.sleep(0.5); state",
    "ErrorsWidget(p)",
]
TEARDOWN = "table.close(); state.close(); p.stop('immediate'); server.stop()"


def test_widget_outputs_carry_text_and_html_snapshots(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in [*CELLS, TEARDOWN]])
    src = tmp_path / "snapshots.ipynb"
    nbformat.write(nb, src)
    run = run_notebook(src, tmp_path / "out", make_jupyter_env(tmp_path / "home"), timeout_per_cell=120)
    outputs = [c.outputs[0] for c in run.notebook.cells[1:4]]
    for out in outputs:
        data = out["data"]
        assert "application/vnd.jupyter.widget-view+json" in data
        assert "object at 0x" not in data["text/plain"]
        assert 'class="arroyo-snapshot"' in data["text/html"]
    table, state, errors = (o["data"] for o in outputs)
    assert "rows received" in table["text/plain"]
    assert "&lt;script&gt;" in table["text/html"] and "<script>" not in table["text/html"]
    assert "Running" in state["text/plain"]
    assert "Errors of" in errors["text/html"]
    html = run.html_path.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


LATER_CELLS = [
    SETUP.replace("table = OutputTable(p)", "table = None").replace(
        "while len(table.to_pandas()) < 5 and", "while False and"
    ),
    "state = JobStateWidget(p)\nstate",  # displayed while the job is still starting
    "p.wait_for('Running', timeout=60); p.stop('immediate'); p.wait_for('Stopped', timeout=60)\n"
    "deadline = time.monotonic() + 30\n"
    "while 'Stopped' not in state._snapshot_text() and time.monotonic() < deadline:\n"
    "    time.sleep(0.2)\n"
    "time.sleep(1.5)",  # one re-publish interval
    "state.close(); server.stop()",
]


def test_a_headless_run_saves_the_widgets_latest_state_not_its_first(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in LATER_CELLS])
    src = tmp_path / "later.ipynb"
    nbformat.write(nb, src)
    run = run_notebook(src, tmp_path / "out", make_jupyter_env(tmp_path / "home"), timeout_per_cell=120)
    (shown,) = run.notebook.cells[1].outputs
    assert "Stopped" in shown["data"]["text/plain"], shown["data"]["text/plain"]
    assert "Stopped" in shown["data"]["text/html"]
    assert "application/vnd.jupyter.widget-view+json" in shown["data"]
