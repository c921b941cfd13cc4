"""Fixtures for widget tests: a recording comm and a fake pipeline handle we control.

The fake handle implements the documented handle surface so that faults
(server errors, stuck streams, state changes) can be injected at will; the integration
tests in this directory use the real client and the embedded server.
"""

from __future__ import annotations

import threading

import comm
import pytest
from widget_fakes import FakePipeline, RecordingComm, wait_for


@pytest.fixture(scope="session")
def widget_browser(chromium):
    """The session's one Chromium (tests/conftest.py)."""
    return chromium


@pytest.fixture(scope="session")
def harness(tmp_path_factory):
    from browser_harness import HarnessServer

    server = HarnessServer(tmp_path_factory.mktemp("widget-harness"))
    yield server
    server.stop()


@pytest.fixture
def page(widget_browser, harness):
    """A fresh page with the harness loaded; fails the test on any uncaught page error."""
    context = widget_browser.new_context(viewport={"width": 1200, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(harness.url)
    yield pg
    context.close()
    assert errors == [], errors


@pytest.fixture
def recording_comm(monkeypatch):
    monkeypatch.setattr(comm, "create_comm", lambda **kw: RecordingComm(**kw))
    yield


@pytest.fixture
def fake():
    return FakePipeline()


@pytest.fixture
def no_thread_leaks():
    """Fails a test that leaves an arroyo-* thread running (widget pollers, pipeline watchers)."""
    yield
    wait_for(
        lambda: (
            not [t for t in threading.enumerate() if t.name.startswith(("arroyo-widget-", "arroyo-watch-"))]
        ),
        timeout=10,
        message="arroyo threads to end: " + ", ".join(t.name for t in threading.enumerate()),
    )
