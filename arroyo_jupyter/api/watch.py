"""One watcher per pipeline: a single poll loop whose news every subscribed view shares.

Every live view of a pipeline (state header, dashboard, a script's callback) subscribes to
the pipeline's one :class:`PipelineWatcher` instead of polling on its own. The watcher
polls the pipeline's current job with these rules (the job-state widget's cadence):

* every ``FAST_POLL`` s while the job is changing state, in the first ``YOUNG_S`` s of a
  run (a bounded job may end at once), or for a while after an action (``hurry()``);
* every ``refresh_interval`` s (the smallest any subscriber asked for) while it is steady;
* every ``IDLE_POLL`` s while it is Stopped / Finished / Failed (someone else may start or
  delete it), and every ``HIDDEN_POLL`` s while no subscriber is visible.

When the job changes, the watcher also reads the server's list of state transitions
(``…/state_transitions``; None on a cluster without it), so a view that was off-screen
still learns every state the job went through, with the server's times. A 404 for the
pipeline ends the loop with a ``deleted`` event. The thread ends when the last
subscription closes (or the pipeline is deleted); none is left behind.

```python
with pipeline.watch(lambda ev: print(ev.state, ev.run_id)) as sub:
    pipeline.stop(); pipeline.wait_for("Stopped")
for ev in pipeline.watch():        # or iterate: blocks for each new event
    if ev.deleted or ev.state == "Stopped":
        break
```
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..states import TERMINAL_STATES, TRANSITIONAL_STATES, JobState

__all__ = ["PipelineWatcher", "Subscription", "WatchEvent", "nudge", "watch", "watcher_for"]

log = logging.getLogger("arroyo_jupyter.watch")

FAST_POLL = 1.0  # s: the job is changing state, or an action was just sent
STEADY_POLL = 5.0  # s: default refresh_interval while it runs steadily
IDLE_POLL = 10.0  # s: Stopped / Finished / Failed (someone may start or delete it)
HIDDEN_POLL = 30.0  # s: no subscriber is visible
HURRY_S = 15.0  # s of fast polling after an action
YOUNG_S = 10.0  # s of fast polling after a run starts (bounded jobs end quickly)


@dataclass(frozen=True)
class WatchEvent:
    """What the watcher last learned about a pipeline.

    ``job`` is the job handle as fetched (None before the first answer or once deleted);
    ``transitions`` the server's ``[StateTransition]`` for that job (None where the server
    has no such endpoint); ``error`` a one-line reason when the last poll failed (the
    previous ``job`` is kept, so a view can say "as of"); ``at`` the wall time of the poll.
    """

    pipeline_id: str
    job: Any = None
    transitions: list[Any] | None = None
    deleted: bool = False
    error: str | None = None
    at: float = field(default_factory=time.time)

    @property
    def state(self) -> str | None:
        if self.deleted:
            return "Deleted"
        if self.job is None:
            return None
        state = getattr(self.job, "state", None)
        return str(getattr(state, "value", state))

    @property
    def run_id(self) -> int | None:
        return getattr(self.job, "run_id", None)


Callback = Callable[[WatchEvent], None]


def _check_interval(refresh_interval: float) -> None:
    if not refresh_interval > 0:
        raise ValueError(f"refresh_interval must be > 0 seconds, got {refresh_interval!r}")


def _is_not_found(exc: BaseException) -> bool:
    return getattr(exc, "status", None) == 404


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _job_key(job: Any) -> tuple:
    """What makes two polls of a job different (transitions are re-read when it changes)."""
    return tuple(
        str(getattr(job, f, None))
        for f in ("id", "state", "running_desired", "run_id", "start_time", "finish_time", "tasks")
    )


def _young(job: Any) -> bool:
    """Running for less than YOUNG_S: a bounded job may finish any moment, and a view
    should not count its uptime on for a whole steady interval past the end."""
    start = getattr(job, "start_time", None)
    return isinstance(start, int) and 0 <= time.time() - start / 1e6 < YOUNG_S


def _transitions(handle: Any, job: Any) -> list[Any] | None:
    """The server's state transitions for ``job``; None where it has no such endpoint."""
    own = getattr(handle, "state_transitions", None)
    if callable(own):
        return list(own(job.id))
    client = getattr(handle, "_client", None)
    get = getattr(client, "get_job_state_transitions", None)
    if get is None:
        return None
    found = get(str(handle.id), str(job.id))
    return None if found is None else list(found)


class Subscription:
    """One view's interest in a pipeline: ``close()`` it when the view goes away.

    With a callback, events are delivered on the watcher's thread. Without one, iterate
    the subscription: it yields each new event and stops after ``close()`` or a deletion;
    leaving the loop (``break``) closes the subscription.
    """

    def __init__(self, watcher: PipelineWatcher, callback: Callback | None, refresh_interval: float) -> None:
        self.watcher = watcher
        self.refresh_interval = refresh_interval
        self._callback = callback
        self._queue: queue.Queue[WatchEvent | None] | None = None if callback else queue.Queue()
        self._visible = True
        self.closed = False

    @property
    def latest(self) -> WatchEvent | None:
        return self.watcher.latest

    @property
    def visible(self) -> bool:
        return self._visible

    @visible.setter
    def visible(self, value: bool) -> None:
        was, self._visible = self._visible, bool(value)
        if self._visible and not was:
            self.watcher.wake()  # scrolled back into view: show what happened meanwhile

    def _deliver(self, event: WatchEvent) -> None:
        if self.closed:
            return
        if self._queue is not None:
            self._queue.put(event)
            return
        try:
            self._callback(event)  # type: ignore[misc]
        except Exception:  # one broken view must not stop the others' news
            log.exception("watch callback failed for pipeline %s", self.watcher.pipeline_id)

    def __iter__(self) -> Iterator[WatchEvent]:
        if self._queue is None:
            raise TypeError("a subscription with a callback is not iterable; watch() without one to iterate")
        try:
            while not self.closed:
                event = self._queue.get()
                if event is None:
                    return
                yield event
                if event.deleted:
                    return
        finally:  # the loop ended (or was left with break): so does the subscription
            self.close()

    def close(self) -> None:
        """Stop receiving events; the last subscription to close ends the watcher's thread."""
        if self.closed:
            return
        self.closed = True
        if self._queue is not None:
            self._queue.put(None)
        self.watcher._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Subscription to {self.watcher.pipeline_id}{' (closed)' if self.closed else ''}>"


class PipelineWatcher:
    """The single poll loop of one pipeline (see the module docstring). Get it with
    :func:`watcher_for` or subscribe with :func:`watch`; do not construct it directly."""

    def __init__(self, handle: Any, key: tuple) -> None:
        self.handle = handle
        self.pipeline_id = str(getattr(handle, "id", ""))
        self._key = key
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._hurry_until = 0.0
        self._job_key: tuple | None = None
        self._last_graph_key: str | None = None
        self.latest: WatchEvent | None = None
        self._checked: tuple[float, float] | None = None  # (monotonic time of the last good poll, next delay)
        self.polls = 0  # how many times the job was fetched (tests count them)
        self._thread = threading.Thread(
            target=self._run, name=f"arroyo-watch-{self.pipeline_id}", daemon=True
        )

    # ---- subscribers

    def subscribe(
        self, callback: Callback | None = None, *, refresh_interval: float = STEADY_POLL
    ) -> Subscription:
        _check_interval(refresh_interval)
        sub = Subscription(self, callback, refresh_interval)
        with self._lock:
            self._subs.append(sub)
            latest = self.latest
            if self._thread.ident is None and not self._stop.is_set():
                self._thread.start()  # once; after a deletion the latest event says so
        if latest is not None:
            sub._deliver(latest)  # the newcomer sees the current state at once
        self.wake()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)
            last = not self._subs
        if last:
            self._end()

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subs)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ---- control

    def wake(self) -> None:
        """Poll now."""
        self._wake.set()

    def hurry(self, seconds: float = HURRY_S) -> None:
        """Poll fast for a while (after an action) and now."""
        self._hurry_until = time.monotonic() + seconds
        self.wake()

    def _end(self) -> None:
        with _REGISTRY_LOCK:
            if _REGISTRY.get(self._key) is self:
                del _REGISTRY[self._key]
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(10.0)

    # ---- the loop

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = self._poll_once()
            if delay is None:
                break
            self._wake.wait(delay)
            self._wake.clear()

    def _poll_once(self) -> float | None:
        try:
            self.polls += 1
            job = self.handle.job()
        except Exception as exc:
            if _is_not_found(exc) and self._pipeline_gone():
                self._publish(WatchEvent(self.pipeline_id, deleted=True))
                return None  # nothing more to learn: the loop ends
            previous = self.latest
            self._publish(
                WatchEvent(
                    self.pipeline_id,
                    job=previous.job if previous else None,
                    transitions=previous.transitions if previous else None,
                    error=_one_line(exc),
                )
            )
            return self._interval(None)
        delay = self._interval(job)
        self._checked = (time.monotonic(), delay)
        key = (*_job_key(job), self._graph_key(job))
        previous = self.latest
        if previous is not None and key == self._job_key and previous.error is None:
            return delay
        transitions = previous.transitions if previous else None
        try:
            transitions = _transitions(self.handle, job)
        except Exception as exc:  # the state itself is still news
            log.debug("state transitions of %s: %s", self.pipeline_id, exc)
        self._job_key = key
        self._publish(WatchEvent(self.pipeline_id, job=job, transitions=transitions))
        return delay

    def cached_job(self) -> Any:
        """The job as last polled, while the loop runs and that poll is not older than its
        next one is due; None otherwise (the caller fetches it itself)."""
        checked, latest = self._checked, self.latest
        if checked is None or latest is None or latest.job is None or latest.error or not self.alive:
            return None
        at, delay = checked
        return latest.job if time.monotonic() - at <= delay + 1.0 else None

    def _graph_key(self, job: Any) -> str | None:
        """While the job is Stopped / Finished / Failed, the pipeline's parallelism (it can be
        changed then, and shows before the next start): re-read at each idle poll."""
        state = getattr(job, "state", None)
        if str(getattr(state, "value", state)) not in {s.value for s in TERMINAL_STATES}:
            return self._last_graph_key
        try:
            self.handle.refresh()
        except Exception:
            return self._last_graph_key
        graph = getattr(self.handle, "graph", None)
        nodes = (
            getattr(graph, "nodes", None) or (graph.get("nodes") if isinstance(graph, dict) else None) or []
        )
        self._last_graph_key = ",".join(
            str(getattr(n, "parallelism", None) or (n.get("parallelism") if isinstance(n, dict) else ""))
            for n in nodes
        )
        return self._last_graph_key

    def _pipeline_gone(self) -> bool:
        try:
            self.handle.refresh()
        except Exception as exc:
            return _is_not_found(exc)
        return False

    def _publish(self, event: WatchEvent) -> None:
        with self._lock:
            self.latest = event
            subs = list(self._subs)
        for sub in subs:
            sub._deliver(event)

    def _interval(self, job: Any) -> float:
        with self._lock:
            subs = list(self._subs)
        if time.monotonic() < self._hurry_until:
            return FAST_POLL
        if subs and not any(s.visible for s in subs):
            return HIDDEN_POLL
        steady = min((s.refresh_interval for s in subs), default=STEADY_POLL)
        state = getattr(job, "state", None)
        try:
            parsed = JobState(str(getattr(state, "value", state)))
        except ValueError:
            return steady
        if parsed in TRANSITIONAL_STATES or (parsed is JobState.RUNNING and _young(job)):
            return min(FAST_POLL, steady)
        if parsed in TERMINAL_STATES:
            return max(IDLE_POLL, steady)
        return steady

    def __repr__(self) -> str:
        return f"<PipelineWatcher {self.pipeline_id}: {self.subscribers} subscriber(s), {self.polls} polls>"


_REGISTRY: dict[tuple, PipelineWatcher] = {}
_REGISTRY_LOCK = threading.Lock()


def _key(handle: Any) -> tuple:
    # One watcher per (server connection, pipeline): two clients of two servers may
    # share a pipeline id; handles of one client share the watcher.
    owner = getattr(handle, "_client", None)
    return (id(owner) if owner is not None else id(handle), str(getattr(handle, "id", "")))


def watcher_for(handle: Any) -> PipelineWatcher:
    """The pipeline's one watcher (created on first use; its thread starts with the first subscriber)."""
    key = _key(handle)
    with _REGISTRY_LOCK:
        watcher = _REGISTRY.get(key)
        if watcher is None or watcher._stop.is_set():
            watcher = _REGISTRY[key] = PipelineWatcher(handle, key)
        return watcher


def watch(
    handle: Any, callback: Callback | None = None, *, refresh_interval: float = STEADY_POLL
) -> Subscription:
    """Subscribe to a pipeline's watcher (see the module docstring)."""
    _check_interval(refresh_interval)  # before a watcher exists: a bad call leaves none behind
    while True:
        watcher = watcher_for(handle)
        sub = watcher.subscribe(callback, refresh_interval=refresh_interval)
        if not watcher._stop.is_set():
            return sub
        sub.closed = True  # raced with the watcher's last unsubscribe: take the new one


def existing_watcher(handle: Any) -> PipelineWatcher | None:
    """The pipeline's watcher if one is running (never creates one)."""
    with _REGISTRY_LOCK:
        return _REGISTRY.get(_key(handle))


def nudge(handle: Any) -> None:
    """Something was done to the pipeline elsewhere (a magic, a script): if a watcher
    follows it, poll fast for a while, starting now. A no-op otherwise."""
    watcher = existing_watcher(handle)
    if watcher is not None:
        watcher.hurry()


def nudge_pipeline(client: Any, pipeline_id: str) -> None:
    """``nudge`` by id: handles call it after every console action (a Job handle's own
    ``id`` is the job's, so it cannot be keyed like a Pipeline handle)."""
    with _REGISTRY_LOCK:
        watcher = _REGISTRY.get((id(client), str(pipeline_id)))
    if watcher is not None:
        watcher.hurry()


def watchers() -> list[PipelineWatcher]:
    """The live watchers (for diagnostics and tests)."""
    with _REGISTRY_LOCK:
        return list(_REGISTRY.values())
