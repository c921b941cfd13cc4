"""The one place widgets reach Arroyo: a thin adapter over a pipeline (or job) handle.

Widgets accept what the client returns (``Pipeline`` or ``Job`` handles from
``arroyo_jupyter.api``) and call only the handle methods the README documents.
"""

from __future__ import annotations

import threading
from typing import Any

from ..api.watch import existing_watcher

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

    def parallelism(self) -> int:
        """The largest operator parallelism in the pipeline's graph (0 when unknown)."""
        graph = self.graph
        nodes = (
            getattr(graph, "nodes", None) or (graph.get("nodes") if isinstance(graph, dict) else None) or []
        )
        return max(
            (
                int(
                    getattr(n, "parallelism", None) or (n.get("parallelism", 0) if isinstance(n, dict) else 0)
                )
                for n in nodes
            ),
            default=0,
        )

    # state
    def job(self) -> Any:
        """The current job: the pipeline watcher's latest poll while one runs and is fresh
        (views of one pipeline share its poll loop), else fetched now."""
        watcher = existing_watcher(self.pipeline)
        cached = watcher.cached_job() if watcher is not None else None
        return cached if cached is not None else self.pipeline.job()

    def refresh(self) -> Any:
        return self.pipeline.refresh()

    # actions
    def stop(self, mode: str) -> Any:
        return self.pipeline.stop(mode=mode)

    def start(self, ignore_state: bool = False) -> Any:
        return self.pipeline.start(ignore_state=ignore_state)

    def restart(self, ignore_state: bool = False) -> Any:
        return self.pipeline.restart(ignore_state=ignore_state)

    # data: through the client with the (watcher-shared) job id, so a data call does not
    # fetch the job again the way a handle method would; fakes and other handles use theirs.
    def _client_call(self, name: str) -> Any:
        client = getattr(self.pipeline, "_client", None)
        return getattr(client, name, None)

    def errors_page(self, limit: int, starting_after: str | None = None) -> Any:
        """One page of the current job's error log (``.data``, ``.has_more``)."""
        get = self._client_call("get_job_errors")
        if get is not None:
            return get(self.id, self.job().id, limit=limit, starting_after=starting_after)
        return self.pipeline.errors(limit=limit, starting_after=starting_after)

    def checkpoints(self) -> list[Any]:
        get = self._client_call("get_checkpoints")
        return list(get(self.id, self.job().id) if get is not None else self.pipeline.checkpoints())

    def checkpoint_details(self, epoch: int) -> list[Any]:
        get = self._client_call("get_checkpoint_details")
        if get is not None:
            return list(get(self.id, self.job().id, epoch))
        return list(self.pipeline.checkpoint_details(epoch))

    def metrics(self) -> list[Any]:
        get = self._client_call("get_operator_metric_groups")
        return list(get(self.id, self.job().id) if get is not None else self.pipeline.metrics())

    def output(self) -> Any:
        get = self._client_call("stream_output")
        return get(self.id, self.job().id) if get is not None else self.pipeline.output()

    def follow_output(self, wake: threading.Event | None = None) -> Any | None:
        """The output across runs (``OutputFollower``), or None if the handle cannot follow;
        ``wake``: the follower looks at a job that is not running only when it is set."""
        follow = getattr(self.pipeline, "follow_output", None)
        return follow(wake=wake) if callable(follow) else None
