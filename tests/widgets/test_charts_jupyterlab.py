"""Checkpoints, metrics and errors widgets inside a real JupyterLab 4 and Notebook 7 (real
kernel, embedded server, real engine): the charts draw what the server measured, on a
readable scale."""

from __future__ import annotations

import os
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
    "import time\n"
    "from pathlib import Path\n"
    "from arroyo_jupyter.local import start\n"
    "from arroyo_jupyter.api import Client\n"
    "from arroyo_jupyter.widgets import CheckpointsWidget, ErrorsWidget, MetricsWidget\n"
    "server = start(port=0)\n"
    "client = Client(server.url)\n"
    "p = client.create_pipeline('lab_cp', \"CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '200');\\n"
    'SELECT bid.auction AS auction, count(*) AS bids FROM nexmark WHERE bid IS NOT NULL GROUP BY 1;",'
    " parallelism=2, checkpoint_interval_micros=2_000_000)\n"
    "Path('orders.json').write_text(''.join(\n"
    '    f\'{{"order_id": {i}, "amount": "1{i},75"}}\\n\' if i % 3 == 0 else f\'{{"order_id": {i}, "amount": {i}}}\\n\'\n'
    "    for i in range(30)) + '<img src=x onerror=alert(1)>\\n')\n"
    "e = client.create_pipeline('lab_errors', \"CREATE TABLE orders (order_id BIGINT, amount DOUBLE) WITH (connector = 'single_file', "
    "path = '\" + str(Path('orders.json').resolve()) + \"', format = 'json', type = 'source', bad_data = 'drop');\\n"
    "CREATE TABLE sink WITH (connector = 'blackhole');\\nINSERT INTO sink SELECT * FROM orders;\")\n"
    "p.wait_for('Running', timeout=60)\n"
    "deadline = time.monotonic() + 90\n"
    "while time.monotonic() < deadline and len([c for c in p.checkpoints() if c.finish_time]) < 6:\n"
    "    time.sleep(0.5)",
    "checkpoints = CheckpointsWidget(p, refresh=2)\ncheckpoints",
    "metrics = MetricsWidget(p, refresh=2)\nmetrics",
    "e.wait_for('Finished', timeout=60)\nerrors = ErrorsWidget(e, page_size=5)\nerrors",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("charts-lab")
    work = root / "work"
    work.mkdir()
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in CELLS],
        metadata={"kernelspec": {"name": KERNEL_NAME, "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(nb, work / "charts.ipynb")
    server = start_lab_server(work, make_jupyter_env(root / "home"), root / "jupyter.log")
    yield server, root
    server.stop()


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_checkpoints_metrics_and_errors_in_a_real_front_end(widget_browser, lab, ui):
    server, root = lab
    shots = Path(os.environ.get("ARROYO_CHART_SHOTS", root / "shots"))
    context = widget_browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        nb = NotebookPage(context.new_page(), server.url, shots, ui)
        nb.open("charts.ipynb")
        nb.run_all()
        page = nb.page
        history = page.locator(".arroyo-checkpoints .arroyo-plot-history")
        wait_until(lambda: history.locator(".main-svg").count() > 0, 150, "the checkpoint history")
        ticks = [float(t) for t in history.locator(".ytick text").all_text_contents()]
        durations = nb.kernel_json(
            "[(c.finish_time - c.start_time) / 1000 for c in p.checkpoints() if c.finish_time]"
        )
        assert max(ticks) < 10 * max(durations) + 5  # an axis scaled to what the server measured
        history.scroll_into_view_if_needed()
        nb.screenshot("checkpoints")
        table = page.locator(".arroyo-metrics-table")
        wait_until(lambda: "nexmark" in (table.text_content() or ""), 90, "the metrics table")
        page.locator(".arroyo-metrics .arroyo-plot-graph .main-svg").first.wait_for(timeout=60_000)
        table.scroll_into_view_if_needed()
        nb.screenshot("metrics")
        label = page.locator(".arroyo-errors .arroyo-page")
        wait_until(lambda: " of " in (label.text_content() or ""), 90, "page N of M")
        page.click(".arroyo-errors .arroyo-group")
        groups = page.locator(".arroyo-errors .arroyo-groups tr")
        wait_until(lambda: groups.count() >= 3, 60, "grouped errors")
        assert nb.kernel_json("len(errors.group())") == groups.count() - 1
        page.click(".arroyo-errors .arroyo-next")
        page.click(".arroyo-errors .arroyo-prev")
        wait_until(lambda: (label.text_content() or "").startswith("page 1 of"), 30, "back on page 1")
        assert page.locator(".arroyo-errors .arroyo-page-size option").count() == 6  # 5 sizes + "5 / page"
        assert page.locator('.arroyo-errors .arroyo-page-size option[value="5"]').count() == 1
        assert page.locator(".arroyo-errors img").count() == 0 and nb.dialogs == []
        label.scroll_into_view_if_needed()
        nb.screenshot("errors")
        nb.kernel("checkpoints.close(); metrics.close(); errors.close(); p.stop('immediate'); server.stop()")
    finally:
        context.close()
        server.shutdown_kernels()
