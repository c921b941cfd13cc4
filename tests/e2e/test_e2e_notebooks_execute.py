"""Every teaching notebook runs top to bottom headless (nbclient, embedded engine) and
produces what its story promises; the executed copy renders to HTML for a reader.

Each test runs the committed notebook as is, then asks the same kernel a probe
expression about the objects the notebook made (rows, handles, frames), and reads the
saved outputs a reader would see.
"""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

pytestmark = pytest.mark.slow


def test_sql_iteration(execute_notebook) -> None:
    run = execute_notebook(
        NOTEBOOKS / "sql_iteration.ipynb",
        probe="""{
            'expensive': len(expensive), 'min_price': float(expensive['price'].min()),
            'changes': len(changes), 'buckets': sorted(int(b) for b in result['bucket']),
            'running': str(running.state), 'live_rows': len(live),
        }""",
    )
    p = run.probe
    assert p["expensive"] == 50 and p["min_price"] > 5_000_000
    assert p["changes"] == 40
    assert p["buckets"] == [0, 1, 2, 3, 4]
    assert p["running"] == "Running" and p["live_rows"] >= 1
    first_validate = run.notebook.cells[
        [c.source.startswith("%%arroyo validate") for c in run.notebook.cells].index(True)
    ]
    shown = "".join(o.get("text", "") + o.get("evalue", "") for o in first_validate.outputs)
    assert "prise" in shown and "^" in shown  # the mistake is named and pointed at


def test_checkpoint_analysis(execute_notebook) -> None:
    run = execute_notebook(
        NOTEBOOKS / "checkpoint_analysis.ipynb",
        probe="""{
            'per_pipeline': summary.reset_index()[['pipeline', 'interval_s', 'parallelism', 'checkpoints']].to_dict('records'),
            'durations_positive': bool((stats['duration_ms'] > 0).all()), 'bytes_positive': bool((stats['bytes'] > 0).all()),
            'epoch': epoch, 'span_rows': len(spans), 'choice': choice, 'advice': advice,
        }""",
    )
    p = run.probe
    rows = {r["pipeline"]: r for r in p["per_pipeline"]}
    assert rows["cp_fast"]["interval_s"] == 1 and rows["cp_fast"]["parallelism"] == 1
    assert rows["cp_slow"]["interval_s"] == 2 and rows["cp_slow"]["parallelism"] == 2
    assert all(r["checkpoints"] >= 4 for r in rows.values())
    assert p["durations_positive"] and p["bytes_positive"]
    assert p["span_rows"] > 0
    assert p["choice"] in (1.0, 2.0, None) and p["advice"]
    assert "Decision:" in run.outputs_text()
    html = run.html_path.read_text()
    assert 'class="arroyo-snapshot"' in html  # the widgets' static snapshots
    assert "plotly-graph-div" in html and "Duration" in html  # %arroyo checkpoints' charts, saved as HTML too


def test_troubleshooting(execute_notebook) -> None:
    run = execute_notebook(
        NOTEBOOKS / "troubleshooting.ipynb",
        probe="""{
            'failed': str(failed.state), 'reason': str(reason),
            'first_page': len(first_page.data), 'has_more': bool(first_page.has_more),
            'errors': len(all_errors), 'groups': grouped['count'].to_dict(),
            'done': str(done.state), 'copied': len(copied), 'fixed': len(fixed),
        }""",
    )
    p = run.probe
    assert p["failed"] == "Failed" and "bad data" in (p["reason"] or "")
    assert p["first_page"] == 10 and p["has_more"]
    # 6 cut-off lines, 6 decimal-comma amounts, 1 line of log noise
    assert p["errors"] == 13 and len(p["groups"]) >= 2 and sum(p["groups"].values()) == 13
    assert p["done"] == "Finished"
    assert p["copied"] == p["fixed"] == 59
    html = run.html_path.read_text()
    assert 'class="arroyo-snapshot"' in html and "Errors of scan_orders" in html
