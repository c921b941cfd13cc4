"""Fixtures for the server tests: an httpx client on the API root of a real server."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def api(arroyo_server):
    with httpx.Client(base_url=arroyo_server.api_url, timeout=30) as client:
        yield client


@pytest.fixture
def fresh_api(fresh_server):
    with httpx.Client(base_url=fresh_server.api_url, timeout=30) as client:
        yield client
