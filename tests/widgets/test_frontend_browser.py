"""Widget front-ends in a real Chromium: the shipped ESM rendered with a model stub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect
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
    w = page.locator("#w")
    expect(w.locator(".arroyo-state")).to_have_text(["Running"])  # one state display
    expect(w.locator(".arroyo-info")).to_contain_text("run 3")
    page.select_option("#w .arroyo-stop-mode", "graceful")
    page.click("#w .arroyo-action:has-text('Stop')")
    expect(w.locator(".arroyo-confirm")).to_contain_text("Stop orders (graceful)?")
    assert sent(page, kind="action") == []
    page.click("#w .arroyo-confirm-yes")
    expect(w.locator(".arroyo-confirm")).to_be_hidden()
    (msg,) = sent(page, kind="action")
    assert msg == {
        "type": "action",
        "method": "stop",
        "mode": "graceful",
        "ignore_state": False,
        "confirmed": True,
    }
    # the menu is back on the safe default for the next Stop
    expect(w.locator(".arroyo-stop-mode")).to_have_value("checkpoint")
    expect(w.locator(".arroyo-history summary")).to_have_text("history: 2 states")
    expect(w.locator(".arroyo-chip .arroyo-chip-state")).to_have_text(["Scheduling", "Running"])


def test_job_state_stop_mode_menu_resets_after_a_restart(page):
    mount(page, "job_state", job_state(confirm_stop=False))
    page.select_option("#w .arroyo-stop-mode", "force")
    update(page, "job", {**job_state()["job"], "run_id": 4})  # a restart: a new run
    expect(page.locator("#w .arroyo-stop-mode")).to_have_value("checkpoint")


def test_job_state_start_without_state_asks_first(page):
    mount(page, "job_state", job_state("Stopped", False))
    w = page.locator("#w")
    expect(w.locator(".arroyo-action")).to_have_text(["Start", "Start without state"])
    page.click("#w .arroyo-action:has-text('Start without state')")
    expect(w.locator(".arroyo-confirm")).to_contain_text("Start without state for orders?")
    expect(w.locator(".arroyo-confirm")).to_contain_text("state is dropped")
    assert sent(page, kind="action") == []
    page.click("#w .arroyo-confirm-yes")
    expect(w.locator(".arroyo-confirm")).to_be_hidden()
    (msg,) = sent(page, kind="action")
    assert msg["method"] == "start" and msg["ignore_state"] is True and msg["confirmed"] is True
    page.click("#w .arroyo-action >> text='Start'")  # plain Start goes at once
    expect(w.locator(".arroyo-confirm")).to_be_hidden()
    assert sent(page, kind="action")[-1]["ignore_state"] is False


def test_job_state_failed_offers_restart_without_state_and_shows_the_reason(page):
    mount(
        page,
        "job_state",
        job_state(
            "Failed",
            False,
            job={"failure": XSS, "failure_domain": "user"},
            pipeline_name=XSS,
            confirm_stop=False,
        ),
    )
    w = page.locator("#w")
    expect(w.locator(".arroyo-action")).to_have_text(["Restart", "Restart without state"])
    page.click("#w .arroyo-action:has-text('Restart without state')")
    (msg,) = sent(page, kind="action")
    assert msg["method"] == "restart" and msg["ignore_state"] is True
    expect(w.locator(".arroyo-failure")).to_contain_text(XSS)
    expect(w.locator(".arroyo-title")).to_have_text(XSS)
    expect(w.locator(".arroyo-stop-mode")).to_be_hidden()
    assert_no_xss(page)


def test_job_state_busy_disables_buttons_and_errors_show(page):
    mount(page, "job_state", job_state())
    w = page.locator("#w")
    update(page, "busy", "stop checkpoint")
    expect(w.locator(".arroyo-action").first).to_be_disabled()
    update(page, "error", "stop failed: 409: " + XSS)
    expect(w.locator(".arroyo-error")).to_contain_text("409")
    update(page, "buttons", [])
    update(page, "busy", "")
    expect(w.locator(".arroyo-action")).to_have_count(0)
    assert_no_xss(page)


def test_job_state_ended_job_shows_how_long_it_ran_and_does_not_tick(page):
    finished = {"state": "Finished", "running_desired": False, "finish_time": T0 + 85_000}
    mount(page, "job_state", job_state("Finished", False, job=finished, buttons=[]))
    w = page.locator("#w")
    expect(w.locator(".arroyo-info")).to_contain_text("ran 0.1 s")
    expect(w.locator(".arroyo-action")).to_have_count(0)  # no dead "Finished" button beside the badge
    expect(w.locator(".arroyo-state")).to_have_text(["Finished"])


def test_job_state_uptime_uses_one_format():
    """The kernel's snapshot and the browser format durations alike (common.js fmtUptime)."""
    from arroyo_jupyter.widgets.job_state import format_uptime

    cases = {
        85_000: "0.1 s",
        9_050_000: "9.1 s",
        14_000_000: "14 s",
        221_000_000: "3 m 41 s",
        7_500_000_000: "2 h 05 m",
    }
    assert {us: format_uptime(us) for us in cases} == cases


def test_job_state_uptime_formats_match_the_browser(page):
    from arroyo_jupyter.widgets.job_state import format_uptime

    mount(page, "job_state", job_state())
    values = [0, 85_000, 9_050_000, 14_000_000, 59_999_999, 221_000_000, 3_600_000_000, 7_500_000_000]
    for us in values:
        update(page, "job", {**job_state()["job"], "state": "Stopped", "finish_time": T0 + us})
        expect(page.locator("#w .arroyo-info")).to_contain_text(f"ran {format_uptime(us)} · ")


def test_job_state_history_comes_from_the_server_with_run_marks(page):
    chips = [
        {"state": "Running", "time": T0 // 1000, "run_id": 1},
        {"state": "Stopping", "time": T0 // 1000 + 1000, "run_id": 1},
        {"state": "Stopped", "time": T0 // 1000 + 2000, "run_id": 1},
        {"state": "Scheduling", "time": T0 // 1000 + 3000, "run_id": 1},
        {"state": "Running", "time": T0 // 1000 + 4000, "run_id": 2},
    ]
    mount(page, "job_state", job_state(timeline=chips))
    w = page.locator("#w")
    expect(w.locator(".arroyo-history summary")).to_have_text("history: 5 states")
    page.click("#w .arroyo-history summary")
    expect(w.locator(".arroyo-chip-state")).to_have_text([c["state"] for c in chips])
    expect(w.locator(".arroyo-chip-time").first).to_have_text("22:13:20")  # server time, UTC
    expect(w.locator(".arroyo-run-mark")).to_have_text(["run 2"])


def test_job_state_deleted_says_so_and_has_no_controls(page):
    mount(page, "job_state", job_state())
    w = page.locator("#w")
    expect(w.locator(".arroyo-action")).to_have_text(["Stop"])
    update(page, "gone", "deleted")
    expect(w.locator(".arroyo-state")).to_have_text(["Deleted"])
    expect(w.locator(".arroyo-gone")).to_contain_text("orders was deleted")
    expect(w.locator(".arroyo-action")).to_have_count(0)
    expect(w.locator(".arroyo-stop-mode")).to_be_hidden()
    expect(w.locator(".arroyo-info")).to_contain_text("no longer on the server")


def test_job_state_shows_as_of_when_the_server_stops_answering(page):
    mount(page, "job_state", job_state())
    update(page, "as_of", T0 / 1000)
    update(page, "error", "could not refresh: connection refused")
    w = page.locator("#w")
    expect(w.locator(".arroyo-info")).to_contain_text("as of 22:13:20 UTC")
    expect(w.locator(".arroyo-error")).to_contain_text("connection refused")


@pytest.mark.parametrize("name", ["job_state", "errors", "output_table", "metrics"])
def test_a_view_whose_kernel_is_gone_says_disconnected_and_greys_out(page, name):
    """No heartbeat for a while (kernel restarted or dead): every widget kind says so."""
    page.clock.install()
    states = {
        "job_state": job_state,
        "errors": errors_state,
        "output_table": output_state,
        "metrics": lambda: {"pipeline_name": "orders", "error": "", "operators": [], "figure_json": ""},
    }
    mount(page, name, states[name]())
    w = page.locator("#w")
    banner = w.locator(".arroyo-disconnected-banner")
    page.clock.run_for(20_000)  # beats keep it live
    expect(banner).to_be_hidden()
    page.evaluate("() => window.__widgets.w.model.stopBeats()")
    page.clock.run_for(10_000)
    expect(banner).to_have_text("disconnected — run the cell again")
    expect(w).to_have_class("arroyo-disconnected")
    expect(w.locator(".arroyo-widget").first).to_have_attribute("inert", "")
    # greyed: everything but the banner is faded (whatever the widget put inside its element)
    opacities = page.evaluate(
        "() => [...document.querySelector('#w').children].filter((c) => "
        "!c.classList.contains('arroyo-disconnected-banner') && c.style.display !== 'none')"
        ".map((c) => [c.className, getComputedStyle(c).opacity])"
    )
    assert opacities and all(float(o) < 1 for _, o in opacities), opacities
    before = len(sent(page))
    w.locator(".arroyo-btn").first.click(force=True)  # a click does nothing
    assert len(sent(page)) == before
    # a beat again (a busy kernel catching up) brings it back
    emit(page, {"type": "__beat__"})
    expect(banner).to_be_hidden()
    expect(w).not_to_have_class("arroyo-disconnected")


def test_any_view_of_a_deleted_pipeline_says_so(page):
    mount(page, "errors", errors_state(gone=""))
    w = page.locator("#w")
    expect(w.locator(".arroyo-gone-banner")).to_be_hidden()
    update(page, "gone", "deleted")
    expect(w.locator(".arroyo-gone-banner")).to_have_text(
        "pipeline deleted: this shows what it last reported"
    )
    expect(w).to_have_class("arroyo-gone-view")
    # the job-state header says "Deleted" itself: no second notice
    mount(page, "job_state", job_state(gone="deleted"), wid="j")
    expect(page.locator("#j .arroyo-state")).to_have_text(["Deleted"])
    expect(page.locator("#j .arroyo-gone-banner")).to_have_count(0)


def test_a_view_greys_out_at_once_when_the_widget_manager_drops_its_comm(page):
    mount(page, "job_state", job_state())
    page.evaluate("() => { const m = window.__widgets.w.model; m.stopBeats(); m.fire('comm_live_update'); }")
    expect(page.locator("#w .arroyo-disconnected-banner")).to_be_visible()
    text = page.locator("#w .arroyo-info").text_content()
    page.wait_for_timeout(1500)  # the uptime would have ticked by now
    assert page.locator("#w .arroyo-info").text_content() == text


def test_each_view_reports_whether_it_is_on_screen(page):
    page.evaluate("() => { document.body.style.paddingTop = '3000px'; }")
    mount(page, "job_state", job_state())
    page.wait_for_function("() => window.__widgets.w.model.sent.some((m) => m.type === '__visible__')")
    assert sent(page, kind="__visible__")[-1] == {"type": "__visible__", "visible": False}
    page.locator("#w").scroll_into_view_if_needed()
    page.wait_for_function(
        "() => window.__widgets.w.model.sent.filter((m) => m.type === '__visible__').slice(-1)[0].visible"
    )


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
        [{"operator_id": XSS, "pattern": "task failed", "count": 7, "first_seen": "a", "last_seen": "b"}],
    )
    expect(page.locator("#w .arroyo-groups")).to_contain_text("1 kind of error")
    expect(page.locator("#w .arroyo-groups td").first).to_contain_text(XSS)
    update(page, "has_more", False)
    expect(page.locator("#w .arroyo-next")).to_be_disabled()
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
    assert "■ op_2" in ticks and "[1]" in ticks  # operator rows carry their colour swatch
    assert "duration 1000 ms" in page.locator("#w .arroyo-summary").text_content()
    assert "50%" in page.locator("#w .arroyo-hint").text_content()
    page.select_option("#w .arroyo-epoch", "1")
    page.wait_for_function("() => window.__widgets.w.model.sent.some((m) => m.type === '__save__')")
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
    assert page.locator("#w td").nth(1).text_content() == "■ " + XSS
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
