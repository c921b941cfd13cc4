"""What every arroyo widget shares: its ES module, custom messages, a poller, snapshots."""

from __future__ import annotations

import html
import logging
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

from ..api import watch as _watch
from ._esm import assemble, stylesheet
from ._saved import SavedSnapshot
from ._source import Source, short_error

log = logging.getLogger("arroyo_jupyter.widgets")


class Poller:
    """A daemon thread calling ``fn`` repeatedly; ``fn`` returns seconds to the next call.

    Returning ``None`` parks the poller until ``wake()``. ``stop()`` ends the thread and
    waits for it, so nothing is left running after a widget's ``close()``.
    """

    def __init__(self, name: str, fn: Callable[[], float | None]) -> None:
        self._fn = fn
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Poller:
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                delay = self._fn()
            except Exception:  # a poll must never kill the thread silently mid-session
                log.exception("widget poll failed")
                delay = 5.0
            self._wake.wait(delay)  # None: sleep until woken
            self._wake.clear()


BEAT_S = 2.0  # the front-end greys a view out after ~3 missed beats (js/common.js liveness)


class Heartbeat:
    """One daemon thread that tells every viewed widget's front-end "the kernel side is here".

    A view that stops hearing it (kernel restarted, died, comm closed) says "disconnected —
    run the cell again" and greys out; the thread ends when no viewed widget is left.
    """

    def __init__(self, interval: float = BEAT_S) -> None:
        self.interval = interval
        self._widgets: weakref.WeakSet[ArroyoWidget] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, widget: ArroyoWidget) -> None:
        with self._lock:
            self._widgets.add(widget)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="arroyo-widget-heartbeat", daemon=True)
                self._thread.start()
        widget._emit({"type": "__beat__"})  # at once: the view need not wait a whole beat

    def discard(self, widget: ArroyoWidget) -> None:
        with self._lock:
            self._widgets.discard(widget)
            thread = self._thread if not self._widgets else None
        if thread is None:
            return
        self._changed.set()
        if thread is threading.current_thread():
            return
        deadline = time.monotonic() + 5.0
        # wait for the last beat's thread to end, unless a new view arrived meanwhile
        while thread.is_alive() and not self._widgets and time.monotonic() < deadline:
            thread.join(0.05)

    def _run(self) -> None:
        while True:
            self._changed.wait(self.interval)
            self._changed.clear()
            with self._lock:
                widgets = list(self._widgets)
                if not widgets:
                    self._thread = None
                    return
            for widget in widgets:
                widget._emit({"type": "__beat__"})


HEARTBEAT = Heartbeat()


class ArroyoWidget(anywidget.AnyWidget):
    """Base: loads ``js/<_esm_name>.js`` (``_esm.assemble``), dispatches ``{"type": …}`` custom messages
    to ``_msg_<type>`` methods, reports failures in the synced ``error`` trait, and adds a
    text/plain + text/html snapshot to the mimebundle.

    A widget that sets ``self._source`` (a ``Source``) before ``super().__init__`` is
    subscribed to its pipeline's one watcher (``self._sub``; events go to ``_on_watch``,
    every ``_refresh_interval`` s at most): when the pipeline is deleted its own pollers
    stop, ``gone`` becomes "deleted" and the front-end says so (common.js ``renderLive``).
    """

    _esm_name = ""
    _refresh_interval: float = _watch.STEADY_POLL
    error = t.Unicode("").tag(sync=True)
    gone = t.Unicode("").tag(sync=True)  # "deleted" once the pipeline is gone

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._pollers: list[Poller] = []
        self._subscriptions: list[_watch.Subscription] = []
        self._saved = SavedSnapshot(self._repr_mimebundle_)
        self.on_msg(self._dispatch)
        source = getattr(self, "_source", None)
        self._sub: _watch.Subscription | None = None
        if isinstance(source, Source):
            self._sub = self._watch(source.pipeline, self._on_watch, self._refresh_interval)

    def _on_watch(self, event: _watch.WatchEvent) -> None:
        """News of the pipeline from its watcher; by default only a deletion matters."""
        if event.deleted and not self.gone and not self.closed:
            self.stop_polling()
            with self.hold_sync():
                self.gone = "deleted"
                self.error = ""  # not the raw 404 the last poll may have met

    def __init_subclass__(cls, **kwargs: Any) -> None:
        if cls.__dict__.get("_esm_name"):
            cls._esm = assemble(cls._esm_name)
            cls._css = stylesheet()
        super().__init_subclass__(**kwargs)

    # ---- lifecycle

    def _poll(self, name: str, fn: Callable[[], float | None]) -> Poller:
        poller = Poller(f"arroyo-widget-{name}", fn).start()
        self._pollers.append(poller)
        return poller

    def _watch(
        self, pipeline: Any, callback: Callable[[_watch.WatchEvent], None], refresh_interval: float
    ) -> _watch.Subscription:
        """Subscribe to the pipeline's one watcher (api/watch.py); closed with the widget,
        and told whether the view is on screen (the ``__visible__`` messages)."""
        sub = _watch.watch(pipeline, callback, refresh_interval=refresh_interval)
        self._subscriptions.append(sub)
        return sub

    def stop_polling(self) -> None:
        """End this widget's own poll loops (its pipeline is gone); the view stays."""
        for poller in self._pollers:
            poller.stop()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Stop polling and streaming, then close the comm (idempotent)."""
        if not hasattr(self, "_closed"):  # __init__ failed half-way (ipywidgets calls close in __del__)
            return super().close()
        try:
            if not self.closed and self.comm is not None:
                self._saved.publish()  # the final state, for a headless run's saved output
        finally:  # a failed publish must not leave the watcher or the heartbeat running
            self._closed.set()
            HEARTBEAT.discard(self)
            for sub in self._subscriptions:
                sub.close()
        for poller in self._pollers:
            poller.stop()
        for thread in getattr(self, "_threads", []):
            if thread is not threading.current_thread():
                thread.join(10.0)
        self._on_close()
        super().close()

    def _on_close(self) -> None:
        """Subclasses release their own resources (streams) here."""

    def _background(self, fn: Callable[[], None], name: str = "call") -> threading.Thread:
        """Run ``fn`` off the comm thread (HTTP must not block the kernel); failures go to ``error``."""

        def run() -> None:
            try:
                fn()
            except Exception as exc:
                self.error = short_error(exc)

        thread = threading.Thread(target=run, name=f"arroyo-widget-{name}", daemon=True)
        self._threads = [th for th in getattr(self, "_threads", []) if th.is_alive()] + [thread]
        thread.start()
        return thread

    def _ipython_display_(self) -> None:
        if self._saved.show() and not self.closed:
            self._poll("saved-snapshot", self._saved.tick)

    # ---- messages from the front-end

    def _msg___view__(self, _content: dict, _buffers: list) -> None:
        self._saved.viewed = True
        if not self.closed:
            HEARTBEAT.add(self)

    def _msg___visible__(self, content: dict, _buffers: list) -> None:
        for sub in self._subscriptions:
            sub.visible = bool(content.get("visible", True))

    def _dispatch(self, _widget: Any, content: Any, buffers: list[bytes]) -> None:
        if not isinstance(content, dict):
            return
        handler = getattr(self, f"_msg_{content.get('type', '')}", None)
        if handler is None:
            return
        try:
            handler(content, buffers)
        except Exception as exc:  # shown in the widget, not as a traceback in the log
            self.error = short_error(exc)

    def _emit(self, content: dict, buffers: list[bytes] | None = None) -> None:
        if self.comm is not None and not self.closed:
            self.send(content, buffers)

    # ---- snapshots for front-ends without widgets

    def _snapshot_text(self) -> str:
        return type(self).__name__

    def _snapshot_html(self) -> str:
        return f"<pre>{html.escape(self._snapshot_text())}</pre>"

    def __repr__(self) -> str:
        return self._snapshot_text().splitlines()[0]

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)
        data, meta = bundle if isinstance(bundle, tuple) else (bundle or {}, {})
        data = dict(data)
        data["text/plain"] = self._snapshot_text()
        data["text/html"] = f'<div class="arroyo-snapshot">{self._snapshot_html()}</div>'
        return data, meta


class PlotlyHost:
    """Mixin: hands plotly.js (shipped with the plotly package) to a front-end that asks,
    so figures render without a CDN and saved notebooks stay small."""

    _emit: Callable[..., None]  # from ArroyoWidget

    def _msg_need_plotly(self, _content: dict, _buffers: list) -> None:
        self._emit({"type": "plotly"}, [plotly_js()])


_PLOTLY_JS: bytes | None = None


def plotly_js() -> bytes:
    global _PLOTLY_JS
    if _PLOTLY_JS is None:
        import plotly

        _PLOTLY_JS = (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_bytes()
    return _PLOTLY_JS


def esc(value: Any) -> str:
    """HTML-escape anything shown in a snapshot (quotes too)."""
    return html.escape("" if value is None else str(value), quote=True)
