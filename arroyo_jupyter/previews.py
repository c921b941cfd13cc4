"""A preview started by a session: its pipeline, how it ends, and the live views it owns.

Lifecycle::

    running ──stop(reason)──▶ stopped        (once; every later stop() is a no-op)
       │                                      reasons: cell re-run, --ttl, a view closed,
       ├─ show(): live views (state + output)  done collecting, disconnect, kernel exit
       └─ collect(rows): rows as a DataFrame, then stopped

Closing any of its views stops the preview; ``close()`` stops it and closes every view.
Its display is its views (live), or its rows, or a one-line account that says "as of"
when it describes a state that may change.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any

import pandas as pd

from . import frames
from .api import ArroyoError, Pipeline, RunBoundary, SessionError

# Seconds to collect rows when no --ttl bounds the preview.
DEFAULT_COLLECT_TIMEOUT = 30.0


def _clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


class Preview:
    """A preview of some SQL; see the module docstring for its lifecycle."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        key: str | None,
        sql: str,
        ttl: float | None = None,
        replaced: list[str] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.key = key
        self.sql = sql
        self.ttl = ttl
        # What happened around this preview, one line each, for the cell to print:
        # the previews it replaced, then how it ended when collect() stopped it.
        self.account = list(replaced or [])
        self.started_at = time.time()
        self._lock = threading.Lock()  # the TTL timer, a view and the cell may all stop it at once
        self._stop_reason: str | None = None
        self._stopped_at: float | None = None
        self._widgets: list[Any] = []
        self._frame: pd.DataFrame | None = None
        self._timer: threading.Timer | None = None
        if ttl:
            self._timer = threading.Timer(ttl, self.stop, kwargs={"reason": f"--ttl {ttl:g}s"})
            self._timer.daemon = True
            self._timer.start()

    # --- state

    @property
    def stopped(self) -> bool:
        return self._stop_reason is not None

    @property
    def stop_reason(self) -> str:
        return self._stop_reason or ""

    @property
    def widgets(self) -> tuple[Any, ...]:
        """The live views this preview owns (closing one stops the preview)."""
        return tuple(self._widgets)

    @property
    def frame(self) -> pd.DataFrame | None:
        """The rows :meth:`collect` read, or None if it was not asked to."""
        return self._frame

    # --- lifecycle

    def stop(self, reason: str = "on request") -> str | None:
        """Stop the preview (immediately) once; returns the account line, or None if done."""
        with self._lock:
            if self._stop_reason is not None:
                return None
            self._stop_reason, self._stopped_at = reason, time.time()
        if self._timer is not None:
            self._timer.cancel()
        try:
            self.pipeline.stop(mode="immediate")
        except ArroyoError as exc:  # already gone (server TTL, server down): say so, don't raise
            return f"preview {self.pipeline.id} could not be stopped ({reason}): {exc}"
        return f"stopped preview {self.pipeline.id} ({reason})"

    def close(self, reason: str = "closed", *, close_views: bool = True) -> str | None:
        """Stop the preview and close its views (their pollers and streams stop watching)."""
        line = self.stop(reason)
        if close_views:
            for widget in self.widgets:
                try:
                    widget.close()
                except Exception:  # a view that cannot close must not hide the account
                    pass
        return line

    def show(self, *, max_rows: int, refresh_interval: float) -> Preview:
        """Make its live views: the job state and the output table; closing one stops it."""
        from .views import output_table, state_view

        for widget in (
            state_view(self.pipeline, refresh_interval=refresh_interval),
            output_table(self.pipeline, max_rows=max_rows),
        ):
            self._own(widget)
        return self

    def _own(self, widget: Any) -> None:
        self._widgets.append(widget)

        def closed(change: dict[str, Any]) -> None:
            if change.get("new") is None:  # ipywidgets drops the comm when a view closes
                note = self.stop("widget closed")
                if note:
                    print(note)

        widget.observe(closed, names="comm")

    def collect(self, rows: int, timeout: float | None = None) -> pd.DataFrame:
        """Up to ``rows`` output rows (waiting at most ``timeout`` s), then stop the preview."""
        try:
            self._frame = collect_output(self.pipeline, rows, timeout or self.ttl or DEFAULT_COLLECT_TIMEOUT)
        finally:  # also on failure or interrupt (Ctrl-C / kernel interrupt)
            note = self.stop("done collecting")
            if note:
                self.account.append(note)
        return self._frame

    # --- display: the views, the rows, or an account that says when it was true

    def _ipython_display_(self) -> None:
        from IPython.display import display  # only in a notebook: scripts never load IPython

        if self._widgets:
            for widget in self._widgets:
                display(widget)
        elif self._frame is not None:
            display(self._frame)
        else:
            display({"text/plain": repr(self), "text/html": self._repr_html_()}, raw=True)

    def __repr__(self) -> str:
        if self._stop_reason is not None and self._stopped_at is not None:
            return f"<arroyo preview {self.pipeline.id}: stopped at {_clock(self._stopped_at)} ({self._stop_reason})>"
        return (
            f"<arroyo preview {self.pipeline.id}: started at {_clock(self.started_at)}, "
            f"not stopped by this session as of {_clock(time.time())}>"
        )

    def _repr_html_(self) -> str:
        return f"<pre class='arroyo-text'>{html.escape(repr(self))}</pre>"


def collect_output(pipeline: Pipeline, rows: int, timeout: float) -> pd.DataFrame:
    """Read the live output until ``rows`` rows, the end of the stream, or the deadline."""
    events: list[Any] = []
    count = 0
    # One run, subscribed as early as the server allows (the embedded server replays a
    # preview that ended before this; a cluster serves it once Running). The follower
    # blocks between events: a timer closes it at the deadline (close is thread-safe).
    follower = pipeline.follow_output(runs=1)
    timer = threading.Timer(timeout, follower.close)
    timer.daemon = True
    timer.start()
    try:
        for item in follower:
            if isinstance(item, RunBoundary):
                if item.reason == "failed" and not count:
                    raise SessionError(f"{pipeline.name} failed: {item.failure or 'no reason given'}")
                continue
            events.append(item)
            count += len(item.rows)
            if count >= rows:
                break
    except SessionError:
        raise
    except ArroyoError:
        pass  # cut by the deadline or the end of the preview: keep what arrived
    finally:
        timer.cancel()
        follower.close()
    return frames.output_frame(events).head(rows)
