"""A bare HTTP server that answers every GET with Arroyo's output SSE, pre-encoded.

Run as ``python -m benchmarks._sse_server --rows-per-event N --total-rows T [--rate R]``;
prints ``READY <port>``. The body is built once, so the server costs next to nothing and
the client is what gets measured. ``--rate`` paces rows per second (for the live table);
without it the body goes out as fast as the socket takes it. Events are grouped into
HTTP chunks of up to 64 KiB, as a server that writes many events per chunk would.
"""

from __future__ import annotations

import argparse
import socket
import threading
import time

import orjson

HEADERS = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
)
CHUNK = 64 * 1024
_CHANNELS = ("Google", "Facebook", "Baidu", "Apple")
T0 = 1_754_000_000_000_000  # µs


def make_rows(start: int, n: int, shape: str = "nexmark") -> list[dict]:
    """Nexmark-bid-like rows (~150 bytes of JSON each), or impulse rows (counter,
    subtask_index) as the engine's impulse source makes; deterministic in ``start``."""
    if shape == "impulse":
        return [{"counter": i, "subtask_index": 0} for i in range(start, start + n)]
    return [
        {
            "auction": 1000 + (i * 7) % 5000,
            "bidder": 2000 + (i * 13) % 9000,
            "price": (i * 31) % 100_000,
            "channel": _CHANNELS[i % 4],
            "url": f"https://www.nexmark.com/item.htm?query={i % 977}",
            "datetime": "2026-11-28T15:00:00.000000Z",
            "extra": "",
        }
        for i in range(start, start + n)
    ]


def encode_event(event_no: int, start_id: int, rows: list[dict]) -> bytes:
    """One SSE event exactly as Arroyo sends it: ``batch`` is a JSON string of a JSON array."""
    payload = {
        "operator_id": "sink_preview_3",
        "subtask_idx": 0,
        "timestamps": [T0 + (start_id + i) * 1000 for i in range(len(rows))],
        "start_id": start_id,
        "batch": orjson.dumps(rows).decode(),
    }
    return b"data: " + orjson.dumps(payload) + b"\nid: " + str(event_no).encode() + b"\n\n"


def encode_events(rows_per_event: int, total_rows: int, shape: str = "nexmark") -> list[bytes]:
    events = []
    for no, start in enumerate(range(0, total_rows, rows_per_event)):
        rows = make_rows(start, min(rows_per_event, total_rows - start), shape)
        events.append(encode_event(no, start, rows))
    return events


def encode_body(rows_per_event: int, total_rows: int, shape: str = "nexmark") -> bytes:
    """The SSE body (no HTTP framing): what the in-memory baseline decodes."""
    return b"".join(encode_events(rows_per_event, total_rows, shape))


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _group(events: list[bytes]) -> list[bytes]:
    """Whole events per HTTP chunk, up to CHUNK bytes (a bigger event gets its own chunk)."""
    out, cur, size = [], [], 0
    for ev in events:
        if cur and size + len(ev) > CHUNK:
            out.append(_chunked(b"".join(cur)))
            cur, size = [], 0
        cur.append(ev)
        size += len(ev)
    if cur:
        out.append(_chunked(b"".join(cur)))
    return out


def _drain_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return
        data += more


def serve(rows_per_event: int, total_rows: int, rate: float, loop: bool, shape: str) -> None:
    events = encode_events(rows_per_event, total_rows, shape)
    fast_body = b"".join(_group(events))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print("READY", listener.getsockname()[1], sum(map(len, events)), flush=True)

    def handle(conn: socket.socket) -> None:
        with conn:
            try:
                _drain_request(conn)
                conn.sendall(HEADERS)
                if rate <= 0:
                    conn.sendall(fast_body)
                else:
                    _paced(conn, events, rows_per_event, rate, loop)
                conn.sendall(b"0\r\n\r\n")
            except OSError:
                pass  # the client went away: that is how paced streams usually end

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def _paced(conn: socket.socket, events: list[bytes], rows_per_event: int, rate: float, loop: bool) -> None:
    """Send events so that rows arrive at ``rate`` per second, in 10 ms ticks."""
    events_per_s = rate / rows_per_event
    start = time.monotonic()
    sent = 0
    n = len(events)
    while loop or sent < n:
        due = int((time.monotonic() - start) * events_per_s) + 1
        if due > sent:
            batch = [
                _reid(events[i % n], i, n, rows_per_event) if loop else events[i] for i in range(sent, due)
            ]
            conn.sendall(_chunked(b"".join(batch)))
            sent = due
        time.sleep(0.01)


def _reid(event: bytes, i: int, n: int, rows_per_event: int) -> bytes:
    """When looping, keep start_id increasing so the client sees no gaps or restarts."""
    if i < n:
        return event
    lap = i // n
    # start_id is the only field that must move on; re-encode just that number.
    head, _, rest = event.partition(b'"start_id":')
    old, _, tail = rest.partition(b",")
    return head + b'"start_id":' + str(int(old) + lap * n * rows_per_event).encode() + b"," + tail


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows-per-event", type=int, required=True)
    parser.add_argument("--total-rows", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0.0, help="rows per second; 0: as fast as possible")
    parser.add_argument("--loop", action="store_true", help="with --rate: repeat the events forever")
    parser.add_argument("--shape", choices=("nexmark", "impulse"), default="nexmark")
    args = parser.parse_args()
    serve(args.rows_per_event, args.total_rows, args.rate, args.loop, args.shape)


if __name__ == "__main__":
    main()
