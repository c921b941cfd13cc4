"""2. Live table: the output widget fed at 10k and 50k rows/s, rendered in real Chromium.

Each run is a fresh "kernel" process: a bare server streams pre-encoded nexmark-like
rows (100 per event) at the given rate; ``OutputTable`` reads them with the real client
(the engine is left out so that the rate is exact); its comm is bridged to the widget's
real ES module, rendered in Chromium (Playwright) in a page served from 127.0.0.1 with an
anywidget-shaped model stub. The browser's acks go back to the widget as a kernel would
deliver them. After a warm-up, over a measuring window:

- messages/s to the browser: every comm message (deltas and trait updates); baseline:
  events/s arriving on the stream (one message per event, a widget without throttling);
- bytes per row sent to the browser (JSON + buffers) against SSE bytes per row received;
- kernel CPU: CPU time of the widget's threads (reader + flusher, from /proc) as % of one
  core; baseline: a plain thread reading the same stream with the client and nothing else;
- apply: per delta, the widget's message handler plus its next animation-frame draw;
  baseline: decoding the same buffers alone (Arrow IPC → columns, the grid's own decoder);
- longest task: the longest of the PerformanceObserver "longtask" entries (≥ 50 ms) and
  the measured handlers and draws; baseline: the longest decode of a delta;
- memory: kernel RSS and the page's JS heap (CDP ``Runtime.getHeapUsage``) at the end of
  the window against 25 % into it. The window is short (see "window" in the notes), not
  10 minutes: the issue's 10-minute run does not fit the suite's time budget, so
  flatness is judged by this ratio and the slope is stated per minute.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ._harness import Background, Figure, emit, judge, median, run_worker, wait_until

PAGE = Path(__file__).parent / "live_page"
RATES = (10_000, 50_000)
ROWS_PER_EVENT = 100
WINDOW = {"tiny": (1.5, 4.0, 2.0), "full": (3.0, 15.0, 4.0)}  # warm-up, widget window, baseline window (s)
WINDOW_ENV = "ARROYO_BENCH_LIVE_WINDOW"  # seconds: e.g. 600 for the 10-minute memory run


def _window(size: str) -> tuple[float, float, float]:
    warm, window, base = WINDOW[size]
    return warm, float(os.environ.get(WINDOW_ENV, window)), base


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def NOTES(figures: list[Figure]) -> str:  # noqa: N802 - read by the report
    warm, window, _ = _window("full")
    return (
        f"Window: {window:.0f} s of measurement after a {warm:.0f} s warm-up per run at full size "
        f"(set {WINDOW_ENV}=600 for a 10-minute memory run); the widget keeps max_rows=10,000 in the kernel and view_rows=20,000 "
        "in the browser; the page renders the output grid's bundle (ag-grid, Arrow IPC deltas). The bridge's own work (fetching buffers into the page, polling acks) is not "
        "counted in the kernel CPU, which covers only the widget's threads."
    )


def run(size: str, runs: int) -> list[Figure]:
    figures: list[Figure] = []
    for rate in RATES:
        timeout = 240 + _window(size)[1]
        res = [run_worker("live_table", ["measure", str(rate), size], timeout=timeout) for _ in range(runs)]
        tag = f"live_table.{rate // 1000}k"

        def med(key: str, res: list[dict] = res) -> float:
            return median([r[key] for r in res])

        def samples(key: str, res: list[dict] = res) -> list[float]:
            return [r[key] for r in res]

        f = Figure(
            f"{tag}.messages_per_s",
            med("msgs_per_s"),
            "msg/s",
            med("events_per_s"),
            "events/s",
            "events/s arriving on the stream (one message per event)",
            target="<= 10 msg/s",
            samples=samples("msgs_per_s"),
            baseline_samples=samples("events_per_s"),
            note=f"of which {med('custom_per_s'):.1f}/s row deltas, the rest trait updates",
        )
        f.met = judge(f.value, 10, False)
        figures.append(f)
        figures.append(
            Figure(
                f"{tag}.bytes_per_row",
                med("bytes_per_row"),
                "B/row",
                med("sse_bytes_per_row"),
                "B/row",
                "SSE bytes per row received",
                samples=samples("bytes_per_row"),
                note=f"{med('rows_per_s'):.0f} rows/s received, {med('skipped_pct'):.0f} % of "
                "them coalesced away before reaching the browser (counted on screen)",
            )
        )
        f = Figure(
            f"{tag}.kernel_cpu",
            med("cpu_pct"),
            "%core",
            med("base_cpu_pct"),
            "%core",
            "a plain thread reading the same stream with the client",
            target="ratio <= 1.3",
            samples=samples("cpu_pct"),
            baseline_samples=samples("base_cpu_pct"),
        )
        f.met = judge(f.ratio, 1.3, False)
        figures.append(f)
        f = Figure(
            f"{tag}.apply_delta_p50",
            med("apply_p50"),
            "ms",
            med("decode_p50"),
            "ms",
            "decoding the same buffers in the page (Arrow IPC → columns)",
            target="ratio <= 2",
            samples=samples("apply_p50"),
            baseline_samples=samples("decode_p50"),
            note=f"p95 {med('apply_p95'):.1f} ms",
        )
        f.met = judge(f.ratio, 2, False)
        figures.append(f)
        f = Figure(
            f"{tag}.longest_task",
            med("longest_ms"),
            "ms",
            med("decode_max"),
            "ms",
            "longest decode of a delta",
            target="<= 50 ms",
            samples=samples("longest_ms"),
            baseline_samples=samples("decode_max"),
            note=f"longest handler {med('sync_max'):.0f} ms, longest draw {med('draw_max'):.0f} ms, "
            f"{med('longtasks'):.0f} longtask entries (>= 50 ms, any cause: GC, layout, the "
            f"harness, CPU contention) up to {med('longtask_max'):.0f} ms; longest animation frame "
            f"{med('frame_max'):.0f} ms = scripts {med('frame_scripts'):.0f} ms + style/layout "
            f"{med('frame_layout'):.0f} ms + the rest (waiting for the CPU, GC, paint)",
        )
        f.met = judge(f.value, 50, False)
        figures.append(f)
        for key, what in (("kernel_rss", "kernel RSS"), ("heap", "browser JS heap")):
            f = Figure(
                f"{tag}.{key}_end",
                med(f"{key}_end"),
                "MB",
                med(f"{key}_early"),
                "MB",
                f"{what} 25 % into the window",
                target="ratio <= 1.1 (flat)",
                samples=samples(f"{key}_end"),
                baseline_samples=samples(f"{key}_early"),
                note=f"slope {med(f'{key}_slope'):+.1f} MB/min over the last 75 % of the window",
            )
            f.met = judge(f.ratio, 1.1, False)
            figures.append(f)
    return figures


# ---------------------------------------------------------------- the kernel side (worker)


class _StreamHandle:
    """The handle surface OutputTable uses, over the real client and a bare SSE server."""

    id = "p_bench"
    name = "live table benchmark"
    preview = True
    graph = None
    checkpoint_interval_micros = None

    def __init__(self, url: str) -> None:
        from arroyo_jupyter.api import Client

        self.client = Client(url, retries=0, timeout=60)

    def job(self):
        return type("Job", (), {"state": "Running", "id": "j_bench"})()

    def output(self):
        return self.client.stream_output("p_bench", "j_bench")

    def refresh(self):
        return self

    def stop(self, mode: str = "checkpoint"):
        return None

    def start(self, ignore_state: bool = False):
        return None

    def restart(self, force: bool = False, ignore_state: bool = False):
        return None


def _thread_cpu(prefix: str) -> float:
    """CPU seconds used so far by this process's threads whose name starts with ``prefix``."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for t in threading.enumerate():
        if not t.name.startswith(prefix) or t.native_id is None:
            continue
        try:
            fields = Path(f"/proc/self/task/{t.native_id}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


class _PageServer:
    """Serves the page, the widget's ESM/CSS, its initial state and message buffers."""

    def __init__(self, esm: bytes, css: str, state: dict) -> None:
        self.files = {
            "/index.html": (PAGE / "index.html").read_bytes(),
            "/output_table.js": esm,
            "/arroyo.css": css.encode(),
            "/state.json": json.dumps(state).encode(),
        }
        self.buffers: dict[str, bytes] = {}
        files, buffers = self.files, self.buffers

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                body = buffers.pop(path[5:], None) if path.startswith("/buf/") else files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                kind = {
                    "js": "text/javascript",
                    "css": "text/css",
                    "html": "text/html",
                    "json": "application/json",
                }.get(path.rsplit(".", 1)[-1], "application/octet-stream")
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, name="bench-page", daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def _baseline_cpu(url: str, seconds: float) -> float:
    """% of a core a plain reader thread spends receiving the same stream."""
    from arroyo_jupyter.api import Client

    stream = Client(url, retries=0, timeout=60).stream_output("p", "j")

    def read() -> None:
        for _ in stream:
            pass

    th = threading.Thread(target=read, name="bench-plain-reader", daemon=True)
    th.start()
    time.sleep(1.0)  # warm-up
    c0, t0 = _thread_cpu("bench-plain-reader"), time.monotonic()
    time.sleep(seconds)
    cpu = _thread_cpu("bench-plain-reader") - c0
    wall = time.monotonic() - t0
    stream.close()
    th.join(5)
    return 100 * cpu / wall


def _pump(page, box, pages: _PageServer, counter: list[int]) -> None:
    """Kernel → browser: every message the widget sent; browser → kernel: its answers."""
    while not box.outbox.empty():
        _, data, buffers = box.outbox.get()
        data = data or {}
        if data.get("method") == "custom":
            ids = []
            for b in buffers:
                counter[0] += 1
                key = str(counter[0])
                pages.buffers[key] = b
                ids.append(key)
            page.evaluate("([c, ids]) => window.__deliver(c, ids)", [data.get("content"), ids])
        elif data.get("method") == "update":
            skip = {p[0] for p in data.get("buffer_paths", [])}
            state = {k: v for k, v in (data.get("state") or {}).items() if k not in skip}
            if state:
                page.evaluate("(s) => window.__update(s)", state)
    for content in page.evaluate("() => window.__take()"):
        box.deliver(content)


def _measure(rate: int, size: str) -> dict:
    from playwright.sync_api import sync_playwright

    from . import _comm

    warm, window, base_window = _window(size)
    out: dict = {}
    with Background(
        "_sse_server",
        ["--rows-per-event", str(ROWS_PER_EVENT), "--total-rows", "100000", "--rate", str(rate), "--loop"],
    ) as sse:
        url = f"http://127.0.0.1:{sse.port}"
        sse_bytes_per_row = int(sse.info[0]) / 100_000
        out["base_cpu_pct"] = _baseline_cpu(url, base_window)

        _comm.install()
        from arroyo_jupyter.widgets import OutputTable

        table = OutputTable(_StreamHandle(url), max_rows=10_000, autostart=False)
        box = _comm.comm_of(table)
        state = {
            k: v for k, v in table.get_state().items() if isinstance(v, (str, int, float, bool, dict, list))
        }
        from arroyo_jupyter.widgets._bundle import grid_bundle

        # the grid's bundle itself (the widget's small loader would fetch it over the comm)
        pages = _PageServer(grid_bundle(), table._css, state)
        counter = [0]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            cdp = page.context.new_cdp_session(page)
            page.goto(pages.url + "/index.html")
            page.wait_for_function("window.__ready === true", timeout=30_000)
            table.start()
            end_warm = time.monotonic() + warm
            while time.monotonic() < end_warm:
                _pump(page, box, pages, counter)
                time.sleep(0.02)
            page.evaluate(
                "() => { const m = window.__metrics(); for (const k of ['sync','draw','apply',"
                "'decode','longtasks','frames']) m[k].length = 0; }"
            )
            wait_until(lambda: table.stats, 10, "the widget's first stats")
            table.refresh_snapshot()  # the stats trait is refreshed once a second: read it fresh
            stats0 = _totals(table)
            msgs0, bytes0, custom0 = box.sent_messages, box.sent_bytes, box.custom_messages
            cpu0, t0 = _thread_cpu("arroyo-widget-"), time.monotonic()
            mem: list[tuple[float, float, float]] = []
            next_sample = t0
            while (now := time.monotonic()) < t0 + window:
                _pump(page, box, pages, counter)
                if now >= next_sample:
                    heap = cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6
                    mem.append((now - t0, _rss_mb(), heap))
                    next_sample = now + 0.5
                time.sleep(0.02)
            wall = time.monotonic() - t0
            cpu = _thread_cpu("arroyo-widget-") - cpu0
            msgs, sent = box.sent_messages - msgs0, box.sent_bytes - bytes0
            custom = box.custom_messages - custom0
            table.refresh_snapshot()
            stats1 = _totals(table)
            metrics = page.evaluate("() => window.__metrics()")
            table.close()
            browser.close()
        pages.close()
    rows = stats1[0] - stats0[0]
    out.update(
        msgs_per_s=msgs / wall,
        custom_per_s=custom / wall,
        events_per_s=rows / ROWS_PER_EVENT / wall,
        rows_per_s=rows / wall,
        bytes_per_row=sent / max(rows, 1),
        sse_bytes_per_row=sse_bytes_per_row,
        skipped_pct=100 * (stats1[1] - stats0[1]) / max(rows, 1),
        cpu_pct=100 * cpu / wall,
        apply_p50=_pct(metrics["apply"], 50),
        apply_p95=_pct(metrics["apply"], 95),
        decode_p50=_pct(metrics["decode"], 50),
        decode_max=max(metrics["decode"] or [0.0]),
        longest_ms=max(metrics["longtasks"] + metrics["sync"] + metrics["draw"] or [0.0]),
        longtasks=len(metrics["longtasks"]),
        longtask_max=max(metrics["longtasks"] or [0.0]),
        **_longest_frame(metrics["frames"]),
        sync_max=max(metrics["sync"] or [0.0]),
        draw_max=max(metrics["draw"] or [0.0]),
    )
    for i, key in ((1, "kernel_rss"), (2, "heap")):
        # Means over short stretches smooth the garbage collector's saw-tooth.
        late = [s for s in mem if s[0] >= 0.25 * window] or mem[-1:]
        early = [s[i] for s in late if s[0] <= 0.4 * window] or [late[0][i]]
        end = [s[i] for s in late if s[0] >= 0.85 * window] or [late[-1][i]]
        out[f"{key}_early"] = sum(early) / len(early)
        out[f"{key}_end"] = sum(end) / len(end)
        out[f"{key}_slope"] = _slope([s[0] / 60 for s in late], [s[i] for s in late])
    return out


def _longest_frame(frames: list[dict]) -> dict:
    """What the longest animation frame was made of (all zero if none reached 50 ms)."""
    worst = max(frames, key=lambda f: f["duration"], default={"duration": 0.0, "scripts": 0.0, "layout": 0.0})
    return {
        "frame_max": worst["duration"],
        "frame_scripts": worst["scripts"],
        "frame_layout": worst["layout"],
    }


def _totals(table) -> tuple[int, int]:
    stats = table.stats or {}
    return sum(s.get("total", 0) for s in stats.values()), sum(s.get("skipped", 0) for s in stats.values())


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope (MB per minute)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def worker(argv: list[str]) -> None:
    if argv[0] != "measure":
        raise SystemExit(f"unknown worker mode {argv[0]!r}")
    emit(_measure(int(argv[1]), argv[2]))


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(sys.argv[2:])
