"""What the live views show in each lifecycle event, in a real JupyterLab 4 (and Notebook 7)
in Chromium (issue 11): a TTL-expired preview, a pipeline stopped and started while its
widget is scrolled off-screen, a deleted pipeline, and a kernel restart.

Screenshots of each step go to test-artifacts/e2e/screens/<test>/ (and, when
ARROYO_SHOTS_DIR is set, a copy to that folder).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UI_MS = 60_000
IMPULSE = (
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '20');\\nSELECT counter FROM impulse;"
)

LIFECYCLE_CELLS = [
    "from arroyo_jupyter.local import start\n"
    "from arroyo_jupyter.api import Client\n"
    "from arroyo_jupyter.widgets import JobStateWidget\n"
    "server = start(port=0, preview_ttl_s=6)\n"
    "client = Client(server.url)",
    f'pv = client.create_preview("{IMPULSE}")\nJobStateWidget(pv, refresh_interval=1)',
    f'job = client.create_pipeline("lifecycle_job", "{IMPULSE}")\n'
    "jw = JobStateWidget(job, refresh_interval=1)\njw",
    # room to scroll the widgets away (markdown: a long output would be folded into a scroll box)
    "md:" + "\n\n".join(f"filler paragraph {i}" for i in range(80)),
    "print('end of notebook')",
]

RESTART_CELLS = [
    "%load_ext arroyo_jupyter\n%arroyo connect --local",
    "%%arroyo preview --ttl 120\n"
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '20');\n"
    "SELECT counter FROM impulse;",
]


def _write(workdir: Path, name: str, cells: list[str]) -> str:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(c[3:]) if c.startswith("md:") else nbformat.v4.new_code_cell(c)
            for c in cells
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, workdir / name)
    return name


def _shot(nb, name: str) -> None:
    path = nb.screenshot(name)
    target = os.environ.get("ARROYO_SHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / f"life-{nb.ui}-{name}.png")


def _job_widget(nb, name: str):
    return (
        nb.page.locator(".arroyo-job-state").filter(has=nb.page.locator(".arroyo-title", has_text=name)).first
    )


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_ttl_offscreen_transitions_and_delete(open_notebook, notebook_workdir: Path, ui: str) -> None:
    nb = open_notebook(_write(notebook_workdir, f"e2e_lifecycle_{ui}.ipynb", LIFECYCLE_CELLS), ui=ui)
    nb.run_all()
    nb.wait_cells_done(timeout=180)
    page = nb.page
    preview = page.locator(".arroyo-job-state").first
    job = _job_widget(nb, "lifecycle_job")

    # 1. a preview past its TTL reads Stopped, offers Start (no spinning "Starting"), and
    #    Start's refusal is shown, not swallowed
    preview.scroll_into_view_if_needed()
    expect(preview.locator(".arroyo-state")).to_have_text(["Stopped"], timeout=UI_MS)
    expect(preview.locator(".arroyo-action")).to_have_text(["Start", "Start without state"])
    expect(preview.locator(".arroyo-spinner").first).to_be_hidden()
    preview.locator(".arroyo-action", has_text="Start").first.click()
    expect(preview.locator(".arroyo-error")).to_contain_text("409", timeout=UI_MS)
    expect(preview.locator(".arroyo-error")).to_contain_text("previews do not run again")
    expect(preview.locator(".arroyo-state")).to_have_text(["Stopped"])
    _shot(nb, "ttl-expired-start-refused")

    # 2. stop and start the job while its widget is scrolled off-screen: its history still
    #    has every state, with the server's times and a mark where the new run begins
    expect(job.locator(".arroyo-state")).to_have_text(["Running"], timeout=UI_MS)
    page.locator(".jp-OutputArea-output", has_text="end of notebook").scroll_into_view_if_needed()
    expect(job).not_to_be_in_viewport()
    nb.kernel(
        "job.stop('immediate'); job.wait_for('Stopped', timeout=60); "
        "job.start(); job.wait_for('Running', timeout=60)"
    )
    job.scroll_into_view_if_needed()
    expect(job.locator(".arroyo-state")).to_have_text(["Running"], timeout=UI_MS)
    expect(job.locator(".arroyo-run-mark")).to_have_text(["run 1", "run 2"], timeout=UI_MS)
    job.locator(".arroyo-history summary").click()
    states = job.locator(".arroyo-chip-state").all_text_contents()
    assert "Stopping" in states and "Stopped" in states and states[-1] == "Running", states
    assert states.index("Stopped") < len(states) - 1
    _shot(nb, "history-after-offscreen-stop-start")

    # 3. the Stop button asks first, then the job is deleted from another cell: the widget
    #    says so, has no controls, and its watcher stops polling
    job.locator(".arroyo-action", has_text="Stop").click()
    expect(job.locator(".arroyo-confirm")).to_contain_text("Stop lifecycle_job (checkpoint)?")
    _shot(nb, "stop-asks-first")
    # the same header in the dark theme (--jp-* variables)
    page.evaluate("() => jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false", timeout=UI_MS)
    expect(page.locator("#jupyterlab-splash")).to_have_count(0, timeout=UI_MS)  # the theme has loaded
    _shot(nb, "dark-theme")
    page.evaluate("() => jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "true", timeout=UI_MS)
    job.locator(".arroyo-confirm-yes").click()
    expect(job.locator(".arroyo-state")).to_have_text(["Stopped"], timeout=UI_MS)
    nb.kernel("job.delete()")
    expect(job.locator(".arroyo-state")).to_have_text(["Deleted"], timeout=UI_MS)
    expect(job.locator(".arroyo-gone")).to_contain_text("lifecycle_job was deleted")
    expect(job.locator(".arroyo-action")).to_have_count(0)
    expect(job.locator(".arroyo-stop-mode")).to_be_hidden()
    expect(job.locator(".arroyo-error")).to_be_hidden()  # no raw 404
    assert nb.kernel_json("[jw.gone, jw._sub.watcher.alive]") == ["deleted", False]
    _shot(nb, "deleted")

    nb.kernel("server.stop()")


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_kernel_restart_greys_every_view_as_disconnected(
    open_notebook, notebook_workdir: Path, ui: str
) -> None:
    nb = open_notebook(_write(notebook_workdir, f"e2e_restart_{ui}.ipynb", RESTART_CELLS), ui=ui)
    nb.run_all()
    nb.wait_cells_done(timeout=180)
    page = nb.page
    state = page.locator(".arroyo-job-state").first
    expect(state.locator(".arroyo-state")).to_have_text(["Running"], timeout=UI_MS)
    views = page.locator(".arroyo-widget")
    expect(views).not_to_have_count(0)
    expect(page.locator(".arroyo-disconnected-banner:visible")).to_have_count(0)
    n_views = views.count()
    _shot(nb, "before-restart")

    page.evaluate(
        """async () => {
          const app = window.jupyterapp;
          let panel = app.shell.currentWidget;
          if (!panel || !panel.sessionContext) panel = [...app.shell.widgets('main')].find((w) => w.sessionContext);
          await panel.sessionContext.session.kernel.restart();
        }"""
    )
    # every widget front-end, not just the state header, says its kernel side is gone
    banners = page.locator(".arroyo-disconnected-banner:visible")
    expect(banners).to_have_count(n_views, timeout=UI_MS)
    expect(banners.first).to_have_text("disconnected — run the cell again")
    # greyed and inert: a click on Stop reaches nothing
    assert state.evaluate("(el) => el.closest('.arroyo-disconnected') !== null")
    assert state.evaluate("(el) => el.inert")
    # the uptime no longer ticks in the browser
    before = state.locator(".arroyo-info").text_content()
    page.wait_for_timeout(1500)
    assert state.locator(".arroyo-info").text_content() == before
    _shot(nb, "after-restart-disconnected")


DASHBOARD_CELLS = [
    "from arroyo_jupyter.local import start\n"
    "from arroyo_jupyter.api import Client\n"
    "from arroyo_jupyter.widgets import Dashboard\n"
    "server = start(port=0)\n"
    "client = Client(server.url)",
    f'pv = client.create_preview("{IMPULSE}")\ndash = Dashboard(pv, refresh_interval=1)\ndash',
]


def test_dashboard_shares_one_watcher_and_says_deleted(open_notebook, notebook_workdir: Path) -> None:
    nb = open_notebook(_write(notebook_workdir, "e2e_dashboard.ipynb", DASHBOARD_CELLS), ui="lab")
    nb.run_all()
    nb.wait_cells_done(timeout=180)
    page = nb.page
    header = page.locator(".arroyo-dashboard .arroyo-job-state").first
    expect(header.locator(".arroyo-state")).to_have_text(["Running"], timeout=UI_MS)
    expect(page.locator(".arroyo-dashboard .arroyo-output-grid .ag-row[row-index]").first).to_be_attached(
        timeout=UI_MS
    )
    # one poll loop for the five views: every part subscribes to the same watcher
    assert nb.kernel_json(
        "[w.subscribers for w in __import__('arroyo_jupyter.api.watch', fromlist=['x']).watchers()]"
    ) == [6]  # state header, output, errors, checkpoints, metrics, and the dashboard itself
    _shot(nb, "dashboard-running")
    nb.kernel("pv.stop('immediate'); pv.wait_for('Stopped', timeout=60); pv.delete()")
    expect(header.locator(".arroyo-state")).to_have_text(["Deleted"], timeout=UI_MS)
    expect(header.locator(".arroyo-action")).to_have_count(0)
    # the tabs grey out (the dashboard hears of the deletion from the same watcher, a moment later)
    expect(page.locator(".arroyo-dashboard.arroyo-dashboard-deleted")).to_have_count(1, timeout=UI_MS)
    assert nb.kernel_json("dash.deleted") is True
    expect(page.locator(".arroyo-dashboard .arroyo-gone-banner:visible").first).to_contain_text(
        "pipeline deleted"
    )
    _shot(nb, "dashboard-deleted")
    nb.kernel("dash.close(); server.stop()")
