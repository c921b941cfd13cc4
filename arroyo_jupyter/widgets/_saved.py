"""Keep a displayed widget's saved output current where no front-end draws it.

A headless run (nbclient, papermill, ``make demo``) saves what a cell displayed at the
moment it displayed it: a job widget shown while its job was starting would be saved as
"starting" forever. Until a front-end view announces itself (a ``__view__`` message sent
by every widget's ``render``), the snapshot is re-published with ``update_display_data``
whenever it changes, at most once a second, and once more on close. Once a view exists
the front-end draws the live widget and nothing is re-published (an update would make it
re-create the view).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

Bundle = Callable[[], tuple[dict, dict]]

GRACE_S = 2.0  # a live front-end renders a view well within this after display
INTERVAL_S = 1.0


def in_kernel() -> bool:
    """True inside a Jupyter kernel (a terminal IPython would print every update)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class SavedSnapshot:
    def __init__(self, bundle: Bundle) -> None:
        self._bundle = bundle
        self._lock = threading.Lock()
        self._handle: Any = None
        self._last_html: str | None = None
        self._shown_at = 0.0
        self.viewed = False

    def show(self) -> bool:
        """Display the bundle with a display id; True when updates should follow."""
        from IPython.display import display

        data, meta = self._bundle()
        with self._lock:
            self._handle = display(data, metadata=meta, raw=True, display_id=True)
            self._last_html = data.get("text/html")
            self._shown_at = time.monotonic()
        return self._handle is not None and in_kernel()

    def tick(self) -> float | None:
        """One poll: re-publish if changed. Returns seconds to the next poll, None to park."""
        if self.viewed or self._handle is None:
            return None
        if time.monotonic() - self._shown_at >= GRACE_S:
            self.publish()
        return INTERVAL_S

    def publish(self) -> None:
        if self.viewed or self._handle is None:
            return
        data, meta = self._bundle()
        with self._lock:
            if data.get("text/html") == self._last_html:
                return
            self._last_html = data.get("text/html")
            self._handle.update(data, metadata=meta, raw=True)
