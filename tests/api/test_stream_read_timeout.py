"""A silent or half-open server cannot block the output stream forever: no byte (not even
a keep-alive) for ``read_timeout`` seconds raises StreamError, sync and async."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import pytest

from arroyo_jupyter.api import AsyncClient, Client, StreamError

from .conftest import FaultServer
from .test_output_stream import PATH, counter_events, sse


def _then_silent(server: FaultServer, keepalives: int, every: float) -> Iterable[bytes]:
    yield counter_events(1)[0]
    for _ in range(keepalives):
        time.sleep(every)
        yield b": keep-alive\n\n"
    server.stop_event.wait(120)  # half-open: the connection stays, nothing comes
    return


def test_silent_stream_raises_within_its_timeout(server: FaultServer) -> None:
    server.route("GET", PATH, sse(lambda s: _then_silent(s, 0, 0), server, chunked=True))
    with Client(server.url) as client, client.stream_output("pl_x", "job_x", read_timeout=1.0) as stream:
        first = next(stream)
        assert [r["counter"] for r in first.rows] == [0, 1]
        t0 = time.monotonic()
        with pytest.raises(StreamError, match="nothing for 1 s"):
            next(stream)
        assert 0.9 <= time.monotonic() - t0 < 5


def test_keepalives_keep_a_quiet_stream_open(server: FaultServer) -> None:
    server.route("GET", PATH, sse(lambda s: _then_silent(s, 6, 0.25), server, chunked=True))
    with Client(server.url) as client, client.stream_output("pl_x", "job_x", read_timeout=0.8) as stream:
        next(stream)
        t0 = time.monotonic()
        with pytest.raises(StreamError):
            next(stream)
        waited = time.monotonic() - t0
        assert 1.5 + 0.7 <= waited < 1.5 + 5, waited  # the 1.5 s of keep-alives did not count


def test_async_silent_stream_raises_within_its_timeout(server: FaultServer) -> None:
    server.route("GET", PATH, sse(lambda s: _then_silent(s, 0, 0), server, chunked=True))

    async def main() -> float:
        async with AsyncClient(server.url) as client:
            stream = await client.stream_output("pl_x", "job_x", read_timeout=1.0)
            async with stream:
                await stream.__anext__()
                t0 = time.monotonic()
                with pytest.raises(StreamError, match="nothing for 1 s"):
                    await stream.__anext__()
                return time.monotonic() - t0

    assert 0.9 <= asyncio.run(main()) < 5


def test_default_read_timeout_is_a_few_keepalive_periods(server: FaultServer) -> None:
    from arroyo_jupyter.api._config import STREAM_READ_TIMEOUT

    server.route("GET", PATH, sse(lambda _s: counter_events(1), server))
    with Client(server.url) as client, client.stream_output("pl_x", "job_x") as stream:
        assert stream.read_timeout == STREAM_READ_TIMEOUT and 30 <= STREAM_READ_TIMEOUT <= 120
        assert len(list(stream)) == 1
