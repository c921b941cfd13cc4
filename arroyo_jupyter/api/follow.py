"""Following a pipeline's output across runs: ``Client.follow_output`` / ``pipeline.follow_output()``.

A job's output stream (``GET …/output``) belongs to one run: it ends when the run's
sinks close (Stop, Restart, Rescale, finish, TTL). :class:`OutputFollower` opens it as
early as the server allows, yields its OutputEvents, marks where each run starts and
ends with a :class:`RunBoundary`, and reconnects when the job runs again (a new
``run_id``), until the job can not run any more, the pipeline is deleted, ``runs`` runs
were followed, or ``close()`` is called (from any thread).

Against the embedded server a preview can be subscribed to before it runs, and its rows
are replayed after it ended; an Arroyo cluster serves the output only while Running,
so the follower polls the job (every ``poll_s``) until it is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ..states import JobState, parse_state
from .errors import BadRequestError, NotFoundError, StreamError
from .sse import OutputEvent

__all__ = ["OutputFollower", "RunBoundary"]

BoundaryKind = Literal["start", "end", "waiting"]

# The job state that ended a run → what a view says.
_REASONS = {
    "Stopping": "stopped",
    "CheckpointStopping": "stopped",
    "Stopped": "stopped",
    "Restarting": "restarting",
    "Rescaling": "rescaling",
    "Recovering": "recovering",
    "Scheduling": "restarting",
    "Compiling": "restarting",
    "Finishing": "finished",
    "Finished": "finished",
    "Failing": "failed",
    "Failed": "failed",
    "Deleted": "deleted",
}
# Reasons after which the same job runs again by itself.
_RUNS_AGAIN = {"restarting", "rescaling", "recovering"}


@dataclass(frozen=True)
class RunBoundary:
    """A marker between runs in :class:`OutputFollower`'s items.

    ``kind``: ``"start"`` (a run's stream opened; rows follow), ``"end"`` (it ended:
    ``reason`` says why) or ``"waiting"`` (no run to read yet: the job is ``state``).
    ``reason`` is one of started, waiting, stopped, restarting, rescaling, recovering,
    finished, failed, deleted. ``run_id`` is the job's run (None when not known yet).
    """

    kind: BoundaryKind
    reason: str
    state: str
    run_id: int | None
    job_id: str | None
    failure: str | None = None

    @property
    def runs_again(self) -> bool:
        """True when the job starts a new run by itself (restart, rescale, recovery)."""
        return self.reason in _RUNS_AGAIN

    def __str__(self) -> str:
        run = f" run {self.run_id}" if self.run_id is not None else ""
        why = f": {self.failure}" if self.failure else ""
        return f"{self.kind}{run} ({self.reason}, {self.state}){why}"


WAKE_FALLBACK_S = 60.0  # with a ``wake`` event: look anyway after this long without news


class OutputFollower:
    """Iterator of ``OutputEvent | RunBoundary`` over every run of a pipeline's job."""

    def __init__(
        self,
        client: Any,
        pipeline_id: str,
        *,
        runs: int | None = None,
        poll_s: float = 0.5,
        wake: threading.Event | None = None,
    ) -> None:
        if runs is not None and runs < 1:
            raise ValueError("runs must be at least 1 (or None: follow every run)")
        self._client = client
        self.pipeline_id = pipeline_id
        self._runs = runs
        self._poll_s = poll_s
        # Set by whoever already watches the job (a widget's pipeline watcher): then this
        # follower looks at the job only on news, instead of polling it on its own.
        self._wake = wake
        self._closed = threading.Event()
        self._stream: Any = None
        self._lock = threading.Lock()
        self.runs_followed = 0
        self.rows_received = 0
        self._missing = 0  # rows lost by streams already ended, and between streams
        self._next_ids: dict[tuple[str, int], int] = {}
        self._items = self._generate()

    def __iter__(self) -> OutputFollower:
        return self

    def __next__(self) -> OutputEvent | RunBoundary:
        return next(self._items)

    @property
    def missing_rows(self) -> int:
        """Rows lost so far, over all runs: in gaps, between two streams, or not replayed."""
        stream = self._stream
        return self._missing + (stream.missing_rows if stream is not None else 0)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Stop following; safe from another thread while one is iterating."""
        self._closed.set()
        if self._wake is not None:
            self._wake.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def __enter__(self) -> OutputFollower:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "following"
        return f"<OutputFollower {self.pipeline_id} {state}: {self.runs_followed} runs, {self.rows_received} rows>"

    # -- the loop --------------------------------------------------------------------
    def _job(self) -> Any | None:
        try:
            jobs = self._client.get_pipeline_jobs(self.pipeline_id)
        except NotFoundError:
            return None
        return jobs[0] if jobs else None

    def _open(self, job: Any) -> Any | None:
        """The job's output stream, or None while the server refuses it (not running)."""
        try:
            stream = self._client.stream_output(self.pipeline_id, job.id)
        except BadRequestError as exc:
            if "preview sink" in exc.message:
                raise  # this pipeline has no output at all: following it is a mistake
            return None
        except NotFoundError:
            return None
        with self._lock:
            self._stream = stream
        if self._closed.is_set():  # closed while opening
            stream.close()
            return None
        return stream

    def _generate(self) -> Iterator[OutputEvent | RunBoundary]:
        try:
            preview = bool(self._client.get_pipeline(self.pipeline_id).preview)
        except NotFoundError:
            yield RunBoundary("end", "deleted", "Deleted", None, None)
            return
        last_run: int | None = None  # the run whose output was read last
        announced_wait = False
        same_run = False  # the next stream continues the run already being read
        while not self._closed.is_set():
            job = self._job()
            if job is None:
                yield RunBoundary("end", "deleted", "Deleted", last_run, None)
                return
            state = parse_state(job.state)
            # after a run was read, only a new run is opened (a preview's replay would repeat it)
            fresh = last_run is None or (state is JobState.RUNNING and job.run_id != last_run)
            stream = self._open(job) if fresh else None
            if stream is None:
                if self._done(state, preview):
                    if last_run is None:  # never ran (or its output is gone): say where it stands
                        yield RunBoundary(
                            "end",
                            _REASONS.get(job.state, "stopped"),
                            job.state,
                            job.run_id,
                            job.id,
                            job.failure,
                        )
                    return
                if not announced_wait and last_run is None:
                    announced_wait = True
                    yield RunBoundary("waiting", "waiting", job.state, None, job.id)
                self._wait_for_news()
                continue
            run_id = job.run_id if state is JobState.RUNNING else None
            # A stream can open while the job is still scheduling its run (the server opens
            # the run's output first): the run id is known once rows flow, so the start
            # marker waits for the first row (or the end of the stream).
            announce = not same_run
            cut = False
            try:
                for event in stream:
                    kept = self._account(event, same_run)
                    if kept is not None:
                        if announce:
                            run_id = run_id if run_id is not None else self._running_run_id()
                            yield RunBoundary("start", "started", job.state, run_id, job.id)
                            announce = False
                        self.rows_received += len(kept.rows)
                        yield kept
                    same_run = True  # later events of this stream continue the run
            except StreamError:
                cut = True
            finally:
                stream.close()
                with self._lock:
                    self._missing += stream.missing_rows
                    self._stream = None
            if self._closed.is_set():
                return
            if announce:  # a run without rows still gets its start marker
                yield RunBoundary("start", "started", job.state, run_id, job.id)
            end = stream.run_end
            job_now = self._job()
            if end is None and not cut and job_now is not None and self._same_run(job_now, run_id):
                # Arroyo ends the body without saying why, and its state may lag: look again
                self._closed.wait(self._poll_s)
                job_now = self._job()
            if end is None and job_now is not None and self._same_run(job_now, run_id):
                same_run = True
                continue  # the connection dropped mid-run: reconnect to the same run
            ended = (end.state if end is not None else None) or (job_now.state if job_now else "Deleted")
            ended_run = end.run_id if end is not None and end.run_id is not None else job.run_id
            reason = _REASONS.get(ended, "stopped")
            failure = job_now.failure if job_now is not None and reason == "failed" else None
            yield RunBoundary("end", reason, ended, ended_run, job.id, failure)
            self.runs_followed += 1
            last_run = ended_run
            same_run = False
            if job_now is None or (self._runs is not None and self.runs_followed >= self._runs):
                return

    def _account(self, event: OutputEvent, same_run: bool) -> OutputEvent | None:
        """Row ids across streams: a reconnect to the same run skips the rows already
        read (a replay repeats them) and counts the rows it missed."""
        key = (event.operator_id, event.subtask_idx)
        expected = self._next_ids.get(key)
        start, n = event.start_id, len(event.rows)
        if expected is not None and start < expected:
            if not same_run:  # a new run numbering its rows from scratch (restart without state)
                expected = None
            elif start + n <= expected:
                return None  # all seen already
            else:
                skip = expected - start
                event = OutputEvent(
                    event.id, event.operator_id, event.subtask_idx, expected,
                    event.timestamps[skip:], event.rows[skip:], 0,
                )  # fmt: skip
        if expected is not None and event.start_id > expected and event.gap == 0:
            self._missing += event.start_id - expected  # lost between two streams
        self._next_ids[key] = event.start_id + len(event.rows)
        return event

    def _wait_for_news(self) -> None:
        """Before looking at a job that is not running again: poll_s, or until ``wake``."""
        if self._wake is None:
            self._closed.wait(self._poll_s)
            return
        self._wake.wait(WAKE_FALLBACK_S)
        self._wake.clear()

    def _running_run_id(self) -> int | None:
        job = self._job()
        return job.run_id if job is not None and parse_state(job.state) is JobState.RUNNING else None

    @staticmethod
    def _same_run(now: Any, run_id: int | None) -> bool:
        return parse_state(now.state) is JobState.RUNNING and (run_id is None or now.run_id == run_id)

    def _done(self, state: JobState, preview: bool) -> bool:
        """Nothing more will come: Finished, or a preview that ended (previews do not run again)."""
        if self._runs is not None and self.runs_followed >= self._runs:
            return True
        if state is JobState.FINISHED:
            return True
        if preview and state in (JobState.STOPPED, JobState.FAILED):
            return True
        return False
