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
ROWS = {"tiny": {1: 2_000, 100: 20_000, 1000: 20_000}, "full": {1: 100_000, 100: 500_000, 1000: 500_000}}


def run(size: str, runs: int) -> list[Figure]:
    figures: list[Figure] = []
    for batch in BATCHES:
        total = ROWS[size][batch]
        with Background(
            "_sse_server", ["--rows-per-event", str(batch), "--total-rows", str(total)]
        ) as server:
            url = f"http://127.0.0.1:{server.port}"
            body_bytes = int(server.info[0])  # SSE bytes per response, HTTP framing aside
            ours, httpx_sse, memory = alternate(
                runs,
                lambda url=url: run_worker("stream_decode", ["ours", url]),
                lambda url=url: run_worker("stream_decode", ["httpx_sse", url]),
                lambda url=url: run_worker("stream_decode", ["memory", url]),
            )
            batch_figures = _figures(batch, body_bytes, total, ours, httpx_sse, memory)
            if size == "full" and any(f.met is False for f in batch_figures):  # reasons at full size only
                reason = run_worker("stream_decode", ["profile", url])["summary"]
                for f in batch_figures:
                    f.note = reason if f.met is False else f.note
        figures += batch_figures
    return figures


def _figures(
    batch: int, body_bytes: int, total: int, ours: list, httpx_sse: list, memory: list
) -> list[Figure]:
    for res in (*ours, *httpx_sse, *memory):
        if res["rows"] != total:
            raise RuntimeError(f"a reader decoded {res['rows']} rows of {total}")
    per_s = {
        name: ([r["rows"] / r["seconds"] for r in rs], [body_bytes / r["seconds"] / 1e6 for r in rs])
        for name, rs in (("ours", ours), ("a", httpx_sse), ("b", memory))
    }
    decoders = "/".join(sorted({r["decoder"] for r in memory}))
    out = []
    for i, (metric, unit) in enumerate((("rows_per_s", "rows/s"), ("mb_per_s", "MB/s"))):
        mine = per_s["ours"][i]
        for key, suffix, what, limit in (
            ("a", "vs_httpx_sse", "httpx-sse + json.loads over the same stream", 4.0),
            ("b", "vs_in_memory", f"same bytes in memory, {decoders} (fastest installed)", 0.8),
        ):
            base = per_s[key][i]
            f = Figure(
                f"stream_decode.batch{batch}.{metric}.{suffix}",
                median(mine),
                unit,
                median(base),
                unit,
                what,
                target=f"ratio >= {limit:g}",
                samples=mine,
                baseline_samples=base,
            )
            f.met = judge(f.ratio, limit, True)
            out.append(f)
    return out


# ---------------------------------------------------------------- workers (fresh processes)


def _ours(url: str, client=None) -> dict:
    from arroyo_jupyter.api import Client

    client = client or Client(url, retries=0)
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
    with (
        httpx.Client(timeout=60) as http,
        connect_sse(http, "GET", url + "/api/v1/pipelines/p_bench/jobs/j_bench/output") as source,
    ):
        for sse in source.iter_sse():
            data = json.loads(sse.data)
            rows += len(json.loads(data["batch"]))
    seconds = time.perf_counter() - t0
    return {"rows": rows, "seconds": seconds}


def _memory(url: str) -> dict:
    import httpx
    import msgspec
    import orjson

    body = httpx.get(url + "/", timeout=120).content  # the very bytes the readers get, untimed
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
        emit(_memory(argv[1]))
    elif mode == "profile":
        from arroyo_jupyter.api import Client

        from ._profile import profile_call

        client = Client(argv[1], retries=0)  # set up outside the profiled part
        emit({"summary": profile_call(lambda: _ours(argv[1], client))})
    else:
        raise SystemExit(f"unknown worker mode {mode!r}")


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(sys.argv[2:])
