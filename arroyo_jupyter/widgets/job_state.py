"""JobStateWidget: a job's state, live, with the console's action buttons."""

from __future__ import annotations

import threading
import time
from typing import Any

import traitlets as t

from ..charts import format_duration
from ..states import STOP_MODES, TERMINAL_STATES, TRANSITIONAL_STATES, console_buttons, parse_state
from ._base import ArroyoWidget, esc
from ._source import Source, short_error

FAST_POLL = 1.0  # s, while the state is changing
STEADY_POLL = 5.0  # s, while it is not
HIDDEN_POLL = 30.0  # s, while no view is visible
METHODS = ("stop", "start", "restart")


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
    """The shared state→action table (states.console_buttons), JSON-ready."""
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
    ]


class JobStateWidget(ArroyoWidget):
    """The live state of a pipeline's job: ``JobStateWidget(pipeline)``."""

    _esm_name = "job_state"

    pipeline_name = t.Unicode("").tag(sync=True)
    pipeline_id = t.Unicode("").tag(sync=True)
    preview = t.Bool(False).tag(sync=True)
    parallelism = t.Int(0).tag(sync=True)
    job = t.Dict().tag(sync=True)
    buttons = t.List().tag(sync=True)
    stop_modes = t.List(t.Unicode(), default_value=[m.value for m in STOP_MODES]).tag(sync=True)
    timeline = t.List().tag(sync=True)  # [{"state", "time": ms since epoch}]
    busy = t.Unicode("").tag(sync=True)  # the label of the call in progress
    confirm_stop = t.Bool(True).tag(sync=True)

    def __init__(self, pipeline: Any, *, confirm_stop: bool | None = None, **kwargs: Any) -> None:
        self._source = Source(pipeline)
        graph = self._source.graph
        nodes = (
            getattr(graph, "nodes", None) or (graph.get("nodes") if isinstance(graph, dict) else None) or []
        )
        par = max(
            (
                int(
                    getattr(n, "parallelism", None) or (n.get("parallelism", 0) if isinstance(n, dict) else 0)
                )
                for n in nodes
            ),
            default=0,
        )
        super().__init__(
            pipeline_name=self._source.name,
            pipeline_id=self._source.id,
            preview=self._source.preview,
            parallelism=par,
            confirm_stop=(not self._source.preview) if confirm_stop is None else confirm_stop,
            **kwargs,
        )
        self._visible = True
        self._calls: list[threading.Thread] = []
        self._poller = self._poll("job-state", self._poll_once)

    # ---- polling

    def _poll_once(self) -> float | None:
        if self.closed:
            return None
        try:
            job = job_dict(self._source.job())
        except Exception as exc:
            self.error = short_error(exc)
            return STEADY_POLL
        self._apply(job)
        state = parse_state(job["state"])
        if self.busy:
            return FAST_POLL
        if state in TERMINAL_STATES:
            return None  # parked until a button wakes it
        if not self._visible:
            return HIDDEN_POLL
        return FAST_POLL if state in TRANSITIONAL_STATES else STEADY_POLL

    def _apply(self, job: dict) -> None:
        with self._lock, self.hold_sync():
            if not self.timeline or self.timeline[-1]["state"] != job["state"]:
                self.timeline = [*self.timeline, {"state": job["state"], "time": int(time.time() * 1000)}][
                    -50:
                ]
            if job != self.job:
                self.job = job
                self.buttons = buttons_for(job)

    def refresh(self) -> None:
        """Poll now."""
        self._poller.wake()

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
            self._poller.wake()

    def _msg_action(self, content: dict, _buffers: list) -> None:
        method, mode = content.get("method"), content.get("mode")
        if method == "stop" and self.confirm_stop and not content.get("confirmed"):
            self.error = "Stopping a running pipeline needs confirmation: click Stop, then Confirm."
            return
        # Run on a thread: the comm handler must not block the kernel on HTTP.
        self.act(str(method), mode, bool(content.get("ignore_state")), wait=False)

    def _msg_visible(self, content: dict, _buffers: list) -> None:
        was, self._visible = self._visible, bool(content.get("visible", True))
        if self._visible and not was:
            self._poller.wake()

    def _on_close(self) -> None:
        for call in self._calls:
            call.join(10.0)

    # ---- snapshot

    def _uptime(self) -> str:
        start, finish = self.job.get("start_time"), self.job.get("finish_time")
        if not start:
            return "-"
        end = finish or time.time() * 1e6
        return format_duration(end - start)

    def _snapshot_text(self) -> str:
        j = self.job
        if not j:
            return f"JobStateWidget {self.pipeline_name}: (no job yet)"
        line = f"{self.pipeline_name} [{j['id']}]: {j['state']} (run {j['run_id']}, tasks {j['tasks'] if j['tasks'] is not None else 'n/a'}, uptime {self._uptime()})"
        if j.get("failure"):
            line += f"\n  failure ({j.get('failure_domain') or 'internal'}): {j['failure']}"
        if self.timeline:
            line += "\n  states: " + " → ".join(s["state"] for s in self.timeline)
        return line

    def _snapshot_html(self) -> str:
        j = self.job
        if not j:
            return f"<b>{esc(self.pipeline_name)}</b>: no job yet"
        rows = [
            f"<b>{esc(self.pipeline_name)}</b> <code>{esc(j['id'])}</code>: "
            f'<span class="arroyo-state arroyo-state-{esc(j["state"])}">{esc(j["state"])}</span>',
            f"run {esc(j['run_id'])} · tasks {esc(j['tasks'] if j['tasks'] is not None else 'n/a')} · "
            f"parallelism {self.parallelism} · uptime {esc(self._uptime())}",
        ]
        if j.get("failure"):
            rows.append(
                f"<div>failure ({esc(j.get('failure_domain') or 'internal')}): {esc(j['failure'])}</div>"
            )
        if self.timeline:
            rows.append("<div>" + " → ".join(esc(s["state"]) for s in self.timeline) + "</div>")
        return "<br>".join(rows)
