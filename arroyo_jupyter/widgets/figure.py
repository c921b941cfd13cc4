"""FigureView: any Plotly figure as a small anywidget (plotly.js comes from the kernel)."""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
import traitlets as t

from ._base import ArroyoWidget, PlotlyHost, esc


class FigureView(PlotlyHost, ArroyoWidget):
    """``FigureView(fig)``; assign ``.figure = fig`` to redraw."""

    _esm_name = "figure"

    figure_json = t.Unicode("").tag(sync=True)
    title = t.Unicode("").tag(sync=True)

    def __init__(self, figure: go.Figure | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if figure is not None:
            self.figure = figure

    @property
    def figure(self) -> go.Figure | None:
        return go.Figure(json.loads(self.figure_json)) if self.figure_json else None

    @figure.setter
    def figure(self, fig: go.Figure) -> None:
        self.title = str(fig.layout.title.text or "")
        self.figure_json = fig.to_json()

    def _snapshot_text(self) -> str:
        return f"FigureView: {self.title or 'figure'}"

    def _snapshot_html(self) -> str:
        return f"<b>{esc(self.title or 'figure')}</b>"
