"""4. Embedded server: rows/s to one SSE client, state-change latency, preview latency.

The server (``arroyo_jupyter.local.start``) runs in a process of its own; each
measurement is a fresh client process using the real client (``arroyo_jupyter.api``).

- stream: a preview ``SELECT counter, subtask_index FROM impulse`` (unthrottled) read with
  ``Client.stream_output`` until N rows have arrived; rows/s from the first event on. Baseline: the same client reading pre-encoded events of the same shape and
  batch size from a bare socket server (the client's own ceiling on this machine).
- states: request → transition observed by polling the job every ~2 ms: create →
  Running, stop (immediate) → Stopped, start → Running. Baseline: one round trip of the
  same GET (the resolution of "observed").
- preview: ``%%arroyo preview`` run in an IPython shell (the magic, widgets on) until the
  output table sends its first delta with rows towards the browser; "cold" is the first
  preview of a fresh kernel process (it pays for importing the widgets, pandas, …),
  "warm" the second one. Baseline: the same preview by hand with the client (create,
  poll until Running, open the stream, first row), also first and second in its process.
  The server has run one preview before, so its own first-time costs are not counted.
"""

from __future__ import annotations

import sys
import time
import uuid

from ._harness import Background, Figure, alternate, emit, judge, median, run_worker

ROWS = {"tiny": 100_000, "full": 3_000_000}  # rows read from an unbounded preview
STREAM_SQL = (
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000000000');\n"
    "SELECT counter, subtask_index FROM impulse;"
)
SLOW_SQL = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100');\nSELECT counter, subtask_index FROM impulse;"
PIPELINE_SQL = (
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000');\n"
    "CREATE TABLE sink (counter BIGINT) WITH (connector = 'blackhole');\n"
    "INSERT INTO sink SELECT counter FROM impulse;"
)


def run(size: str, runs: int) -> list[Figure]:
    figures: list[Figure] = []
    n = ROWS[size]
    with Background("_local_server", []) as server:
        url = f"http://127.0.0.1:{server.port}"
        streamed, light = alternate(
            runs,
            lambda: run_worker("server", ["stream", url, str(n), "ours"], timeout=180),
            lambda: run_worker("server", ["stream", url, str(n), "light"], timeout=180),
        )
        states = [run_worker("server", ["states", url]) for _ in range(runs)]
        run_worker("server", ["preview_raw", url], timeout=120)  # warm the server up
        magic, raw = alternate(
            runs,
            lambda: run_worker("server", ["preview", url], timeout=120),
            lambda: run_worker("server", ["preview_raw", url], timeout=120),
        )
    rows_per_event = max(
        1, round(sum(r["rows"] for r in streamed) / max(1, sum(r["events"] for r in streamed)))
    )
    total = max(
        rows_per_event, round(median([r["rows"] for r in streamed]) / rows_per_event) * rows_per_event
    )
    with Background(
        "_sse_server",
        ["--rows-per-event", str(rows_per_event), "--total-rows", str(total), "--shape", "impulse"],
    ) as bare:
        bare_url = f"http://127.0.0.1:{bare.port}"
        ceiling, light_ceiling = alternate(
            runs,
            lambda: run_worker("server", ["bare", bare_url, str(total), "ours"]),
            lambda: run_worker("server", ["bare", bare_url, str(total), "light"]),
        )

    for reader, got, base_runs, what in (
        ("client", streamed, ceiling, "Client.stream_output"),
        ("light_reader", light, light_ceiling, "a light reader (SSE split + msgspec, batch left undecoded)"),
    ):
        rate = [r["rows"] / r["seconds"] for r in got]
        base = [r["rows"] / r["seconds"] for r in base_runs]
        missing = median([r["missing"] for r in got])
        f = Figure(
            f"server.sse_one_client.rows_per_s_{reader}",
            median(rate),
            "rows/s",
            median(base),
            "rows/s",
            f"the same reader on a bare server sending the same rows pre-encoded ({rows_per_event} rows/event)",
            target=">= 100000 rows/s",
            samples=rate,
            baseline_samples=base,
            note=f"read with {what}; {median([r['rows'] for r in got]):.0f} rows a run, "
            f"{missing:.0f} lost in gaps",
        )
        f.met = judge(f.value, 100_000, True)
        figures.append(f)

    rtt = [r["rtt_ms"] for r in states]
    for key, what in (
        ("create_ms", "create → Running"),
        ("stop_ms", "stop (immediate) → Stopped"),
        ("start_ms", "start → Running"),
    ):
        vals = [r[key] for r in states]
        figures.append(
            Figure(
                f"server.state_change.{key.removesuffix('_ms')}_latency",
                median(vals),
                "ms",
                median(rtt),
                "ms",
                "one GET of the job (poll round trip)",
                samples=vals,
                baseline_samples=rtt,
                note=what,
            )
        )

    for which in ("cold", "warm"):
        mg, rw = [r[which] * 1000 for r in magic], [r[which] * 1000 for r in raw]
        f = Figure(
            f"server.preview.first_row_latency_{which}",
            median(mg),
            "ms",
            median(rw),
            "ms",
            f"create_preview + poll Running + stream_output by hand ({which}), first row",
            target="< 1000 ms",
            samples=mg,
            baseline_samples=rw,
            note=f"%%arroyo preview until the table's first delta, {which} kernel",
        )
        f.met = judge(f.value, 1000, False)
        figures.append(f)
    return figures


# ---------------------------------------------------------------- workers (fresh processes)


def _wait_job(client, pid: str, state: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = client.get_pipeline_jobs(pid)
        if (
            jobs
            and str(jobs[0].state) in (state, f"JobState.{state}")
            or (jobs and getattr(jobs[0].state, "value", None) == state)
        ):
            return jobs[0]
        time.sleep(0.002)
    raise TimeoutError(f"pipeline {pid} did not reach {state} in {timeout:.0f} s")


def _stream(url: str, n: int, reader: str) -> dict:
    from arroyo_jupyter.api import Client

    client = Client(url, retries=0, timeout=60)
    p = client.create_preview(STREAM_SQL)
    job = _wait_job(client, p.id, "Running")
    out = _read(client, url, p.id, job.id, n, reader)
    p.stop("immediate")
    return out


def _read(client, url: str, pid: str, jid: str, n: int, reader: str) -> dict:
    """Read until ``n`` rows (or the end); rows/s counted from the first event."""
    rows = events = missing = 0
    first = None
    if reader == "ours":
        with client.stream_output(pid, jid) as stream:
            for event in stream:
                first = first or time.perf_counter()
                rows += len(event.rows)
                events += 1
                if rows >= n:
                    break
            seconds = time.perf_counter() - (first or time.perf_counter())
            missing = stream.missing_rows
    else:
        import httpx
        import msgspec

        class Head(msgspec.Struct):
            timestamps: list[int]
            start_id: int

        decode = msgspec.json.Decoder(Head).decode
        buf, expected = b"", None
        with httpx.stream("GET", f"{client.api_root}/pipelines/{pid}/jobs/{jid}/output", timeout=60) as r:
            for chunk in r.iter_bytes():
                first = first or time.perf_counter()
                *blocks, buf = (buf + chunk).replace(b"\r\n", b"\n").split(b"\n\n")
                for block in blocks:
                    if block.startswith(b"event:") or b"\nevent:" in block:
                        continue  # a named event (replay_dropped, run_end), not OutputData
                    for line in block.split(b"\n"):
                        if line.startswith(b"data:"):
                            head = decode(line[5:])
                            if expected is not None and head.start_id > expected:
                                missing += head.start_id - expected
                            expected = head.start_id + len(head.timestamps)
                            rows += len(head.timestamps)
                            events += 1
                if rows >= n:
                    break
            seconds = time.perf_counter() - (first or time.perf_counter())
    return {"rows": rows, "events": events, "seconds": max(seconds, 1e-9), "missing": missing}


def _states(url: str) -> dict:
    from arroyo_jupyter.api import Client

    client = Client(url, retries=0, timeout=30)
    out = {}
    t0 = time.perf_counter()
    p = client.create_pipeline(f"bench_{uuid.uuid4().hex[:8]}", PIPELINE_SQL)
    job = _wait_job(client, p.id, "Running")
    out["create_ms"] = (time.perf_counter() - t0) * 1000
    rtts = []
    for _ in range(30):
        t = time.perf_counter()
        client.get_pipeline_jobs(p.id)
        rtts.append((time.perf_counter() - t) * 1000)
    out["rtt_ms"] = median(rtts)
    t0 = time.perf_counter()
    p.stop("immediate")
    _wait_job(client, p.id, "Stopped")
    out["stop_ms"] = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    p.start()
    _wait_job(client, p.id, "Running")
    out["start_ms"] = (time.perf_counter() - t0) * 1000
    p.stop("immediate")
    _wait_job(client, p.id, "Stopped")
    client.delete_pipeline(p.id)
    del job
    return out


def _preview_magic(url: str) -> dict:
    from IPython.core.interactiveshell import InteractiveShell

    from . import _comm

    _comm.install()
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "arroyo_jupyter")
    shell.run_line_magic("arroyo", f"connect {url}")
    out = {}
    for which in ("cold", "warm"):
        t0 = time.perf_counter()
        result = shell.run_cell("%%arroyo preview\n" + SLOW_SQL)
        result.raise_error()
        preview = result.result
        table = next(w for w in preview.widgets if type(w).__name__ == "OutputTable")
        box = _comm.comm_of(table)
        deadline = time.monotonic() + 60
        while True:
            _, data, buffers = box.outbox.get(timeout=max(0.01, deadline - time.monotonic()))
            content = (data or {}).get("content") or {}
            if data and data.get("method") == "custom" and content.get("type") == "delta" and buffers:
                out[which] = time.perf_counter() - t0
                break
        for w in preview.widgets:
            w.close()  # stops the preview too
    return out


def _preview_raw(url: str) -> dict:
    from arroyo_jupyter.api import Client

    client = Client(url, retries=0, timeout=30)
    out = {}
    for which in ("cold", "warm"):
        t0 = time.perf_counter()
        p = client.create_preview(SLOW_SQL)
        job = _wait_job(client, p.id, "Running")
        with client.stream_output(p.id, job.id) as stream:
            for event in stream:
                if event.rows:
                    break
        out[which] = time.perf_counter() - t0
        p.stop("immediate")
    return out


def worker(argv: list[str]) -> None:
    mode, url, *rest = argv
    if mode == "stream":
        emit(_stream(url, int(rest[0]), rest[1]))
    elif mode == "bare":
        from arroyo_jupyter.api import Client

        emit(_read(Client(url, retries=0, timeout=60), url, "p", "j", int(rest[0]), rest[1]))
    elif mode == "states":
        emit(_states(url))
    elif mode == "preview":
        emit(_preview_magic(url))
    elif mode == "preview_raw":
        emit(_preview_raw(url))
    else:
        raise SystemExit(f"unknown worker mode {mode!r}")


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(sys.argv[2:])
