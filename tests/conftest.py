"""Shared fixtures: a real embedded Arroyo server on 127.0.0.1 for any test that needs one.

    def test_something(arroyo_server):          # one server for the whole session
        httpx.get(arroyo_server.url + "/api/v1/ping")

    def test_isolated(fresh_server):            # a new server (and state dir) per test

Both are ``arroyo_jupyter.local.LocalServer`` objects: ``.url`` ("http://127.0.0.1:PORT"),
``.api_url`` (``.url + "/api/v1"``), ``.state_dir``, ``.stop()``.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def arroyo_server(tmp_path_factory):
    from arroyo_jupyter.local import start

    # shared by every test module: a generous running-jobs limit, so pipelines other tests
    # leave running cannot make an unrelated create fail (tests of the limit use their own)
    server = start(port=0, state_dir=tmp_path_factory.mktemp("arroyo-state"), max_running_jobs=100)
    yield server
    server.stop()


@pytest.fixture
def fresh_server(tmp_path):
    from arroyo_jupyter.local import start

    server = start(port=0, state_dir=tmp_path / "arroyo-state")
    yield server
    server.stop()


CHROMIUM = "/usr/bin/chromium"  # Debian's; never `playwright install`
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium():
    """One Chromium for the whole session: Playwright's sync API allows one instance per
    thread, so every browser test (widgets, e2e) shares this one."""
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium missing: apt-get install -y chromium (never `playwright install`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
