"""Live views of one pipeline, made the same way for the magics and for scripts.

Each function takes a pipeline handle and the refresh interval (seconds between polls)
and returns an anywidget/ipywidgets view; displaying it is the caller's business.
"""

from __future__ import annotations

import inspect
from typing import Any

from .api import Pipeline


def _with_interval(cls: type, *args: Any, refresh_interval: float, **kwargs: Any) -> Any:
    # Widgets take `refresh_interval`; until every one does (issue 17), older ones take
    # `refresh` for the same thing, and a widget without either refreshes on its own rules.
    params = inspect.signature(cls).parameters
    for name in ("refresh_interval", "refresh"):
        if name in params:
            return cls(*args, **{name: refresh_interval}, **kwargs)
    return cls(*args, **kwargs)


def state_view(pipeline: Pipeline, *, refresh_interval: float) -> Any:
    """The live job state (with Stop / Start / Restart)."""
    from .widgets import JobStateWidget

    return _with_interval(JobStateWidget, pipeline, refresh_interval=refresh_interval)


def output_table(pipeline: Pipeline, *, max_rows: int = 100_000) -> Any:
    """The live output table (follows the pipeline over runs)."""
    from .widgets import OutputTable

    return OutputTable(pipeline, max_rows=max_rows)


def metrics_view(pipeline: Pipeline, *, refresh_interval: float) -> Any:
    from .widgets import MetricsWidget

    return _with_interval(MetricsWidget, pipeline, refresh_interval=refresh_interval)


def dashboard(pipeline: Pipeline, *, refresh_interval: float) -> Any:
    """State header and tabs for output, errors, checkpoints, metrics and graph."""
    from .widgets import Dashboard

    return _with_interval(Dashboard, pipeline, refresh_interval=refresh_interval)
