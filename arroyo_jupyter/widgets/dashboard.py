"""Dashboard: one pipeline's state header and tabs for output, errors, checkpoints, metrics, graph."""

from __future__ import annotations

import inspect
from typing import Any

import ipywidgets as ipw

from .. import charts
from ..api.watch import STEADY_POLL, WatchEvent, watch
from ._base import ArroyoWidget, esc
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


def _with_interval(cls: type, handle: Any, refresh_interval: float) -> Any:
    """``cls(handle)`` with the dashboard's refresh interval, by whichever name it takes."""
    params = inspect.signature(cls).parameters
    for name in ("refresh_interval", "refresh"):
        if name in params:
            return cls(handle, **{name: refresh_interval})
    return cls(handle)


class Dashboard(ipw.VBox):
    """``Dashboard(pipeline, refresh_interval=5.0)``: ``.state``, ``.output``, ``.errors``,
    ``.checkpoints``, ``.metrics`` and ``.graph`` are the widgets inside; ``close()``
    closes them all.

    Every part learns the job's state from the pipeline's one watcher (api/watch.py):
    one poll loop for the whole dashboard. When the pipeline is deleted the parts stop
    polling and the header says so.
    """

    def __init__(self, pipeline: Any, refresh_interval: float = STEADY_POLL, **kwargs: Any) -> None:
        source = Source(pipeline)
        handle = source.pipeline
        self.state = JobStateWidget(handle, refresh_interval=refresh_interval)
        self.output: OutputTable | None = (
            _with_interval(OutputTable, handle, refresh_interval) if has_preview_sink(source.graph) else None
        )
        self.errors = _with_interval(ErrorsWidget, handle, refresh_interval)
        self.checkpoints = _with_interval(CheckpointsWidget, handle, refresh_interval)
        self.metrics = _with_interval(MetricsWidget, handle, refresh_interval)
        self.graph = FigureView(charts.pipeline_graph(source.graph))
        no_output = ipw.HTML("<i>This pipeline has no preview (web) sink, so there is no output to show.</i>")
        self.tabs = ipw.Tab(
            children=[self.output or no_output, self.errors, self.checkpoints, self.metrics, self.graph],
            titles=TABS,
        )
        self.tabs.add_class("arroyo-dashboard-tabs")
        super().__init__(children=[self.state, self.tabs], **kwargs)
        self.add_class("arroyo-dashboard")
        self.deleted = False
        self._sub = watch(handle, self._on_event, refresh_interval=refresh_interval)

    def _on_event(self, event: WatchEvent) -> None:
        if not event.deleted or self.deleted:
            return
        self.deleted = True
        self.add_class("arroyo-dashboard-deleted")
        for part in self.parts:
            if isinstance(part, ArroyoWidget) and part is not self.state:
                part.stop_polling()

    @property
    def parts(self) -> list[Any]:
        return [
            w for w in (self.state, self.output, self.errors, self.checkpoints, self.metrics, self.graph) if w
        ]

    def close(self) -> None:
        self._sub.close()
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
