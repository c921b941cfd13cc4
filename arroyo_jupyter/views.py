"""Live views of one pipeline, made the same way for the magics and for scripts.

Each function takes a pipeline handle and the refresh interval (seconds between polls)
and returns an anywidget/ipywidgets view; displaying it is the caller's business.
"""

from __future__ import annotations

from typing import Any

from .api import Pipeline


def state_view(pipeline: Pipeline, *, refresh_interval: float) -> Any:
    """The live job state (with Stop / Start / Restart)."""
    from .widgets import JobStateWidget

    return JobStateWidget(pipeline, refresh_interval=refresh_interval)


def output_table(pipeline: Pipeline, *, max_rows: int = 100_000) -> Any:
    """The live output table (follows the pipeline over runs)."""
    from .widgets import OutputTable

    return OutputTable(pipeline, max_rows=max_rows)


def metrics_view(pipeline: Pipeline, *, refresh_interval: float) -> Any:
    from .widgets import MetricsWidget

    return MetricsWidget(pipeline, refresh=refresh_interval)  # its name for the same setting


def dashboard(pipeline: Pipeline, *, refresh_interval: float) -> Any:
    """State header and tabs for output, errors, checkpoints, metrics and graph."""
    from .widgets import Dashboard

    return Dashboard(pipeline, refresh_interval=refresh_interval)
