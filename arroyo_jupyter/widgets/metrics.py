"""MetricsWidget: per operator events in/out per second and backpressure, a table and the
charts of the same numbers over the last 5 minutes, and the pipeline graph."""

from __future__ import annotations

from typing import Any

import pandas as pd
import traitlets as t

from .. import charts, frames
from ..states import TERMINAL_STATES, parse_state
from ._base import ArroyoWidget, PlotlyHost, esc
from ._source import Source, short_error


def operator_rows(groups: Any, graph: Any, window_s: float = frames.METRICS_WINDOW_S) -> list[dict]:
    """The table beside the chart: ``frames.operator_summary_frame``, the last point of each
    line the chart draws (events/s summed over subtasks, backpressure the worst subtask)."""
    table = frames.operator_summary_frame(groups, graph, window_s=window_s)

    def num(v: Any) -> float | None:
        return None if pd.isna(v) else float(v)

    return [
        {
            "node_id": int(r.node_id),
            "operator": str(r.operator),
            "parallelism": None if pd.isna(r.parallelism) else int(r.parallelism),
            "recv": num(r.messages_recv),
            "sent": num(r.messages_sent),
            "backpressure": num(r.backpressure),
            "level": r.backpressure_level,
            "colour": charts.operator_colour(int(r.node_id)),
        }
        for r in table.itertuples()
    ]


class MetricsWidget(PlotlyHost, ArroyoWidget):
    """``MetricsWidget(pipeline, refresh=2.0)``."""

    _esm_name = "metrics"

    pipeline_name = t.Unicode("").tag(sync=True)
    operators: t.List[Any] = t.List().tag(sync=True)  # the table: each operator's latest numbers
    figure_json = t.Unicode("").tag(sync=True)
    graph_json = t.Unicode("").tag(sync=True)
    per_subtask = t.Bool(False).tag(sync=True)  # one line per subtask instead of their sum
    window_s = t.Float(frames.METRICS_WINDOW_S).tag(sync=True)

    def __init__(self, pipeline: Any, *, refresh: float = 2.0, **kwargs: Any) -> None:
        if refresh < 0:
            raise ValueError("refresh must be >= 0 seconds (0 turns live refresh off)")
        self._source = Source(pipeline)
        super().__init__(pipeline_name=self._source.name, **kwargs)
        self._refresh = refresh
        self._last: Any = None
        self._poller = self._poll("metrics", self._poll_once)

    def update(self, force: bool = False) -> None:
        groups = self._source.metrics()
        if groups == self._last and not force:
            return
        self._last = groups
        graph = self._source.graph
        window = self.window_s
        figure = charts.metrics_figure(groups, graph, window_s=window, per_subtask=self.per_subtask)
        rows = operator_rows(groups, graph, window)
        with self.hold_sync():  # table, chart and graph from the same groups and window
            self.figure_json = figure.to_json()
            self.graph_json = charts.pipeline_graph(graph, groups, window_s=window).to_json()
            self.operators = rows  # last: it signals "all of this update is in"

    @t.observe("per_subtask", "window_s")
    def _redraw(self, _change: dict) -> None:
        if self._last is not None:
            self._background(lambda: self.update(force=True), "metrics-redraw")

    def _poll_once(self) -> float | None:
        if self.closed:
            return None
        try:
            self.update()
            self.error = ""
        except Exception as exc:
            self.error = short_error(exc)
        if not self._refresh:
            return None
        try:
            if parse_state(str(getattr(self._source.job(), "state", "Running"))) in TERMINAL_STATES:
                return None
        except Exception:
            pass
        return self._refresh

    def _msg_refresh(self, _content: dict, _buffers: list) -> None:
        self._poller.wake()

    def _snapshot_text(self) -> str:
        lines = [f"MetricsWidget {self.pipeline_name}"]
        for r in self.operators:
            lines.append(
                f"  {r['node_id']} {r['operator']}: in {_num(r['recv'])}/s, out {_num(r['sent'])}/s, "
                f"backpressure {r['level'] or 'n/a'}"
            )
        return "\n".join(lines)

    def _snapshot_html(self) -> str:
        rows = "".join(
            f"<tr><td>{esc(r['node_id'])}</td><td>{esc(r['operator'])}</td><td>{esc(_num(r['recv']))}</td>"
            f"<td>{esc(_num(r['sent']))}</td><td>{esc(r['level'] or 'n/a')}</td></tr>"
            for r in self.operators
        )
        return (
            f"<b>Metrics of {esc(self.pipeline_name)}</b><table><tr><th>node</th><th>operator</th>"
            f"<th>events in/s</th><th>events out/s</th><th>backpressure</th></tr>{rows}</table>"
        )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"
