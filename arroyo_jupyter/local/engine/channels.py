"""Bounded queues between subtasks: one inbox per subtask, one bounded queue per input channel.

A channel is one upstream subtask. ``put`` blocks while that channel's queue is full, so a
slow operator really slows its inputs; the fill of an upstream's output queues is its
backpressure (Arroyo's ``queue_size``/``queue_rem``). ``get`` skips blocked channels, which
is how barrier alignment holds back inputs whose barrier already arrived.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

CAPACITY = 8  # messages (batches, watermarks, barriers) per channel


class Halted(Exception):
    """The job is stopping immediately; blocked calls give up."""


class Inbox:
    def __init__(self, channels: int, halt: threading.Event, capacity: int = CAPACITY):
        self.queues: list[deque[Any]] = [deque() for _ in range(channels)]
        self.capacity = capacity
        self.halt = halt
        self.cond = threading.Condition()
        self._next = 0  # round-robin start, so no channel starves another

    def put(self, channel: int, message: Any) -> None:
        q = self.queues[channel]
        with self.cond:
            while len(q) >= self.capacity:
                if self.halt.is_set():
                    raise Halted
                self.cond.wait()  # a get, or wake() after a halt, notifies
            q.append(message)
            self.cond.notify_all()

    def get(self, blocked: set[int], timeout: float | None) -> tuple[int, Any] | None:
        """The next message of an unblocked channel, or None when ``timeout`` passes first."""
        n = len(self.queues)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.cond:
            while True:
                if self.halt.is_set():
                    raise Halted
                for k in range(n):
                    ch = (self._next + k) % n
                    if ch not in blocked and self.queues[ch]:
                        self._next = (ch + 1) % n
                        message = self.queues[ch].popleft()
                        self.cond.notify_all()  # a producer may be waiting for room
                        return ch, message
                if deadline is None:
                    self.cond.wait()  # idle subtasks sleep until a put, or wake() after a halt
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def fill(self, channel: int) -> int:
        return len(self.queues[channel])

    def wake(self) -> None:
        """After ``halt`` was set: blocked calls see it and raise :class:`Halted`."""
        with self.cond:
            self.cond.notify_all()
