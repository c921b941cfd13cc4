"""Helpers for the server tests: an httpx client on the API root and state polling."""

from __future__ import annotations

import time
from collections.abc import Iterable

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


def job_of(client: httpx.Client, pipeline_id: str) -> dict:
    r = client.get(f"/pipelines/{pipeline_id}/jobs")
    r.raise_for_status()
    return r.json()["data"][0]


def wait_for_state(
    client: httpx.Client,
    pipeline_id: str,
    states: str | Iterable[str],
    timeout: float = 30,
    seen: list | None = None,
) -> dict:
    """Poll the pipeline's job until its state is one of ``states``; records states seen."""
    wanted = {states} if isinstance(states, str) else set(states)
    deadline = time.monotonic() + timeout
    job = job_of(client, pipeline_id)
    while True:
        if seen is not None and (not seen or seen[-1] != job["state"]):
            seen.append(job["state"])
        if job["state"] in wanted:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job stayed {job['state']} (wanted {sorted(wanted)}); seen {seen}")
        time.sleep(0.02)
        job = job_of(client, pipeline_id)


def wait_until(predicate, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
