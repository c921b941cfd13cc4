"""Dashboard: one pipeline's state header and tabs for output, errors, checkpoints, metrics, graph."""

from __future__ import annotations

from typing import Any

import ipywidgets as ipw

from .. import charts
from ._base import esc
from ._source import Source
from .checkpoints import CheckpointsWidget
from .errors import ErrorsWidget
from .figure import FigureView
from .job_state import JobStateWidget
from .metrics import MetricsWidget
from .output_table import OutputTable

TABS = ("Output", "Errors", "Checkpoints", "Metrics", "Graph")


def has_preview_sink(graph: Any) -> bool:
    """Arroyo serves /output only when a graph node's operator contains "preview"."""
    nodes = charts._get(graph, "nodes") or [] if graph is not None else []
    return any("preview" in str(charts._get(n, "operator") or "") for n in nodes)


class Dashboard(ipw.VBox):
    """``Dashboard(pipeline)``: ``.state``, ``.output``, ``.errors``, ``.checkpoints``,
    ``.metrics`` and ``.graph`` are the widgets inside; ``close()`` closes them all."""

    def __init__(self, pipeline: Any, **kwargs: Any) -> None:
        source = Source(pipeline)
        handle = source.pipeline
        self.state = JobStateWidget(handle)
        self.output: OutputTable | None = OutputTable(handle) if has_preview_sink(source.graph) else None
        self.errors = ErrorsWidget(handle)
        self.checkpoints = CheckpointsWidget(handle)
        self.metrics = MetricsWidget(handle)
        self.graph = FigureView(charts.pipeline_graph(source.graph))
        no_output = ipw.HTML("<i>This pipeline has no preview (web) sink, so there is no output to show.</i>")
        self.tabs = ipw.Tab(
            children=[self.output or no_output, self.errors, self.checkpoints, self.metrics, self.graph],
            titles=TABS,
        )
        self.tabs.add_class("arroyo-dashboard-tabs")
        super().__init__(children=[self.state, self.tabs], **kwargs)
        self.add_class("arroyo-dashboard")

    @property
    def parts(self) -> list[Any]:
        return [
            w for w in (self.state, self.output, self.errors, self.checkpoints, self.metrics, self.graph) if w
        ]

    def close(self) -> None:
        for w in self.parts:
            w.close()
        self.tabs.close()
        super().close()

    def __repr__(self) -> str:
        return f"Dashboard({self.state!r})"

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data, meta = bundle if isinstance(bundle, tuple) else (bundle or {}, {})
        data = dict(data)
        data["text/plain"] = "\n".join(w._snapshot_text() for w in self.parts)
        data["text/html"] = (
            '<div class="arroyo-snapshot">'
            + "<hr>".join(f"<div>{w._snapshot_html()}</div>" for w in self.parts)
            + "</div>"
        )
        return data, meta


__all__ = ["Dashboard", "esc"]
