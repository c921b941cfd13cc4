"""MetricsWidget: events in/out per second and backpressure over the last 5 minutes."""

from __future__ import annotations

from typing import Any

import traitlets as t

from .. import charts
from ..states import TERMINAL_STATES, parse_state
from ._base import ArroyoWidget, PlotlyHost, esc
from ._source import Source, short_error


def operator_rows(groups: Any, graph: Any) -> list[dict]:
    """Per operator now: events in/out per second, backpressure and its level."""
    rates = charts.latest_rates(groups)
    bp = charts.latest_backpressure(groups)
    nodes = list(charts._get(graph, "nodes") or []) if graph is not None else []
    ids = [charts._get(n, "node_id") for n in nodes] or sorted(set(rates.index) | set(bp))
    names = {charts._get(n, "node_id"): charts._get(n, "operator") for n in nodes}
    rows = []
    for i in ids:
        recv = float(rates.loc[i, "messages_recv"]) if i in rates.index and "messages_recv" in rates else 0.0
        sent = float(rates.loc[i, "messages_sent"]) if i in rates.index and "messages_sent" in rates else 0.0
        rows.append(
            {
                "node_id": i,
                "operator": names.get(i, str(i)),
                "recv": round(recv, 2),
                "sent": round(sent, 2),
                "backpressure": round(bp[i], 3) if i in bp else None,
                "level": charts.backpressure_level(bp[i]) if i in bp else None,
            }
        )
    return rows


class MetricsWidget(PlotlyHost, ArroyoWidget):
    """``MetricsWidget(pipeline, refresh=2.0)``."""

    _esm_name = "metrics"

    pipeline_name = t.Unicode("").tag(sync=True)
    operators = t.List().tag(sync=True)
    figure_json = t.Unicode("").tag(sync=True)

    def __init__(self, pipeline: Any, *, refresh: float = 2.0, **kwargs: Any) -> None:
        if refresh < 0:
            raise ValueError("refresh must be >= 0 seconds (0 turns live refresh off)")
        self._source = Source(pipeline)
        super().__init__(pipeline_name=self._source.name, **kwargs)
        self._refresh = refresh
        self._last: Any = None
        self._poller = self._poll("metrics", self._poll_once)

    def update(self) -> None:
        groups = self._source.metrics()
        if groups == self._last:
            return
        self._last = groups
        graph = self._source.graph
        with self.hold_sync():
            self.figure_json = charts.metrics_figure(groups, graph).to_json()
            self.operators = operator_rows(groups, graph)

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
                f"  {r['node_id']} {r['operator']}: in {r['recv']}/s, out {r['sent']}/s, backpressure {r['level'] or 'n/a'}"
            )
        return "\n".join(lines)

    def _snapshot_html(self) -> str:
        rows = "".join(
            f"<tr><td>{esc(r['node_id'])}</td><td>{esc(r['operator'])}</td><td>{esc(r['recv'])}</td>"
            f"<td>{esc(r['sent'])}</td><td>{esc(r['level'] or 'n/a')}</td></tr>"
            for r in self.operators
        )
        return (
            f"<b>Metrics of {esc(self.pipeline_name)}</b><table><tr><th>node</th><th>operator</th>"
            f"<th>events in/s</th><th>events out/s</th><th>backpressure</th></tr>{rows}</table>"
        )
