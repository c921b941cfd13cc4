"""The one place widgets reach Arroyo: a thin adapter over a pipeline (or job) handle.

Widgets accept what the client returns (``Pipeline`` or ``Job`` handles from
``arroyo_jupyter.api``) and call only the handle methods the README documents.
"""

from __future__ import annotations

from typing import Any

_HANDLE_METHODS = ("job", "refresh", "stop", "start", "restart")


def short_error(exc: BaseException) -> str:
    """One line for the widget: the server's message, never a traceback."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def as_pipeline(handle: Any) -> Any:
    """The pipeline handle behind ``handle`` (a Pipeline handle, or a Job handle's pipeline)."""
    if all(callable(getattr(handle, m, None)) for m in _HANDLE_METHODS):
        return handle
    pipeline = getattr(handle, "pipeline", None)
    if callable(pipeline) and not all(callable(getattr(pipeline, m, None)) for m in _HANDLE_METHODS):
        pipeline = pipeline()  # a Job handle's pipeline() fetches its Pipeline handle
    if pipeline is not None and all(callable(getattr(pipeline, m, None)) for m in _HANDLE_METHODS):
        return pipeline
    raise TypeError(
        f"widgets need a pipeline handle (from Client.get_pipeline / create_pipeline / create_preview), "
        f"got {type(handle).__name__}"
    )


class Source:
    """What the widgets need from a pipeline, as calls on its handle."""

    def __init__(self, handle: Any) -> None:
        self.pipeline = as_pipeline(handle)

    # identity
    @property
    def id(self) -> str:
        return str(getattr(self.pipeline, "id", ""))

    @property
    def name(self) -> str:
        return str(getattr(self.pipeline, "name", "") or self.id)

    @property
    def preview(self) -> bool:
        return bool(getattr(self.pipeline, "preview", False))

    @property
    def graph(self) -> Any:
        return getattr(self.pipeline, "graph", None)

    @property
    def checkpoint_interval_micros(self) -> int | None:
        return getattr(self.pipeline, "checkpoint_interval_micros", None)

    # state
    def job(self) -> Any:
        return self.pipeline.job()

    def refresh(self) -> Any:
        return self.pipeline.refresh()

    # actions
    def stop(self, mode: str) -> Any:
        return self.pipeline.stop(mode=mode)

    def start(self, ignore_state: bool = False) -> Any:
        return self.pipeline.start(ignore_state=ignore_state)

    def restart(self, ignore_state: bool = False) -> Any:
        return self.pipeline.restart(ignore_state=ignore_state)

    # data
    def errors_page(self, limit: int, starting_after: str | None = None) -> Any:
        """One page of the current job's error log (``.data``, ``.has_more``)."""
        try:
            return self.pipeline.errors(limit=limit, starting_after=starting_after)
        except TypeError:
            # A handle whose errors() has no starting_after: page through the client.
            client = getattr(self.pipeline, "client", None) or getattr(self.pipeline, "_client", None)
            if client is None:
                raise
            job = self.job()
            return client.get_job_errors(self.id, job.id, limit=limit, starting_after=starting_after)

    def checkpoints(self) -> list[Any]:
        return list(self.pipeline.checkpoints())

    def checkpoint_details(self, epoch: int) -> list[Any]:
        return list(self.pipeline.checkpoint_details(epoch))

    def metrics(self) -> list[Any]:
        return list(self.pipeline.metrics())

    def output(self) -> Any:
        return self.pipeline.output()

    def follow_output(self) -> Any | None:
        """The output across runs (``OutputFollower``), or None if the handle cannot follow."""
        follow = getattr(self.pipeline, "follow_output", None)
        return follow() if callable(follow) else None
