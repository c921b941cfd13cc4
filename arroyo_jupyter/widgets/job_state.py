"""JobStateWidget: a job's state, live, with the console's action buttons.

The widget does not poll: it subscribes to the pipeline's one watcher (api/watch.py),
which every other view of the pipeline shares. Its timeline is the server's list of
state transitions (with the server's times), so states passed while the view was
off-screen or between two polls are still there.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import traitlets as t

from ..api.watch import STEADY_POLL, PipelineWatcher, WatchEvent
from ..states import STOP_MODES, console_buttons
from ._base import ArroyoWidget, esc
from ._source import Source, short_error

METHODS = ("stop", "start", "restart")
TIMELINE_MAX = 50


def job_dict(job: Any) -> dict:
    """The job fields the front-end shows, JSON-ready."""
    reason = getattr(job, "failure_reason", None)
    if reason is not None:
        error = getattr(reason, "error", None) or (
            reason.get("error") if isinstance(reason, dict) else str(reason)
        )
        domain = getattr(reason, "domain", None) or (
            reason.get("domain") if isinstance(reason, dict) else None
        )
    else:
        error, domain = getattr(job, "failure_message", None), None
    state = getattr(job, "state", "Created")
    return {
        "id": str(getattr(job, "id", "")),
        "state": str(getattr(state, "value", state)),
        "running_desired": bool(getattr(job, "running_desired", False)),
        "run_id": getattr(job, "run_id", None),
        "tasks": getattr(job, "tasks", None),
        "start_time": getattr(job, "start_time", None),
        "finish_time": getattr(job, "finish_time", None),
        "failure": error,
        "failure_domain": domain,
    }


def buttons_for(job: dict) -> list[dict]:
    """The shared state→action table (states.console_buttons), JSON-ready.

    A disabled button that only repeats the state ("Finished", "Stopping" …) is left out:
    the state badge already says it, and a dead button next to it reads like a control.
    """
    return [
        {
            "label": b.label,
            "method": b.method,
            "mode": b.mode.value if b.mode else None,
            "ignore_state": b.ignore_state,
            "in_progress": b.in_progress,
            "enabled": b.enabled,
        }
        for b in console_buttons(job["state"], job["running_desired"])
        if b.enabled
    ]


def format_uptime(micros: float | None) -> str:
    """One style for every duration the header shows (js/common.js fmtUptime is the same):
    "0.4 s", "9.1 s", "14 s", "3 m 41 s", "2 h 05 m"."""
    if micros is None or micros < 0:
        return "-"
    s = micros / 1e6
    if s < 10:
        return f"{s:.1f} s"
    whole = int(s)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} m {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} m"


def timeline_from(transitions: list[Any]) -> list[dict]:
    """The server's transitions as chips: {"state", "time": ms since epoch, "run_id"}."""
    chips = []
    for tr in transitions:
        get = tr.get if isinstance(tr, dict) else lambda k, _t=tr: getattr(_t, k, None)
        chips.append(
            {"state": str(get("state")), "time": int(get("time") or 0) // 1000, "run_id": get("run_id")}
        )
    return chips[-TIMELINE_MAX:]


class JobStateWidget(ArroyoWidget):
    """The live state of a pipeline's job: ``JobStateWidget(pipeline, refresh_interval=5.0)``."""

    _esm_name = "job_state"

    pipeline_name = t.Unicode("").tag(sync=True)
    pipeline_id = t.Unicode("").tag(sync=True)
    preview = t.Bool(False).tag(sync=True)
    parallelism = t.Int(0).tag(sync=True)
    job = t.Dict().tag(sync=True)
    buttons: t.List[dict] = t.List().tag(sync=True)
    stop_modes = t.List(t.Unicode(), default_value=[m.value for m in STOP_MODES]).tag(sync=True)
    timeline: t.List[dict] = t.List().tag(
        sync=True
    )  # [{"state", "time": ms since epoch, "run_id", "sampled"?}]
    timeline_source = t.Unicode("server").tag(sync=True)  # "server" | "polls" (a cluster without transitions)
    busy = t.Unicode("").tag(sync=True)  # the label of the call in progress
    confirm_stop = t.Bool(True).tag(sync=True)  # ask before Stop and before dropping state
    as_of = t.Float(0.0).tag(sync=True)  # ms since epoch of the shown job when the last poll failed

    def __init__(
        self,
        pipeline: Any,
        *,
        confirm_stop: bool | None = None,
        refresh_interval: float = STEADY_POLL,
        **kwargs: Any,
    ) -> None:
        self._source = Source(pipeline)
        self._refresh_interval = refresh_interval
        self._calls: list[threading.Thread] = []
        self._last_ok = 0.0
        super().__init__(
            pipeline_name=self._source.name,
            pipeline_id=self._source.id,
            preview=self._source.preview,
            parallelism=self._source.parallelism(),
            confirm_stop=(not self._source.preview) if confirm_stop is None else confirm_stop,
            **kwargs,
        )

    # ---- news from the watcher

    @property
    def _watcher(self) -> PipelineWatcher:
        assert self._sub is not None  # a JobStateWidget always has a Source
        return self._sub.watcher

    def _on_watch(self, event: WatchEvent) -> None:
        if self.closed:
            return
        if event.deleted:
            with self.hold_sync():
                self.gone = "deleted"
                self.buttons = []
                self.busy = ""
                self.error = ""
            return
        if event.job is None:
            self.error = event.error or ""
            return
        job = job_dict(event.job)
        with self._lock, self.hold_sync():
            if event.error:
                self.error = f"could not refresh: {event.error}"
                self.as_of = self._last_ok
                return
            self._last_ok = event.at * 1000
            if self.as_of or self.error.startswith("could not refresh"):
                self.as_of, self.error = 0.0, ""
            ended = job["state"] in ("Stopped", "Finished", "Failed")
            if self.job and (job.get("run_id") != self.job.get("run_id") or ended):
                self._refresh_parallelism()  # a new run, or a rescale while stopped
            self._apply_timeline(job, event.transitions)
            if job != self.job:
                self.job = job
                self.buttons = buttons_for(job)

    def _apply_timeline(self, job: dict, transitions: list[Any] | None) -> None:
        if transitions is not None:
            self.timeline_source = "server"
            self.timeline = timeline_from(transitions)
            return
        # A server without transitions: the states the polls saw, at the job's own times
        # where it has them (a run's start, its finish), else at the poll.
        self.timeline_source = "polls"
        last = self.timeline[-1] if self.timeline else None
        if last and last["state"] == job["state"] and last.get("run_id") == job.get("run_id"):
            return
        when = {"Running": job.get("start_time")}.get(job["state"]) or (
            job.get("finish_time") if job["state"] in ("Stopped", "Finished", "Failed") else None
        )
        time_ms = int(when) // 1000 if when else int(time.time() * 1000)
        chip = {"state": job["state"], "time": time_ms, "run_id": job.get("run_id"), "sampled": not when}
        self.timeline = [*self.timeline, chip][-TIMELINE_MAX:]

    def _refresh_parallelism(self) -> None:
        try:
            self._source.refresh()
            self.parallelism = self._source.parallelism()
        except Exception:  # the state is still worth showing; the next run change retries
            pass

    def refresh(self) -> None:
        """Poll now."""
        self._watcher.wake()

    # ---- actions

    def act(
        self, method: str, mode: str | None = None, ignore_state: bool = False, *, wait: bool = True
    ) -> None:
        """Call ``stop(mode)`` / ``start(ignore_state)`` / ``restart(ignore_state)`` on the
        pipeline, as the buttons do; a failure shows in ``error`` (and is not raised)."""
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
        if method == "stop" and mode not in [m.value for m in STOP_MODES]:
            raise ValueError(f"stop mode must be one of {', '.join(self.stop_modes)}; got {mode!r}")
        if self.gone:
            self.error = f"{method} is not possible: the pipeline was {self.gone}"
            return
        label = f"{method} {mode or ''}".strip() + (" without state" if ignore_state else "")
        self.busy, self.error = label, ""
        call = threading.Thread(
            target=self._call, args=(method, mode, ignore_state), name="arroyo-widget-job-action", daemon=True
        )
        self._calls = [c for c in self._calls if c.is_alive()] + [call]
        call.start()
        if wait:
            call.join()

    def _call(self, method: str, mode: str | None, ignore_state: bool) -> None:
        try:
            if method == "stop":
                self._source.stop(mode or "checkpoint")
            elif method == "start":
                self._source.start(ignore_state=ignore_state)
            else:
                self._source.restart(ignore_state=ignore_state)
        except Exception as exc:
            self.error = f"{method} failed: {short_error(exc)}"
        finally:
            self.busy = ""
            self._watcher.hurry()

    def _msg_action(self, content: dict, _buffers: list) -> None:
        method, mode = content.get("method"), content.get("mode")
        ignore_state = bool(content.get("ignore_state"))
        if self.confirm_stop and not content.get("confirmed") and (method == "stop" or ignore_state):
            what = (
                "Stopping a running pipeline" if method == "stop" else f"{str(method).title()} without state"
            )
            self.error = f"{what} needs confirmation: click the button, then Confirm."
            return
        # Run on a thread: the comm handler must not block the kernel on HTTP.
        self.act(str(method), mode, ignore_state, wait=False)

    def _msg_visible(self, content: dict, buffers: list) -> None:  # older front-ends
        self._msg___visible__(content, buffers)

    def _on_close(self) -> None:
        for call in self._calls:
            call.join(10.0)

    # ---- snapshot

    def _uptime(self) -> str:
        start, finish = self.job.get("start_time"), self.job.get("finish_time")
        if not start:
            return "-"
        end = finish or time.time() * 1e6
        return format_uptime(end - start)

    def _state(self) -> str:
        return "Deleted" if self.gone else self.job.get("state", "…")

    def _snapshot_text(self) -> str:
        j = self.job
        if not j:
            return f"JobStateWidget {self.pipeline_name}: " + ("deleted" if self.gone else "(no job yet)")
        ran = "ran" if j.get("finish_time") else "uptime"
        tasks = j["tasks"] if j["tasks"] is not None else "n/a"
        line = f"{self.pipeline_name} [{j['id']}]: {self._state()} (run {j['run_id']}, tasks {tasks}, {ran} {self._uptime()})"
        if j.get("failure"):
            line += f"\n  failure ({j.get('failure_domain') or 'internal'}): {j['failure']}"
        if self.timeline:
            line += "\n  history: " + " → ".join(s["state"] for s in self.timeline)
        return line

    def _snapshot_html(self) -> str:
        j = self.job
        if not j:
            return f"<b>{esc(self.pipeline_name)}</b>: " + ("deleted" if self.gone else "no job yet")
        state = self._state()
        ran = "ran" if j.get("finish_time") else "uptime"
        rows = [
            f"<b>{esc(self.pipeline_name)}</b> <code>{esc(j['id'])}</code>: "
            f'<span class="arroyo-state arroyo-state-{esc(state)}">{esc(state)}</span>',
            f"run {esc(j['run_id'])} · tasks {esc(j['tasks'] if j['tasks'] is not None else 'n/a')} · "
            f"parallelism {self.parallelism} · {ran} {esc(self._uptime())}",
        ]
        if j.get("failure"):
            rows.append(
                f"<div>failure ({esc(j.get('failure_domain') or 'internal')}): {esc(j['failure'])}</div>"
            )
        if self.timeline:
            rows.append("<div>history: " + " → ".join(esc(s["state"]) for s in self.timeline) + "</div>")
        return "<br>".join(rows)
