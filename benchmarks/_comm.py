"""A kernel comm for widgets outside a kernel: records what a widget sends to its view.

``install()`` makes ipywidgets open every widget on a :class:`BridgeComm`; a benchmark
reads ``messages`` (or drains ``outbox`` into a real browser page) and hands the
page's answers back with :meth:`BridgeComm.deliver`, the way a kernel would.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from typing import Any

import comm

_ALL: list[BridgeComm] = []


class BridgeComm:
    kernel = "bench"

    def __init__(self, **kwargs: Any) -> None:
        self.comm_id = uuid.uuid4().hex
        self.target_name = kwargs.get("target_name", "")
        self.opened_with = kwargs
        self.outbox: queue.SimpleQueue[tuple[float, dict, list[bytes]]] = queue.SimpleQueue()
        self.sent_messages = 0
        self.custom_messages = 0  # of which custom messages (the rest: trait updates)
        self.sent_bytes = 0
        self.closed = False
        self._callback: Any = None
        self._lock = threading.Lock()
        _ALL.append(self)

    # the comm API ipywidgets uses
    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        buffers = [bytes(b) for b in (buffers or [])]
        size = len(json.dumps(data, default=str)) + sum(len(b) for b in buffers)
        with self._lock:
            self.sent_messages += 1
            self.custom_messages += isinstance(data, dict) and data.get("method") == "custom"
            self.sent_bytes += size
        self.outbox.put((time.monotonic(), data, buffers))

    def on_msg(self, callback: Any) -> None:
        self._callback = callback

    def on_close(self, callback: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        self.closed = True

    # what a front-end's answers look like when they reach the kernel
    def deliver(self, content: dict, buffers: list[bytes] | None = None) -> None:
        if self._callback is not None:
            msg = {"content": {"data": {"method": "custom", "content": content}}, "buffers": buffers or []}
            self._callback(msg)


def install() -> None:
    comm.create_comm = lambda **kwargs: BridgeComm(**kwargs)  # type: ignore[assignment]


def comm_of(widget: Any) -> BridgeComm:
    c = widget.comm
    if not isinstance(c, BridgeComm):
        raise RuntimeError("benchmarks._comm.install() must run before the widget is created")
    return c
