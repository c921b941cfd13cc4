"""``Pipeline`` and ``Job`` handles: API models bound to the client that fetched them.

A handle shows its model's fields as attributes (``p.name``, ``j.run_id``; the
pipeline's ``stop`` field is ``stop_mode`` because ``stop()`` is a method) and adds
the console's actions. Job state semantics come from :mod:`arroyo_jupyter.states`.

Handles build their requests with :mod:`._protocol` and need of their client only the
small public :class:`~._protocol.Sender` protocol (``send(call)``, ``stream_output``,
``follow_output``): this module does not import the client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ..states import JobState, StopType, parse_state, parse_stop_mode
from . import _protocol as ops
from . import models as m
from ._protocol import AsyncSender, Page, Sender
from .errors import ArgumentError, ArroyoError, JobFailedError, NotFoundError, WaitTimeout
from .watch import nudge_pipeline

if TYPE_CHECKING:
    from .follow import OutputFollower
    from .stream import AsyncOutputStream, OutputStream
    from .watch import Subscription

__all__ = ["AsyncJob", "AsyncPipeline", "Job", "Pipeline"]

T = TypeVar("T")
States = str | JobState | Iterable[str | JobState]


def _targets(states: States) -> frozenset[JobState]:
    if isinstance(states, (str, JobState)):
        states = [states]
    try:
        targets = frozenset(parse_state(s) for s in states)
    except ValueError as exc:
        raise ArgumentError(str(exc)) from None
    if not targets:
        raise ArgumentError("wait_for needs at least one state, e.g. 'Running'")
    return targets


def _stop_mode(mode: str | StopType) -> StopType:
    try:
        return parse_stop_mode(mode)
    except ValueError as exc:
        raise ArgumentError(str(exc)) from None


def first_job(pipeline_id: str, jobs: list[T]) -> T:
    """The pipeline's job (newest first; Arroyo has one job per pipeline)."""
    if not jobs:
        raise NotFoundError(404, f"pipeline {pipeline_id} has no job", method="GET", path="/jobs")
    return jobs[0]


class _Waiter:
    """Deadline, growing poll interval, and the 'went to Failed meanwhile' rule."""

    def __init__(self, states: States, timeout: float, what: str) -> None:
        self.targets = _targets(states)
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.delay = 0.05
        self.what = what
        self._seen_other = False

    def check(self, job: Any) -> float | None:
        """None when done (job in a target state); else seconds to wait; raises on failure/timeout."""
        state = job.state
        if state in self.targets:
            return None
        if state is JobState.FAILED and self._seen_other:
            raise JobFailedError(
                f"{self.what} failed while waiting for {self._names()}: {job.failure or 'no reason given'}"
            )
        if state is not JobState.FAILED:
            self._seen_other = True
        left = self.deadline - time.monotonic()
        if left <= 0:
            extra = f" ({job.failure})" if job.failure else ""
            raise WaitTimeout(
                f"{self.what} is still {state} after {self.timeout:g}s, not {self._names()}{extra}"
            )
        delay = min(self.delay, left)
        self.delay = min(self.delay * 2, 1.0)
        return delay

    def _names(self) -> str:
        return " or ".join(sorted(s.value for s in self.targets))


class _PipelineView:
    def __init__(self, client: Any, model: m.Pipeline) -> None:  # a Sender or an AsyncSender
        self._client = client
        self.model = model

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.model.__struct_fields__))

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def stop_mode(self) -> StopType | str | None:
        """The pipeline's ``stop`` field: none means it should be running."""
        return m.as_stop_type(self.model.stop)

    def __repr__(self) -> str:
        # Only what does not change while it runs: its state belongs to job() (or a live view).
        kind = "preview" if self.model.preview else "pipeline"
        return f"<{type(self).__name__} {self.model.id} {self.model.name!r} ({kind})>"


class _JobView:
    def __init__(self, client: Any, pipeline_id: str, model: m.Job) -> None:
        self._client = client
        self.pipeline_id = pipeline_id
        self.model = model

    @property
    def model(self) -> m.Job:
        """The job as the server last described it (at ``fetched_at``, seconds since the epoch)."""
        return self._model

    @model.setter
    def model(self, value: m.Job) -> None:
        self._model = value
        self.fetched_at = time.time()  # a job's state is a snapshot: its repr says when

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.model.__struct_fields__))

    @property
    def id(self) -> str:
        return self.model.id

    @property
    def state(self) -> JobState | str:
        return self.model.job_state

    @property
    def running_desired(self) -> bool:
        return self.model.running_desired

    @property
    def failure(self) -> str | None:
        return self.model.failure

    def __repr__(self) -> str:
        tasks = "" if self.model.tasks is None else f", tasks={self.model.tasks}"
        failure = f", failure={self.failure!r}" if self.failure else ""
        as_of = time.strftime("%H:%M:%S", time.localtime(self.fetched_at))
        return (
            f"<{type(self).__name__} {self.model.id} of {self.pipeline_id}: {self.model.state} as of {as_of} "
            f"(running_desired={self.model.running_desired}, run_id={self.model.run_id}{tasks}{failure})>"
        )


class _SyncActions:
    """Console actions shared by the sync Pipeline and Job handles."""

    _client: Sender

    def _pid(self) -> str:
        raise NotImplementedError

    def _jid(self) -> str:
        raise NotImplementedError

    def _patched(self, model: m.Pipeline) -> None:
        """Hook: a Pipeline handle keeps the PATCH/restart answer."""

    def _acted(self) -> None:
        # views of this pipeline (its watcher) poll fast now, not at their next tick
        nudge_pipeline(self._client, self._pid())

    def stop(self, mode: str | StopType = "checkpoint") -> Any:
        """Stop the job: checkpoint (default) | graceful | immediate | force."""
        self._patched(self._client.send(ops.patch_pipeline(self._pid(), stop=_stop_mode(mode))))
        self._acted()
        return self

    def start(self, ignore_state: bool = False) -> Any:
        """Run a stopped job (PATCH stop=none); ``ignore_state`` first drops its state."""
        if ignore_state:
            self._client.send(ops.restart_pipeline(self._pid(), ignore_state=True))
        self._patched(self._client.send(ops.patch_pipeline(self._pid(), stop=StopType.NONE)))
        self._acted()
        return self

    def restart(self, force: bool = False, ignore_state: bool = False) -> Any:
        """Restart a running or failed job (a stopped one needs start())."""
        self._patched(
            self._client.send(ops.restart_pipeline(self._pid(), force=force, ignore_state=ignore_state))
        )
        self._acted()
        return self

    def rescale(self, parallelism: int) -> Any:
        self._patched(self._client.send(ops.patch_pipeline(self._pid(), parallelism=parallelism)))
        self._acted()
        return self

    def delete(self) -> None:
        """Delete the pipeline (its job must be Stopped, Finished or Failed)."""
        self._client.send(ops.delete_pipeline(self._pid()))
        self._acted()

    def errors(self, limit: int | None = None, starting_after: str | None = None) -> Page[m.JobLogMessage]:
        return self._client.send(
            ops.get_job_errors(self._pid(), self._jid(), limit=limit, starting_after=starting_after)
        )

    def iter_errors(self, page_size: int = 100) -> Iterator[m.JobLogMessage]:
        pid, jid = self._pid(), self._jid()
        return ops.iter_pages(
            lambda after: self._client.send(
                ops.get_job_errors(pid, jid, limit=page_size, starting_after=after)
            )
        )

    def checkpoints(self) -> list[m.Checkpoint]:
        return self._client.send(ops.get_checkpoints(self._pid(), self._jid()))

    def checkpoint_details(self, epoch: int) -> list[m.OperatorCheckpointGroup]:
        return self._client.send(ops.get_checkpoint_details(self._pid(), self._jid(), epoch))

    def metrics(self) -> list[m.OperatorMetricGroup]:
        return self._client.send(ops.get_operator_metric_groups(self._pid(), self._jid()))

    def output(self) -> OutputStream:
        return self._client.stream_output(self._pid(), self._jid())

    def follow_output(self, runs: int | None = None, poll_s: float = 0.5) -> OutputFollower:
        """The output across runs, with RunBoundary markers (see Client.follow_output)."""
        return self._client.follow_output(self._pid(), runs=runs, poll_s=poll_s)

    def _fetch_job(self) -> Job:
        raise NotImplementedError

    def wait_for(self, states: States, timeout: float = 60.0) -> Job:
        """Poll until the job is in one of ``states``; TimeoutError after ``timeout`` s.

        Raises ArroyoError if the job goes to Failed meanwhile (and Failed was not asked for).
        """
        waiter = _Waiter(states, timeout, f"pipeline {self._pid()}")
        while True:
            job = self._fetch_job()
            delay = waiter.check(job)
            if delay is None:
                return job
            time.sleep(delay)


class Pipeline(_PipelineView, _SyncActions):
    """A pipeline on the server (sync). See the module docstring."""

    _client: Sender

    def _pid(self) -> str:
        return self.model.id

    def _jid(self) -> str:
        return self.job().id

    def _patched(self, model: m.Pipeline) -> None:
        self.model = model

    def _fetch_job(self) -> Job:
        return self.job()

    def refresh(self) -> Pipeline:
        self.model = self._client.send(ops.get_pipeline(self.model.id))
        return self

    def job(self) -> Job:
        """The pipeline's current job, fresh from the server."""
        return first_job(self.model.id, self.jobs())

    def jobs(self) -> list[Job]:
        models = self._client.send(ops.get_pipeline_jobs(self.model.id))
        return [Job(self._client, j.pipeline_id or self.model.id, j) for j in models]

    def watch(self, callback: Any = None, *, refresh_interval: float = 5.0) -> Subscription:
        """Follow the job with the pipeline's one watcher (shared with every widget of it):
        ``callback(event)`` per change, or iterate the subscription; ``close()`` it when done."""
        from .watch import watch

        return watch(self, callback, refresh_interval=refresh_interval)


class Job(_JobView, _SyncActions):
    """A pipeline's job (sync); actions act on its pipeline."""

    _client: Sender

    def _pid(self) -> str:
        return self.pipeline_id

    def _jid(self) -> str:
        return self.model.id

    def _fetch_job(self) -> Job:
        return self.refresh()

    def refresh(self) -> Job:
        for job in self._client.send(ops.get_pipeline_jobs(self.pipeline_id)):
            if job.id == self.model.id:
                self.model = job
                return self
        raise ArroyoError(f"job {self.model.id} is no longer listed under pipeline {self.pipeline_id}")

    def pipeline(self) -> Pipeline:
        return Pipeline(self._client, self._client.send(ops.get_pipeline(self.pipeline_id)))


class _AsyncActions:
    """Console actions shared by the async Pipeline and Job handles."""

    _client: AsyncSender

    def _pid(self) -> str:
        raise NotImplementedError

    async def _jid(self) -> str:
        raise NotImplementedError

    def _patched(self, model: m.Pipeline) -> None:
        pass

    async def stop(self, mode: str | StopType = "checkpoint") -> Any:
        self._patched(await self._client.send(ops.patch_pipeline(self._pid(), stop=_stop_mode(mode))))
        return self

    async def start(self, ignore_state: bool = False) -> Any:
        if ignore_state:
            await self._client.send(ops.restart_pipeline(self._pid(), ignore_state=True))
        self._patched(await self._client.send(ops.patch_pipeline(self._pid(), stop=StopType.NONE)))
        return self

    async def restart(self, force: bool = False, ignore_state: bool = False) -> Any:
        call = ops.restart_pipeline(self._pid(), force=force, ignore_state=ignore_state)
        self._patched(await self._client.send(call))
        return self

    async def rescale(self, parallelism: int) -> Any:
        self._patched(await self._client.send(ops.patch_pipeline(self._pid(), parallelism=parallelism)))
        return self

    async def delete(self) -> None:
        await self._client.send(ops.delete_pipeline(self._pid()))

    async def errors(
        self, limit: int | None = None, starting_after: str | None = None
    ) -> Page[m.JobLogMessage]:
        call = ops.get_job_errors(self._pid(), await self._jid(), limit=limit, starting_after=starting_after)
        return await self._client.send(call)

    async def checkpoints(self) -> list[m.Checkpoint]:
        return await self._client.send(ops.get_checkpoints(self._pid(), await self._jid()))

    async def checkpoint_details(self, epoch: int) -> list[m.OperatorCheckpointGroup]:
        return await self._client.send(ops.get_checkpoint_details(self._pid(), await self._jid(), epoch))

    async def metrics(self) -> list[m.OperatorMetricGroup]:
        return await self._client.send(ops.get_operator_metric_groups(self._pid(), await self._jid()))

    async def output(self) -> AsyncOutputStream:
        return await self._client.stream_output(self._pid(), await self._jid())

    async def _fetch_job(self) -> AsyncJob:
        raise NotImplementedError

    async def wait_for(self, states: States, timeout: float = 60.0) -> AsyncJob:
        waiter = _Waiter(states, timeout, f"pipeline {self._pid()}")
        while True:
            job = await self._fetch_job()
            delay = waiter.check(job)
            if delay is None:
                return job
            await asyncio.sleep(delay)


class AsyncPipeline(_PipelineView, _AsyncActions):
    """A pipeline on the server (async): the same methods as Pipeline, as coroutines."""

    _client: AsyncSender

    def _pid(self) -> str:
        return self.model.id

    async def _jid(self) -> str:
        return (await self.job()).id

    def _patched(self, model: m.Pipeline) -> None:
        self.model = model

    async def _fetch_job(self) -> AsyncJob:
        return await self.job()

    async def refresh(self) -> AsyncPipeline:
        self.model = await self._client.send(ops.get_pipeline(self.model.id))
        return self

    async def job(self) -> AsyncJob:
        return first_job(self.model.id, await self.jobs())

    async def jobs(self) -> list[AsyncJob]:
        models = await self._client.send(ops.get_pipeline_jobs(self.model.id))
        return [AsyncJob(self._client, j.pipeline_id or self.model.id, j) for j in models]


class AsyncJob(_JobView, _AsyncActions):
    """A pipeline's job (async)."""

    _client: AsyncSender

    def _pid(self) -> str:
        return self.pipeline_id

    async def _jid(self) -> str:
        return self.model.id

    async def _fetch_job(self) -> AsyncJob:
        return await self.refresh()

    async def refresh(self) -> AsyncJob:
        for job in await self._client.send(ops.get_pipeline_jobs(self.pipeline_id)):
            if job.id == self.model.id:
                self.model = job
                return self
        raise ArroyoError(f"job {self.model.id} is no longer listed under pipeline {self.pipeline_id}")

    async def pipeline(self) -> AsyncPipeline:
        return AsyncPipeline(self._client, await self._client.send(ops.get_pipeline(self.pipeline_id)))
