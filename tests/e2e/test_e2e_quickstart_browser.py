"""quickstart.ipynb in a real JupyterLab, driven like a user in Chromium.

One story, step by step, with a screenshot per step in test-artifacts/e2e/screens/:
run every cell above the clean-up, watch the preview table's row count rise, find the
hostile label shown as text, click Stop (→ Stopped, button Start) and Start (→ Running),
page through the errors, choose an epoch to draw its timeline, reload the page and see
the widgets redraw, then run the clean-up cells.
"""

from __future__ import annotations

import re

import pytest
from e2e_browser import NotebookPage, wait_until
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UI_TIMEOUT_MS = 60_000


def _rows_received(nb: NotebookPage, table) -> int:
    text = table.locator(".arroyo-info").text_content()
    match = re.search(r"([\d,]+) rows received", text)
    return int(match.group(1).replace(",", "")) if match else 0


def _job_widget(nb: NotebookPage, name: str):
    return (
        nb.page.locator(".arroyo-job-state").filter(has=nb.page.locator(".arroyo-title", has_text=name)).first
    )


def _run_story_cells(nb: NotebookPage) -> None:
    nb.select_cell_tagged("cleanup")
    nb.command("notebook:run-all-above")
    nb.wait_cells_done(timeout=240)
    # every cell above ran: the objects each section makes exist in the kernel
    made = nb.kernel_json("[len(bids), str(restarted.state), len(all_errors), int(last_epoch)]")
    assert made[0] == 100 and made[1] == "Running" and made[2] == 12 and made[3] >= 2, made


def test_quickstart_in_jupyterlab(open_notebook) -> None:
    nb = open_notebook("quickstart.ipynb", ui="lab")
    nb.screenshot("opened")
    _run_story_cells(nb)
    nb.screenshot("ran-story-cells")

    # 1. the pipeline's live output table: its row count rises while we watch
    output = nb.page.locator(".arroyo-output").filter(has_text="Output of quickstart_auctions").first
    expect(output.locator(".arroyo-info")).to_contain_text("rows received", timeout=UI_TIMEOUT_MS)
    first = _rows_received(nb, output)
    wait_until(
        lambda: _rows_received(nb, output) > first,
        30,
        f"the output's row count to rise from {first} ({output.locator('.arroyo-toolbar').text_content()!r}; "
        f"{output.locator('.arroyo-info').text_content()!r})",
    )
    output.scroll_into_view_if_needed()
    nb.screenshot("output-rows-rising")

    # 2. a preview row holding <img src=x onerror=...> is shown as text and runs nothing
    preview = nb.page.locator(".arroyo-output").first
    label_cells = preview.locator(".ag-cell", has_text="<img src=x onerror=window.arroyo_xss=1>")
    expect(label_cells.first).to_be_attached(timeout=UI_TIMEOUT_MS)
    assert nb.page.locator(".arroyo-widget img, .arroyo-snapshot img").count() == 0
    assert nb.page.evaluate("() => window.arroyo_xss") is None
    preview.scroll_into_view_if_needed()
    nb.screenshot("hostile-label-as-text")

    # 3. Stop → Stopped and the button says Start; Start → Running again
    job = _job_widget(nb, "quickstart_auctions")
    job.scroll_into_view_if_needed()
    expect(job.locator(".arroyo-state")).to_have_text("Running", timeout=UI_TIMEOUT_MS)
    job.locator(".arroyo-action", has_text="Stop").click()
    confirm = job.locator(".arroyo-confirm-yes")
    if confirm.count():  # the widget asks before stopping a real pipeline
        confirm.click()
    expect(job.locator(".arroyo-state")).to_have_text("Stopped", timeout=UI_TIMEOUT_MS)
    # the console's buttons for a stopped job: Start (and Start without state)
    expect(job.locator(".arroyo-action").first).to_have_text("Start", timeout=UI_TIMEOUT_MS)
    assert nb.kernel_json("str(auctions.job().state)") == "Stopped"
    nb.screenshot("stopped-button-start")
    job.locator(".arroyo-action").first.click()
    expect(job.locator(".arroyo-state")).to_have_text("Running", timeout=UI_TIMEOUT_MS)
    expect(job.locator(".arroyo-action")).to_have_text(["Stop"], timeout=UI_TIMEOUT_MS)
    assert nb.kernel_json("str(auctions.job().state)") == "Running"
    nb.screenshot("started-again")

    # 4. the errors widget pages: 12 errors, 5 a page
    errors = nb.page.locator(".arroyo-errors").first
    errors.scroll_into_view_if_needed()
    expect(errors.locator(".arroyo-page")).to_have_text("page 1 of 3 · 12 errors", timeout=UI_TIMEOUT_MS)
    body_rows = errors.locator("table.arroyo-table tr.arroyo-level-error")
    expect(body_rows).to_have_count(5, timeout=UI_TIMEOUT_MS)
    page1 = body_rows.all_text_contents()
    errors.locator(".arroyo-next").click()
    expect(errors.locator(".arroyo-page")).to_have_text("page 2 of 3 · 12 errors", timeout=UI_TIMEOUT_MS)
    wait_until(lambda: body_rows.all_text_contents() != page1, 30, "page 2 to show other errors")
    nb.screenshot("errors-page-2")
    errors.locator(".arroyo-next").click()
    expect(errors.locator(".arroyo-page")).to_have_text("page 3 of 3 · 12 errors", timeout=UI_TIMEOUT_MS)
    expect(body_rows).to_have_count(2, timeout=UI_TIMEOUT_MS)  # 12 = 5 + 5 + 2
    expect(errors.locator(".arroyo-next")).to_be_disabled()
    errors.locator(".arroyo-prev").click()
    expect(errors.locator(".arroyo-page")).to_have_text("page 2 of 3 · 12 errors", timeout=UI_TIMEOUT_MS)

    # 5. choosing an epoch draws its timeline
    cps = nb.page.locator(".arroyo-checkpoints").first
    cps.scroll_into_view_if_needed()
    select = cps.locator("select.arroyo-epoch")
    expect(select.locator("option")).not_to_have_count(1, timeout=UI_TIMEOUT_MS)  # more than "latest"
    epochs = [v for v in select.locator("option").evaluate_all("os => os.map(o => o.value)") if v != "0"]
    chosen = min(epochs, key=int)
    select.select_option(chosen)
    expect(cps.locator(".arroyo-summary")).to_contain_text(f"epoch {chosen} ", timeout=UI_TIMEOUT_MS)
    timeline = cps.locator(".arroyo-plot-timeline")
    expect(timeline.locator(".main-svg").first).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(timeline.locator(".gtitle, .bars, .trace").first).to_be_attached(timeout=UI_TIMEOUT_MS)
    timeline.scroll_into_view_if_needed()
    nb.screenshot(f"epoch-{chosen}-timeline")

    # 6. reload: the widgets redraw (state, rows, errors, epochs) without re-running cells
    nb.save()
    nb.page.reload(wait_until="domcontentloaded")
    nb.wait_ready()
    job = _job_widget(nb, "quickstart_auctions")
    expect(job.locator(".arroyo-state")).to_have_text("Running", timeout=UI_TIMEOUT_MS)
    # the running pipeline's table (the preview above may have reached its 60 s TTL by now)
    auctions_output = nb.page.locator(".arroyo-output").filter(has_text="Output of quickstart_auctions").first
    expect(auctions_output.locator(".ag-row[row-index]").first).to_be_attached(timeout=UI_TIMEOUT_MS)
    expect(nb.page.locator(".arroyo-errors tr.arroyo-level-error").first).to_be_attached(
        timeout=UI_TIMEOUT_MS
    )
    expect(nb.page.locator(".arroyo-checkpoints select.arroyo-epoch option")).not_to_have_count(
        1, timeout=UI_TIMEOUT_MS
    )
    assert nb.page.evaluate("() => window.arroyo_xss") is None
    job.scroll_into_view_if_needed()
    nb.screenshot("after-reload")

    # 7. clean up: the remaining cells delete both pipelines
    nb.select_cell_tagged("cleanup")
    nb.command("notebook:run-all-below")
    nb.wait_cells_done(timeout=120)
    assert nb.kernel_json("len(left)") == 0
    expect(
        nb.page.locator(".jp-OutputArea-output", has_text="What happened in this quickstart")
    ).to_be_attached(timeout=UI_TIMEOUT_MS)
    nb.screenshot("cleaned-up")
    assert not [d for d in nb.dialogs], f"unexpected dialogs: {nb.dialogs}"
