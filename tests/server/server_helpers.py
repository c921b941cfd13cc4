"""Helpers for the server tests: state polling and a raw SSE parser."""

from __future__ import annotations

import time
from collections.abc import Iterable

import httpx
import orjson


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


def events(response: httpx.Response):
    """Parse SSE from raw bytes (either line ending); yields ('event', id, data) for
    messages, (name, None, data) for named events, or ('comment', text)."""
    buf = b""
    for chunk in response.iter_raw():
        buf += chunk.replace(b"\r\n", b"\n")
        *blocks, buf = buf.split(b"\n\n")
        for block in blocks:
            fields: dict[str, bytes] = {}
            for line in block.split(b"\n"):
                if line.startswith(b":"):
                    yield ("comment", line[1:].strip().decode())
                elif line:
                    key, _, value = line.partition(b":")
                    fields[key.decode()] = value[1:] if value.startswith(b" ") else value
            if "data" in fields and "event" in fields:  # our additive named events, no id
                assert "id" not in fields
                yield (fields["event"].decode(), None, orjson.loads(fields["data"]))
            elif "data" in fields:  # Arroyo's default `message` events
                yield ("event", int(fields["id"]), orjson.loads(fields["data"]))


def output_url(pid: str, jid: str) -> str:
    return f"/pipelines/{pid}/jobs/{jid}/output"
