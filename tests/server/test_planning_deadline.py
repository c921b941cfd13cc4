"""The planning deadline interrupts Python code in its thread, and never anything after it."""

from __future__ import annotations

import threading
import time

import pytest

from arroyo_jupyter.local.planning import _Interrupted, deadline


def _busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(range(100))


def test_deadline_interrupts_a_busy_block():
    t0 = time.monotonic()
    with pytest.raises(_Interrupted), deadline(0.2):
        _busy(30)
    assert time.monotonic() - t0 < 5


def test_deadline_stops_when_cancelled():
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    t0 = time.monotonic()
    with pytest.raises(_Interrupted), deadline(60, cancel):
        _busy(30)
    assert time.monotonic() - t0 < 5


def test_no_interrupt_leaks_past_the_block():
    # blocks that end right around their deadline, again and again: nothing may land later
    for i in range(60):
        try:
            with deadline(0.002 * (i % 6)):
                _busy(0.006)
        except _Interrupted:
            pass
    _busy(0.5)  # an interrupt left armed would land here and fail the test
