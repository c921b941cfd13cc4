"""Constants and helpers shared by the magics tests (a uniquely named module: every test dir has a conftest)."""

import time

IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\n"


def poll(fn, deadline_s=20.0, what="condition"):
    """Call ``fn`` until it returns something truthy (the deadline only bounds a failure)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {deadline_s}s")
