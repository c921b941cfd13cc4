"""Checkpoints, Metrics and Errors widgets: the kernel side (recording comm, fake handle) and
their front-ends in Chromium (the browser harness), for what issue 12 asks of them."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from playwright.sync_api import expect
from test_charts import GRAPH, make_checkpoint, make_groups, metric_groups
from test_frontend_browser import XSS, assert_no_xss, errors_state, mount, sent, update
from widget_fakes import T0, wait_for

from arroyo_jupyter import charts
from arroyo_jupyter.widgets import CheckpointsWidget, ErrorsWidget, MetricsWidget
from arroyo_jupyter.widgets.metrics import operator_rows


def values(array) -> np.ndarray:
    """A trace's numbers as plotly's JSON sends them (typed-array ``bdata``, or a list)."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    return np.asarray(array)


def log(n: int) -> list[dict]:
    return [
        {
            "id": f"jlm_{i:04d}",
            "created_at": T0 - i * 1_000_000,
            "operator_id": "source_orders_1",
            "task_index": 0,
            "level": "error",
            "message": f"bad data in line {i + 3} of orders.json: could not convert '{i},75' to DOUBLE",
            "details": "",
            "error_domain": "user",
        }
        for i in range(n)
    ]


# ---------------------------------------------------------------- kernel side


@pytest.mark.usefixtures("recording_comm", "no_thread_leaks")
class TestKernel:
    def test_errors_count_pages_and_group_by_normalised_message(self, fake):
        fake.error_log = log(23)
        w = ErrorsWidget(fake, page_size=10, refresh=0)
        assert (w.total, w.total_capped) == (23, False)
        assert "page 1 of 3, 23 errors" in w._snapshot_text()
        g = w.group()
        assert len(g) == 1 and w.groups[0]["count"] == 23  # one kind of error, not 23
        assert w.groups[0]["pattern"] == "bad data in line N of orders.json: could not convert 'N' to DOUBLE"
        assert w.groups[0]["example"] == fake.error_log[0]["message"]  # the latest, whole
        fake.error_log = [{**log(1)[0], "id": "jlm_new"}, *fake.error_log]
        w.refresh()
        assert w.total == 24  # a new newest error: recounted
        w.close()

    def test_an_empty_log_says_no_errors(self, fake):
        w = ErrorsWidget(fake, refresh=0)
        assert w.total == 0 and w._snapshot_text().endswith("no errors")
        assert "no errors" in w._repr_mimebundle_()[0]["text/html"]
        w.close()

    def test_metrics_table_is_the_last_point_of_the_chart(self, fake):
        fake.metric_groups = metric_groups(points=6)
        w = MetricsWidget(fake, refresh=0)
        wait_for(lambda: w.operators, message="metrics")
        fig = json.loads(w.figure_json)
        for row in w.operators:
            label = f"{row['node_id']}: {row['operator']}"
            out = next(t for t in fig["data"] if t["name"] == label and t.get("yaxis") == "y2")
            assert values(out["y"])[-1] == pytest.approx(row["sent"])
            assert row["colour"] == charts.operator_colour(row["node_id"])
        graph = json.loads(w.graph_json)
        assert len([s for s in graph["layout"]["shapes"] if s["type"] == "rect"]) == 2
        w.per_subtask = True
        wait_for(lambda: "[1]" in w.figure_json, message="per-subtask lines")
        w.close()

    def test_checkpoints_history_has_sizes_the_shown_epoch_and_a_hint(self, fake):
        fake.checkpoint_interval_micros = 2_000_000
        fake.cps = [make_checkpoint(e, T0 + e * 2_000_000, 3_000 + e * 1_000) for e in range(1, 8)]
        fake.details = {e: make_groups(2, 2, T0 + e * 2_000_000) for e in range(1, 8)}
        for e, groups in fake.details.items():
            groups[0]["bytes"] = 1000 * e  # state grows
        w = CheckpointsWidget(fake, refresh=0)
        wait_for(lambda: w.shown_epoch == 7, message="epoch 7 shown")
        history = json.loads(w.history_json)
        size = next(t for t in history["data"] if t["name"] == "state size")
        assert len(values(size["y"])) == 7
        assert history["layout"]["yaxis"]["range"][1] < 50  # 4-10 ms, not a 2000 ms axis
        assert any(t["name"] == "epoch 7 (shown)" for t in history["data"])
        assert (
            "Checkpointing takes 0.4% of the 2000 ms interval (median 7.0 ms" in w.hint
            and "Slowest operator" in w.hint
        )
        w.select(3)
        wait_for(lambda: w.shown_epoch == 3)
        assert any(t["name"] == "epoch 3 (shown)" for t in json.loads(w.history_json)["data"])
        w.close()


# ---------------------------------------------------------------- front-ends in Chromium


@pytest.mark.browser
class TestBrowser:
    def test_page_size_menu_never_duplicates_an_option(self, page):
        mount(page, "errors", errors_state(page_size=20, total=60))
        menu = page.locator("#w .arroyo-page-size option")
        for index in range(1, 4):  # page changes redraw the toolbar
            update(page, "page_index", index)
            update(page, "loading", index % 2 == 1)
            expect(page.locator("#w .arroyo-page")).to_contain_text(f"page {index + 1} of 3")
        expect(menu).to_have_count(6)
        expect(page.locator('#w .arroyo-page-size option[value="20"]')).to_have_count(1)
        update(page, "page_size", 50)  # back to a listed size: the extra option goes
        expect(menu).to_have_count(5)
        expect(page.locator("#w .arroyo-page-size")).to_have_value("50")

    def test_pages_of_total_and_an_empty_log(self, page):
        mount(page, "errors", errors_state(page_size=10, total=23))
        expect(page.locator("#w .arroyo-page")).to_have_text("page 1 of 3 · 23 errors")
        mount(page, "errors", errors_state(page=[], has_more=False, total=0), wid="empty")
        expect(page.locator("#empty .arroyo-page")).to_have_text("no errors")
        expect(page.locator("#empty .arroyo-empty")).to_have_text("No errors.")

    def test_error_messages_and_groups_are_text(self, page):
        group = {
            "operator_id": XSS,
            "pattern": XSS,
            "count": 7,
            "first_seen": "2025-08-01T00:00:00+00:00",
            "last_seen": "2025-08-01T00:00:01+00:00",
            "example": XSS,
        }
        mount(page, "errors", errors_state(groups=[group], grouped_over=7))
        cells = page.locator("#w .arroyo-groups tr").nth(1).locator("td")
        expect(cells).to_have_text([XSS, XSS, "7", "2025-08-01 00:00:00.000", "2025-08-01 00:00:01.000", XSS])
        expect(page.locator("#w table").first.locator("tr").nth(2).locator("td").nth(4)).to_have_text(XSS)
        assert_no_xss(page)

    def test_metrics_table_and_chart_show_the_same_number(self, page):
        groups = metric_groups(points=6)
        state = {
            "pipeline_name": "orders",
            "error": "",
            "operators": operator_rows(groups, GRAPH),
            "figure_json": charts.metrics_figure(groups, GRAPH).to_json(),
            "graph_json": charts.pipeline_graph(GRAPH, groups).to_json(),
            "per_subtask": False,
            "window_s": 300.0,
        }
        mount(page, "metrics", state)
        page.wait_for_selector("#w .arroyo-plot-metrics .main-svg", timeout=20_000)
        row = page.locator("#w .arroyo-metrics-table tr").nth(2).locator("td")
        expect(row.nth(4)).to_have_text("1.2")  # events out/s of node 2 in the table
        last = page.evaluate(
            """() => {
              const div = document.querySelector('#w .arroyo-plot-metrics');
              const t = div.data.find((d) => d.name === '2: preview' && d.yaxis === 'y2');
              const y = t.y.bdata  // what the kernel sent: a typed array, as plotly.js reads it
                ? new Float64Array(Uint8Array.from(atob(t.y.bdata), (c) => c.charCodeAt(0)).buffer)
                : t.y;
              return y[y.length - 1];
            }"""
        )
        assert round(last, 1) == 1.2
        page.wait_for_selector("#w .arroyo-plot-graph .main-svg", timeout=20_000)
        expect(page.locator("#w .arroyo-plot-graph .shapelayer path")).to_have_count(2)
        page.check("#w .arroyo-per-subtask")
        assert sent(page, kind="__save__")[-1]["state"]["per_subtask"] is True

    def test_checkpoint_history_axis_shows_millisecond_durations(self, page):
        cps = [make_checkpoint(e, T0 + e * 2_000_000, 3_000 + (e * 11) % 28 * 1_000) for e in range(1, 30)]
        state = {
            "pipeline_name": "orders",
            "epochs": [],
            "selected_epoch": 0,
            "shown_epoch": 29,
            "summary": {},
            "hint": "",
            "history_json": charts.checkpoint_history(
                cps, interval_micros=2_000_000, selected_epoch=29
            ).to_json(),
            "timeline_json": "",
            "bytes_json": "",
            "error": "",
        }
        mount(page, "checkpoints", state)
        page.wait_for_selector("#w .arroyo-plot-history .main-svg", timeout=20_000)
        ticks = [float(t) for t in page.locator("#w .arroyo-plot-history .ytick text").all_text_contents()]
        assert ticks[0] == 0 and 30 <= max(ticks) <= 40  # ms durations fill the axis

    def test_clicking_a_history_point_shows_that_epoch(self, page):
        cps = [make_checkpoint(e, T0 + e * 2_000_000, 5_000 + e * 1_000) for e in range(1, 6)]
        state = {
            "pipeline_name": "orders",
            "epochs": [],
            "selected_epoch": 0,
            "shown_epoch": 5,
            "summary": {},
            "hint": "",
            "history_json": charts.checkpoint_history(cps, interval_micros=2_000_000).to_json(),
            "timeline_json": "",
            "bytes_json": "",
            "error": "",
        }
        state["epochs"] = [
            {
                "epoch": c["epoch"],
                "start_time": c["start_time"],
                "finish_time": c["finish_time"],
                "type": None,
            }
            for c in cps[::-1]
        ]
        mount(page, "checkpoints", state)
        point = page.locator("#w .arroyo-plot-history .scatterlayer .trace").first.locator(".point").nth(2)
        point.wait_for(timeout=20_000)
        box = point.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        expect(page.locator("#w .arroyo-epoch")).to_have_value("3")
        assert sent(page, kind="__save__")[-1]["state"]["selected_epoch"] == 3

    def test_operator_names_in_the_graph_and_charts_are_text(self, page):
        graph = {
            "nodes": [
                {"node_id": 1, "operator": XSS, "description": XSS, "parallelism": 1},
                {"node_id": 2, "operator": "sink", "description": "", "parallelism": 1},
            ],
            "edges": [{"src_id": 1, "dest_id": 2}],
        }
        groups = metric_groups(points=3)
        state = {
            "pipeline_name": XSS,
            "error": "",
            "operators": operator_rows(groups, graph),
            "figure_json": charts.metrics_figure(groups, graph).to_json(),
            "graph_json": charts.pipeline_graph(graph, groups).to_json(),
            "per_subtask": False,
            "window_s": 300.0,
        }
        mount(page, "metrics", state)
        page.wait_for_selector("#w .arroyo-plot-graph .main-svg", timeout=20_000)
        page.wait_for_selector("#w .arroyo-plot-metrics .main-svg", timeout=20_000)
        expect(page.locator("#w .arroyo-plot-graph .annotation-text").first).to_contain_text("<img src=x")
        expect(page.locator("#w .arroyo-plot-metrics .legendtext").first).to_contain_text("<img src=x")
        assert_no_xss(page)
