"""Widget front-ends in a real Chromium: the shipped ESM rendered with a model stub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_charts import make_checkpoint, make_groups
from widget_fakes import T0

from arroyo_jupyter import charts

pytestmark = pytest.mark.browser
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>\'"'
ROOT = Path(__file__).resolve().parents[2]


def mount(page, name, state, wid="w"):
    page.evaluate("([id, name, state]) => mount(id, name, state)", [wid, name, state])
    return wid


def sent(page, wid="w", kind=None):
    msgs = page.evaluate("(id) => window.__widgets[id].model.sent", wid)
    return [m for m in msgs if kind is None or m.get("type") == kind]


def emit(page, msg, payloads=(), wid="w"):
    page.evaluate(
        "([id, msg, payloads]) => window.__widgets[id].model.emit(msg, payloads.map(encode))",
        [wid, msg, list(payloads)],
    )


def update(page, key, value, wid="w"):
    page.evaluate("([id, k, v]) => window.__widgets[id].model.update(k, v)", [wid, key, value])


def assert_no_xss(page):
    assert page.evaluate("() => window.__xss") is None
    assert page.locator("#w img").count() == 0 and page.locator("#w script").count() == 0


# ---------------------------------------------------------------- build


def test_each_front_end_is_one_module_with_the_shared_helpers_inlined(tmp_path, monkeypatch):
    from arroyo_jupyter.widgets import _esm

    module = _esm.assemble("errors")
    assert "function h(" in module and "./common.js" not in module  # common.js inlined
    assert module.count("export default") == 1 and '"__view__"' in module
    (tmp_path / "common.js").write_text("export const x = 1;\n")
    (tmp_path / "broken.js").write_text('import { x } from "./common.js";\nexport default { nothing };\n')
    monkeypatch.setattr(_esm, "JS_DIR", tmp_path)
    _esm._common.cache_clear()
    try:
        with pytest.raises(ValueError, match="must end with"):
            _esm.assemble("broken")
    finally:
        _esm._common.cache_clear()


# ---------------------------------------------------------------- job state


def job_state(state="Running", desired=True, **extra):
    from arroyo_jupyter.widgets.job_state import buttons_for

    job = {
        "id": "job_1",
        "state": state,
        "running_desired": desired,
        "run_id": 3,
        "tasks": 4,
        "start_time": T0,
        "finish_time": None,
        "failure": None,
        "failure_domain": None,
    }
    job.update(extra.pop("job", {}))
    base = {
        "pipeline_name": "orders",
        "pipeline_id": "pl_1",
        "preview": False,
        "parallelism": 2,
        "job": job,
        "buttons": buttons_for(job),
        "stop_modes": ["checkpoint", "graceful", "immediate", "force"],
        "timeline": [{"state": "Scheduling", "time": 1}, {"state": state, "time": 2}],
        "busy": "",
        "confirm_stop": True,
        "error": "",
    }
    base.update(extra)
    return base


def test_job_state_stop_asks_for_confirmation_and_sends_the_chosen_mode(page):
    mount(page, "job_state", job_state())
    assert page.locator("#w .arroyo-state").first.text_content() == "Running"
    assert "run 3" in page.locator("#w .arroyo-info").text_content()
    page.select_option("#w .arroyo-stop-mode", "graceful")
    page.click("#w .arroyo-action:has-text('Stop')")
    assert sent(page, kind="action") == []
    assert "Stop orders (graceful)?" in page.locator("#w .arroyo-confirm").text_content()
    page.click("#w .arroyo-confirm-yes")
    (msg,) = sent(page, kind="action")
    assert msg == {
        "type": "action",
        "method": "stop",
        "mode": "graceful",
        "ignore_state": False,
        "confirmed": True,
    }
    assert page.locator("#w .arroyo-confirm").is_hidden()
    chips = page.locator("#w .arroyo-chip").all_text_contents()
    assert chips == ["Scheduling", "Running"]


def test_job_state_failed_offers_restart_without_state_and_shows_the_reason(page):
    mount(
        page,
        "job_state",
        job_state("Failed", False, job={"failure": XSS, "failure_domain": "user"}, pipeline_name=XSS),
    )
    labels = page.locator("#w .arroyo-action").all_text_contents()
    assert labels == ["Restart", "Restart without state"]
    page.click("#w .arroyo-action:has-text('Restart without state')")
    (msg,) = sent(page, kind="action")
    assert msg["method"] == "restart" and msg["ignore_state"] is True
    assert XSS in page.locator("#w .arroyo-failure").text_content()
    assert XSS in page.locator("#w .arroyo-title").text_content()
    assert page.locator("#w .arroyo-stop-mode").is_hidden()
    assert_no_xss(page)


def test_job_state_busy_disables_buttons_and_errors_show(page):
    mount(page, "job_state", job_state())
    update(page, "busy", "stop checkpoint")
    assert page.locator("#w .arroyo-action").first.is_disabled()
    update(page, "error", "stop failed: 409: " + XSS)
    assert "409" in page.locator("#w .arroyo-error").text_content()
    update(
        page,
        "buttons",
        [
            {
                "label": "Finished",
                "method": None,
                "mode": None,
                "ignore_state": False,
                "in_progress": False,
                "enabled": False,
            }
        ],
    )
    update(page, "busy", "")
    assert page.locator("#w .arroyo-action").first.is_disabled()
    assert_no_xss(page)


# ---------------------------------------------------------------- output table
# (the grid's own tests: test_output_grid_browser.py)


def output_state(**extra):
    return {"pipeline_name": "orders", "status": "streaming", "stats": {}, "paused": False,
            "newest_first": True, "view_rows": 20000, "snapshot": [], "runs": [], "error": "",
            "time_zone": "UTC", "bundle_version": "test", **extra}  # fmt: skip


# ---------------------------------------------------------------- errors


def errors_state(**extra):
    page_rows = [
        {
            "id": f"jlm_{i}",
            "created_at": T0,
            "operator_id": "op_1" if i else None,
            "task_index": i,
            "level": "error",
            "message": XSS if i == 1 else "task failed",
            "details": "boom",
            "error_domain": "user",
        }
        for i in range(3)
    ]
    base = {
        "pipeline_name": "orders",
        "page": page_rows,
        "page_index": 0,
        "page_size": 50,
        "has_more": True,
        "groups": [],
        "grouped_over": 0,
        "loading": False,
        "error": "",
    }
    base.update(extra)
    return base


def test_errors_table_pagination_and_grouping(page):
    mount(page, "errors", errors_state())
    cells = page.locator("#w table").first.locator("tr").nth(2).locator("td").all_text_contents()
    assert cells[1] == "op_1" and cells[4] == XSS
    assert page.locator("#w .arroyo-prev").is_disabled()
    page.click("#w .arroyo-next")
    page.select_option("#w .arroyo-page-size", "10")
    page.click("#w .arroyo-group")
    page.click("#w .arroyo-refresh")
    assert [m for m in sent(page) if not m["type"].startswith("__")] == [
        {"type": "page", "dir": "next"},
        {"type": "page_size", "value": 10},
        {"type": "group"},
        {"type": "refresh"},
    ]
    update(
        page,
        "groups",
        [{"operator_id": XSS, "message": "task failed", "count": 7, "first_seen": "a", "last_seen": "b"}],
    )
    assert "Grouped" in page.locator("#w .arroyo-groups").text_content()
    assert XSS in page.locator("#w .arroyo-groups td").first.text_content()
    update(page, "has_more", False)
    assert page.locator("#w .arroyo-next").is_disabled()
    assert_no_xss(page)


# ---------------------------------------------------------------- checkpoints and metrics


def test_checkpoints_render_plotly_figures_and_select_epochs(page):
    cp = make_checkpoint(2, T0, 1_000_000)
    groups = make_groups(3, 2, T0)
    groups[0]["operator_id"] = XSS
    state = {
        "pipeline_name": "orders",
        "epochs": [
            {"epoch": 2, "start_time": T0, "finish_time": T0 + 1, "type": None},
            {"epoch": 1, "start_time": T0 - 10, "finish_time": T0 - 5, "type": None},
        ],
        "selected_epoch": 0,
        "shown_epoch": 2,
        "summary": {
            "epoch": 2,
            "start_time": T0,
            "finish_time": T0 + 1_000_000,
            "duration": "1000 ms",
            "size": "6.0 KB",
            "operators": 3,
        },
        "hint": "Checkpoints take 50% of the interval",
        "history_json": charts.checkpoint_history([cp]).to_json(),
        "timeline_json": charts.checkpoint_timeline(groups, cp).to_json(),
        "bytes_json": charts.checkpoint_bytes(groups).to_json(),
        "error": "",
    }
    mount(page, "checkpoints", state)
    page.wait_for_selector("#w .arroyo-plot-timeline .main-svg", timeout=20_000)
    ticks = page.locator("#w .arroyo-plot-timeline .ytick text").all_text_contents()
    assert "op_2" in ticks and "[1]" in ticks
    assert "duration 1000 ms" in page.locator("#w .arroyo-summary").text_content()
    assert "50%" in page.locator("#w .arroyo-hint").text_content()
    page.select_option("#w .arroyo-epoch", "1")
    assert sent(page, kind="__save__")[-1]["state"]["selected_epoch"] == 1
    assert len(sent(page, kind="need_plotly")) == 1  # plotly.js requested once
    assert_no_xss(page)


def test_metrics_table_shows_backpressure_levels(page):
    state = {
        "pipeline_name": "orders",
        "error": "",
        "operators": [
            {"node_id": 1, "operator": XSS, "recv": 0, "sent": 1234.5, "backpressure": 0.1, "level": "LOW"},
            {
                "node_id": 2,
                "operator": "preview",
                "recv": 1234.5,
                "sent": 0,
                "backpressure": 0.7,
                "level": "HIGH",
            },
        ],
        "figure_json": json.dumps({"data": [], "layout": {}}),
    }
    mount(page, "metrics", state)
    assert page.locator("#w .arroyo-bp").all_text_contents() == ["LOW", "HIGH"]
    assert page.locator("#w .arroyo-bp-HIGH").count() == 1
    assert page.locator("#w td").nth(1).text_content() == XSS
    assert "1,234.5" in page.locator("#w table").text_content()
    assert_no_xss(page)


def test_cleanup_removes_listeners(page):
    mount(page, "output_table", output_state())
    before = page.evaluate(
        "() => Object.values(window.__widgets.w.model.listeners).reduce((a, l) => a + l.length, 0)"
    )
    page.evaluate("() => window.__widgets.w.cleanup()")
    after = page.evaluate(
        "() => Object.values(window.__widgets.w.model.listeners).reduce((a, l) => a + l.length, 0)"
    )
    assert before > 0 and after == 0


def test_every_view_announces_itself(page):
    # The kernel stops re-publishing saved snapshots once a view exists (widgets/_saved.py).
    mount(page, "errors", errors_state())
    assert sent(page, kind="__view__") == [{"type": "__view__"}]
