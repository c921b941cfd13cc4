"""Public ids (``<prefix>_<10 alnum>``) and µs timestamps, as Arroyo makes them."""

from __future__ import annotations

import secrets
import string
import threading
import time

_ALPHABET = string.ascii_letters + string.digits
_clock_lock = threading.Lock()
_last_micros = 0


def new_id(prefix: str) -> str:
    """``pl_W2UjDI6Iud``: a prefix and 10 random nanoid-style characters."""
    return prefix + "_" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def now_micros() -> int:
    """Microseconds since the epoch, strictly increasing within this process.

    Strictly increasing creation times give lists a total order, so ``starting_after``
    never skips rows created in the same instant (Arroyo's SQLite loses those).
    """
    global _last_micros
    with _clock_lock:
        now = time.time_ns() // 1000
        _last_micros = now if now > _last_micros else _last_micros + 1
        return _last_micros
