"""The live output stream against a real local SSE server: ends, cuts, slowness,
a million rows in flat memory, cancelling from another thread or task, and gaps."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from arroyo_jupyter.api import ArroyoError, AsyncClient, BadRequestError, Client, StreamError

from .conftest import FaultServer, reply

PATH = "/api/v1/pipelines/pl_x/jobs/job_x/output"
T0 = 1_754_000_000_000_000


def event(start_id: int, rows: list[dict], eid: int, newline: bytes = b"\n") -> bytes:
    data = {"operator_id": "sink_preview_3", "subtask_idx": 0, "start_id": start_id,
            "timestamps": [T0 + start_id + i for i in range(len(rows))], "batch": json.dumps(rows)}  # fmt: skip
    return b"data: " + json.dumps(data).encode() + newline + b"id: " + str(eid).encode() + newline + newline


def sse(
    chunks: Callable[[FaultServer], Iterable[bytes]], server: FaultServer, chunked: bool = False
) -> Callable:
    def handler(h: Any, _s: Any) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for chunk in chunks(server):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            h.wfile.write(b"0\r\n\r\n")

    return handler


def counter_events(n: int, rows_per_event: int = 2) -> list[bytes]:
    return [event(i * rows_per_event, [{"counter": i * rows_per_event + k} for k in range(rows_per_event)], i)
            for i in range(n)]  # fmt: skip


def test_stream_ends_cleanly_when_the_server_ends_it(server: FaultServer) -> None:
    server.route("GET", PATH, sse(lambda _s: counter_events(3), server))
    with Client(server.url) as client, client.stream_output("pl_x", "job_x") as stream:
        events = list(stream)
        assert [r["counter"] for e in events for r in e.rows] == [0, 1, 2, 3, 4, 5]
        assert [e.id for e in events] == ["0", "1", "2"]
        assert stream.rows_received == 6 and stream.gaps == [] and stream.closed
        assert events[1].timestamps == [T0 + 2, T0 + 3]
    assert server.seen[0].headers["accept"] == "text/event-stream"


def test_crlf_stream_in_odd_chunks(server: FaultServer) -> None:
    raw = b": hello\r\n\r\n" + b"".join(event(i, [{"v": i}], i, newline=b"\r\n") for i in range(5))
    server.route(
        "GET", PATH, sse(lambda _s: [raw[i : i + 7] for i in range(0, len(raw), 7)], server, chunked=True)
    )
    with Client(server.url) as client:
        assert [r["v"] for r in client.stream_output("pl_x", "job_x").iter_rows()] == [0, 1, 2, 3, 4]


def test_stream_cut_mid_event_raises_stream_error(server: FaultServer) -> None:
    whole = event(2, [{"counter": 2}], 1)
    server.route(
        "GET", PATH, sse(lambda _s: [event(0, [{"counter": 0}, {"counter": 1}], 0), whole[:25]], server)
    )
    with Client(server.url) as client:
        stream = client.stream_output("pl_x", "job_x")
        first = next(stream)
        assert first.rows == [{"counter": 0}, {"counter": 1}]
        with pytest.raises(StreamError, match="cut in the middle of an event"):
            next(stream)


def test_stream_cut_inside_a_chunk_raises_stream_error(server: FaultServer) -> None:
    def handler(h: Any, _s: Any) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        first = event(0, [{"a": 1}], 0)
        h.wfile.write(b"%x\r\n%s\r\n" % (len(first), first))
        h.wfile.write(b'400\r\ndata: {"operator')  # announces 1024 bytes, sends a few, hangs up

    server.route("GET", PATH, handler)
    with Client(server.url) as client:
        stream = client.stream_output("pl_x", "job_x")
        assert next(stream).rows == [{"a": 1}]
        with pytest.raises(StreamError, match="was cut"):
            list(stream)


async def test_async_stream_end_and_cut(server: FaultServer) -> None:
    server.route("GET", PATH, sse(lambda _s: counter_events(4), server))
    async with AsyncClient(server.url) as client:
        async with await client.stream_output("pl_x", "job_x") as stream:
            assert [e.start_id async for e in stream] == [0, 2, 4, 6]
        server.route("GET", PATH, sse(lambda _s: [counter_events(1)[0], b'data: {"x'], server))
        stream = await client.stream_output("pl_x", "job_x")
        with pytest.raises(StreamError):
            async for _ in stream:
                pass


def test_slow_stream_does_not_time_out(server: FaultServer) -> None:
    raw = event(0, [{"slow": True}], 0)

    def pieces(_s: FaultServer) -> Iterable[bytes]:
        for i in range(0, len(raw), 20):
            time.sleep(0.03)
            yield raw[i : i + 20]
        time.sleep(0.5)  # silence longer than the client's timeout: no keep-alives in Arroyo
        yield event(1, [{"slow": False}], 1)

    server.route("GET", PATH, sse(pieces, server))
    with Client(server.url, timeout=0.2) as client:
        rows = list(client.stream_output("pl_x", "job_x").iter_rows())
    assert rows == [{"slow": True}, {"slow": False}]


def test_gaps_in_start_id_are_reported(server: FaultServer) -> None:
    chunks = [event(0, [{"c": 0}, {"c": 1}], 0), event(2, [{"c": 2}], 1), event(9, [{"c": 9}], 2),
              event(10, [{"c": 10}], 3), event(40, [{"c": 40}], 4)]  # fmt: skip
    server.route("GET", PATH, sse(lambda _s: chunks, server))
    with Client(server.url) as client:
        stream = client.stream_output("pl_x", "job_x")
        assert [e.gap for e in stream] == [0, 0, 6, 0, 29]
    assert stream.gaps == [(3, 9), (11, 40)]
    assert stream.missing_rows == 35 and stream.rows_received == 6


def test_output_refused_before_streaming(server: FaultServer) -> None:
    server.route("GET", PATH, lambda h, _s: reply(h, 400, '{"error":"Job must be running to read output"}'))
    with Client(server.url) as client:
        with pytest.raises(BadRequestError, match="Job must be running"):
            client.stream_output("pl_x", "job_x")


def held_open(first: bytes) -> Callable[[FaultServer], Iterable[bytes]]:
    def chunks(server: FaultServer) -> Iterable[bytes]:
        yield first
        server.stop_event.wait(30)  # keep the stream open and silent until the test ends

    return chunks


def test_close_from_another_thread_ends_iteration(server: FaultServer) -> None:
    server.route("GET", PATH, sse(held_open(event(0, [{"c": 0}], 0)), server))
    got: list[Any] = []
    errors: list[BaseException] = []
    first_seen = threading.Event()
    with Client(server.url) as client:
        stream = client.stream_output("pl_x", "job_x")

        def consume() -> None:
            try:
                for ev in stream:
                    got.append(ev)
                    first_seen.set()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        reader = threading.Thread(target=consume)
        reader.start()
        assert first_seen.wait(10)
        time.sleep(0.1)  # let the reader block in its next read
        stream.close()
        reader.join(10)
        assert not reader.is_alive(), "close() did not wake the reading thread"
    assert errors == [] and len(got) == 1 and stream.closed


async def test_close_from_another_task_ends_iteration(server: FaultServer) -> None:
    server.route("GET", PATH, sse(held_open(event(0, [{"c": 0}], 0)), server))
    async with AsyncClient(server.url) as client:
        stream = await client.stream_output("pl_x", "job_x")
        got: list[Any] = []
        first = asyncio.Event()

        async def consume() -> None:
            async for ev in stream:
                got.append(ev)
                first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 10)
        await asyncio.sleep(0.05)
        await stream.aclose()
        await asyncio.wait_for(task, 10)  # ends cleanly, no exception
        assert len(got) == 1


async def test_cancelling_the_consumer_task_releases_the_stream(server: FaultServer) -> None:
    server.route("GET", PATH, sse(held_open(event(0, [{"c": 0}], 0)), server))
    async with AsyncClient(server.url) as client:
        stream = await client.stream_output("pl_x", "job_x")
        first = asyncio.Event()

        async def consume() -> None:
            async for _ in stream:
                first.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
        assert stream.closed


@pytest.mark.slow
def test_a_million_rows_in_flat_memory(server: FaultServer) -> None:
    rows_per_event, n_events = 1000, 1000  # 1,000,000 rows, ~12 MB on the wire
    # small rows keep tracemalloc's per-allocation cost (and so the test) short
    batch = json.dumps([{"c": 1}] * rows_per_event)
    stamps = json.dumps([T0] * rows_per_event)
    template = ('data: {"operator_id":"sink_preview_3","subtask_idx":0,"timestamps":' + stamps
                + ',"start_id":%d,"batch":' + json.dumps(batch) + "}\nid: %d\n\n")  # fmt: skip

    def chunks(_s: FaultServer) -> Iterable[bytes]:
        for i in range(0, n_events, 10):  # ten events a write, like a busy server
            yield "".join(template % ((i + k) * rows_per_event, i + k) for k in range(10)).encode()

    server.route("GET", PATH, sse(chunks, server))
    with Client(server.url) as client:
        tracemalloc.start()
        try:
            with client.stream_output("pl_x", "job_x") as stream:
                total = sum(len(ev.rows) for ev in stream)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert total == 1_000_000 and stream.rows_received == 1_000_000 and stream.gaps == []
    # Keeping the rows would take hundreds of MB; the stream holds one chunk at a time.
    assert peak < 6 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"


def test_a_json_answer_is_not_read_as_a_stream(server: FaultServer) -> None:
    server.route("GET", PATH, lambda h, _s: reply(h, 200, '{"data":[]}'))
    with Client(server.url) as client:
        with pytest.raises(ArroyoError, match="expected an event stream"):
            client.stream_output("pl_x", "job_x")
