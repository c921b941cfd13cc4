"""1. Output stream decode: the client's SSE output stream against httpx-sse and the limit.

A server process sends pre-encoded ``OutputData`` events (1, 100, 1,000 rows each) over
loopback; each reader runs in a fresh process and decodes every row:

- ours: ``Client.stream_output`` (arroyo_jupyter.api), rows as dicts;
- (a) httpx-sse + ``json.loads`` (both layers: the event and its ``batch`` string);
- (b) the same SSE bytes already in memory, split and decoded with the fastest decoder
  installed (orjson or msgspec, whichever is faster in that process): the practical limit.
"""

from __future__ import annotations

import sys
import time

from ._harness import Background, Figure, alternate, emit, judge, median, run_worker

BATCHES = (1, 100, 1000)
ROWS = {"tiny": {1: 2_000, 100: 20_000, 1000: 20_000}, "full": {1: 200_000, 100: 1_000_000, 1000: 1_000_000}}


def run(size: str, runs: int) -> list[Figure]:
    figures: list[Figure] = []
    for batch in BATCHES:
        total = ROWS[size][batch]
        with Background("_sse_server", ["--rows-per-event", str(batch), "--total-rows", str(total)]) as server:
            url = f"http://127.0.0.1:{server.port}"
            body_bytes = int(server.info[0])  # SSE bytes per response, HTTP framing aside
            ours, httpx_sse, memory = alternate(
                runs,
                lambda url=url: run_worker("stream_decode", ["ours", url]),
                lambda url=url: run_worker("stream_decode", ["httpx_sse", url]),
                lambda b=batch, t=total: run_worker("stream_decode", ["memory", str(b), str(t)]),
            )
        for res in (*ours, *httpx_sse, *memory):
            if res["rows"] != total:
                raise RuntimeError(f"a reader decoded {res['rows']} rows of {total}")
        rate = [r["rows"] / r["seconds"] for r in ours]
        mbps = [body_bytes / r["seconds"] / 1e6 for r in ours]
        a_rate = [r["rows"] / r["seconds"] for r in httpx_sse]
        a_mbps = [body_bytes / r["seconds"] / 1e6 for r in httpx_sse]
        b_rate = [r["rows"] / r["seconds"] for r in memory]
        b_mbps = [r["bytes"] / r["seconds"] / 1e6 for r in memory]
        decoders = sorted({r["decoder"] for r in memory})
        prefix = f"stream_decode.batch{batch}"
        for metric, unit, mine, base_a, base_b in (
            ("rows_per_s", "rows/s", rate, a_rate, b_rate),
            ("mb_per_s", "MB/s", mbps, a_mbps, b_mbps),
        ):
            fa = Figure(
                f"{prefix}.{metric}.vs_httpx_sse", median(mine), unit, median(base_a), unit,
                "httpx-sse + json.loads over the same stream", target="ratio >= 4",
                samples=mine, baseline_samples=base_a,
            )
            fa.met = judge(fa.ratio, 4, True)
            fb = Figure(
                f"{prefix}.{metric}.vs_in_memory", median(mine), unit, median(base_b), unit,
                f"same bytes in memory, {'/'.join(decoders)} (fastest installed)", target="ratio >= 0.8",
                samples=mine, baseline_samples=base_b,
            )
            fb.met = judge(fb.ratio, 0.8, True)
            figures += [fa, fb]
    return figures


# ---------------------------------------------------------------- workers (fresh processes)


def _ours(url: str) -> dict:
    from arroyo_jupyter.api import Client

    client = Client(url, retries=0)
    rows = 0
    t0 = time.perf_counter()
    with client.stream_output("p_bench", "j_bench") as stream:
        for event in stream:
            rows += len(event.rows)
    seconds = time.perf_counter() - t0
    return {"rows": rows, "seconds": seconds}


def _httpx_sse(url: str) -> dict:
    import json

    import httpx
    from httpx_sse import connect_sse

    rows = 0
    t0 = time.perf_counter()
    with httpx.Client(timeout=60) as http, connect_sse(
        http, "GET", url + "/api/v1/pipelines/p_bench/jobs/j_bench/output"
    ) as source:
        for sse in source.iter_sse():
            data = json.loads(sse.data)
            rows += len(json.loads(data["batch"]))
    seconds = time.perf_counter() - t0
    return {"rows": rows, "seconds": seconds}


def _memory(batch: int, total: int) -> dict:
    import msgspec
    import orjson

    from ._sse_server import encode_body

    body = encode_body(batch, total)
    candidates = {"orjson": orjson.loads, "msgspec": msgspec.json.decode}

    def decode_all(loads) -> int:
        rows = 0
        for block in body.split(b"\n\n"):
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    rows += len(loads(loads(line[5:])["batch"]))
        return rows

    best = None
    for name, loads in candidates.items():
        decode_all(loads)  # warm up
        t0 = time.perf_counter()
        rows = decode_all(loads)
        seconds = time.perf_counter() - t0
        if best is None or seconds < best["seconds"]:
            best = {"rows": rows, "seconds": seconds, "bytes": len(body), "decoder": name}
    return best


def worker(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "ours":
        emit(_ours(argv[1]))
    elif mode == "httpx_sse":
        emit(_httpx_sse(argv[1]))
    elif mode == "memory":
        emit(_memory(int(argv[1]), int(argv[2])))
    else:
        raise SystemExit(f"unknown worker mode {mode!r}")


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(sys.argv[2:])
