"""OutputTable: a pipeline's live output (SSE) as a virtualised table.

Threads: a reader fills the bounded ``OutputBuffer``; a flush loop sends at most
``FLUSH_HZ`` binary deltas a second, holding back while the browser has not acknowledged
the previous ones (the buffer coalesces meanwhile and counts what it skipped); once a
second it refreshes the ``snapshot`` trait so a reloaded page or a late view can redraw.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pandas as pd
import traitlets as t

from ..api.follow import RunBoundary
from ..states import TERMINAL_STATES, parse_state
from ._base import ArroyoWidget, esc
from ._bundle import BundleMissing, bundle_version, grid_bundle
from ._output_buffer import MODES, OutputBuffer
from ._source import Source, short_error

# Deltas 9 times a second plus the 1 Hz snapshot keep the widget at 10 messages a second.
FLUSH_HZ = 9
# Bandwidth bound for the websocket (Jupyter's iopub_data_rate_limit counts only stream
# output, its message-rate limit is what FLUSH_HZ respects). Rows beyond the budget are
# coalesced and reported as skipped; 5 MB/s carries ~50k typical rows a second.
MAX_BYTES_PER_SECOND = 5_000_000
MAX_IN_FLIGHT = 2  # deltas sent but not acknowledged before the kernel holds back
ACK_TIMEOUT = 3.0  # seconds: with no view acknowledging, send anyway (no view may be open)
SNAPSHOT_ROWS = 200  # per sink, in the saved snapshot (keeps notebooks small)
RESET_ROWS = 5_000  # per sink, sent to a view that just opened


class OutputTable(ArroyoWidget):
    """Live rows of a pipeline's preview sink(s): ``OutputTable(pipeline)``."""

    _esm_name = "output_table"

    pipeline_name = t.Unicode("").tag(sync=True)
    status = t.Unicode("starting").tag(sync=True)
    sinks = t.List(t.Unicode()).tag(sync=True)
    stats = t.Dict().tag(sync=True)
    paused = t.Bool(False).tag(sync=True)
    newest_first = t.Bool(True).tag(sync=True)
    view_rows = t.Int(20_000).tag(sync=True)  # rows the browser keeps per sink
    # the latest rows per sink (Arrow IPC, as in deltas), refreshed about once a second so a
    # reloaded page or a late view can redraw; snapshot_seq: the delta they include
    snapshot = t.List(t.Bytes()).tag(sync=True)
    snapshot_seq = t.Int(0).tag(sync=True)
    bundle_version = t.Unicode("").tag(sync=True)  # the grid bundle's hash (see _bundle.py)
    time_zone = t.Unicode("UTC").tag(sync=True)  # "UTC", "local" or an IANA zone; one format for every time
    runs = t.List(t.Dict()).tag(sync=True)  # run boundaries: {run, event, time_ms, rows: {sink: n}}

    ack_timeout = ACK_TIMEOUT  # per instance: tests stretch it to watch coalescing

    def __init__(
        self,
        pipeline: Any,
        *,
        mode: str = "auto",
        newest_first: bool = True,
        max_rows: int = 100_000,
        key: Sequence[str] | None = None,
        autostart: bool = True,
        max_bytes_per_second: int = MAX_BYTES_PER_SECOND,
        **kwargs: Any,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
        self._source = Source(pipeline)
        self._job_news = threading.Event()  # set by the pipeline's watcher (_on_watch)
        self._buffer = OutputBuffer(mode=mode, key=key, max_rows=max_rows, max_pending=min(max_rows, 20_000))
        super().__init__(
            pipeline_name=self._source.name,
            newest_first=newest_first,
            bundle_version=bundle_version(),
            **kwargs,
        )
        self.max_bytes_per_second = max_bytes_per_second
        self._seq = 0
        self._acked = 0
        self._last_ack = time.monotonic()
        self._stream: Any = None
        self._stream_lock = threading.Lock()
        self._snap_version = -1
        self._tick = 0
        self._reader: threading.Thread | None = None
        self._flusher = self._poll("output-flush", self._flush_tick)
        if autostart:
            self.start()

    # ---- stream reading (reader thread)

    def start(self) -> None:
        """Open the output stream (once the job runs) on a reader thread."""
        if self._reader is None or not self._reader.is_alive():
            self._reader = threading.Thread(
                target=self._read, name="arroyo-widget-output-reader", daemon=True
            )
            self._reader.start()

    def _wait_running(self) -> bool:
        """Poll the job until Running; False if closed or the job ended first."""
        while not self.closed:
            try:
                state = parse_state(str(getattr(self._source.job(), "state", "Created")))
            except Exception as exc:
                self.status = f"error: {short_error(exc)}"
                return False
            if state.value == "Running":
                return True
            if state in TERMINAL_STATES:
                self.status = f"job {state.value}: no output"
                return False
            self.status = f"waiting for the job ({state.value})"
            self._closed.wait(0.5)
        return False

    def _on_watch(self, event: Any) -> None:
        super()._on_watch(event)
        self._job_news.set()  # the follower waiting for a run looks again (no poll of its own)

    def _read(self) -> None:
        follower = self._source.follow_output(wake=self._job_news if self._sub is not None else None)
        if follower is None:  # a handle without follow_output: this run's stream only
            self._read_one_run()
            return
        with self._stream_lock:
            if self.closed:
                _close_quietly(follower)
                return
            self._stream = follower
        try:
            for item in follower:
                if self.closed:
                    break
                if isinstance(item, RunBoundary):
                    self._boundary(item)
                else:
                    self._buffer.add(item)
            if not self.closed and not self.status.startswith(("pipeline", "preview", "job")):
                self.status = "stream ended"
        except Exception as exc:
            if not self.closed:
                self.status = f"stream error: {short_error(exc)}"
        finally:
            _close_quietly(follower)
            self._flusher.wake()

    def _boundary(self, b: RunBoundary) -> None:
        """A run started or ended: say so plainly, and mark it in the rows."""
        run = f"run {b.run_id}" if b.run_id is not None else "the run"
        if b.kind == "waiting":
            self.status = f"waiting for the job ({b.state})"
            return
        if b.kind == "start":
            self._buffer.mark_run(b.run_id, "started")
            self.status = "streaming" + (f" ({run})" if self._buffer.runs_seen > 1 else "")
            return
        self._buffer.mark_run(b.run_id, b.reason)
        if b.runs_again:
            self.status = f"{run} ended ({b.reason}); rows of the next run follow here"
        elif b.reason == "stopped" and not self._source.preview:
            self.status = "pipeline stopped; rows resume here when it is started again"
        elif b.reason == "failed":
            self.status = f"job failed{': ' + b.failure if b.failure else ''}"
        elif b.reason == "deleted":
            self.status = "pipeline deleted; no more rows"
        elif self._source.preview:
            self.status = f"preview {b.reason}; all its rows are shown"
        else:
            self.status = f"job {b.reason}; no more rows"

    def _read_one_run(self) -> None:
        if not self._wait_running():
            return
        try:
            stream = self._source.output()
        except Exception as exc:
            self.status = f"error: {short_error(exc)}"
            return
        with self._stream_lock:
            if self.closed:
                _close_quietly(stream)
                return
            self._stream = stream
        self.status = "streaming"
        try:
            for event in stream:
                if self.closed:
                    break
                self._buffer.add(event)
            if not self.closed:
                self.status = "stream ended"
        except Exception as exc:
            if not self.closed:
                self.status = f"stream error: {short_error(exc)}"
        finally:
            _close_quietly(stream)
            self._flusher.wake()

    def feed(self, event: Any) -> None:
        """Add one OutputEvent by hand (e.g. from your own stream)."""
        self._buffer.add(event)

    # ---- flushing (flush thread)

    def _flush_tick(self) -> float:
        self._tick += 1
        self.flush()
        if self._tick % FLUSH_HZ == 0:
            self.refresh_snapshot()
        return 1.0 / FLUSH_HZ

    def _browser_ready(self) -> bool:
        in_flight = self._seq - self._acked
        return in_flight < MAX_IN_FLIGHT or time.monotonic() - self._last_ack > self.ack_timeout

    def flush(self) -> bool:
        """Send the rows not yet sent as one delta message; False if nothing was sent."""
        if self.paused:
            self._buffer.drop_pending()
            return False
        if not self._browser_ready():
            return False  # the buffer keeps coalescing; skipped rows are counted
        payloads = self._buffer.take_delta(max(1, self.max_bytes_per_second // FLUSH_HZ))
        if not payloads:
            return False
        with self._lock:
            self._seq += 1
            seq = self._seq
            if seq - self._acked > MAX_IN_FLIGHT:  # sent on ACK_TIMEOUT: restart the clock
                self._last_ack = time.monotonic()
        stats = self._buffer.stats()
        header = {"type": "delta", "seq": seq, "sinks": [name for name, _ in payloads], "stats": stats}
        self._emit(header, [data for _, data in payloads])
        return True

    def refresh_snapshot(self) -> None:
        """Update the ``snapshot``/``stats`` traits if rows arrived since the last one."""
        version = self._buffer.version
        stats = self._buffer.stats()
        with self.hold_sync():
            self.stats = stats
            self.sinks = list(stats)
            if len(self._buffer.runs) != len(self.runs):
                self.runs = list(self._buffer.runs)
            if version != self._snap_version:
                self._snap_version = version
                self.snapshot_seq = self._seq
                self.snapshot = self._buffer.latest(SNAPSHOT_ROWS)

    # ---- messages from the browser

    def _msg_ack(self, content: dict, _buffers: list) -> None:
        with self._lock:
            self._acked = max(self._acked, min(int(content.get("seq", 0)), self._seq))
            self._last_ack = time.monotonic()

    def _msg_need_grid(self, _content: dict, _buffers: list) -> None:
        """The front-end's loader asks for the grid bundle (once per page)."""
        try:
            self._emit({"type": "grid"}, [grid_bundle()])
        except BundleMissing as exc:
            self._emit({"type": "grid", "error": str(exc)}, [])

    def _msg_hello(self, _content: dict, _buffers: list) -> None:
        """A view opened: send it the latest rows and stop waiting for old acks."""
        with self._lock:
            self._acked = self._seq
            self._last_ack = time.monotonic()
            payloads, stats = self._buffer.reset_view(RESET_ROWS)
            self._emit(
                {"type": "reset", "seq": self._seq, "sinks": [name for name, _ in payloads], "stats": stats},
                [data for _, data in payloads],
            )

    @t.observe("paused")
    def _paused_changed(self, change: dict) -> None:
        if not change["new"]:
            self._msg_hello({}, [])  # resume: redraw from the latest rows

    # ---- results

    def to_pandas(self, mode: str = "rows", sink: str | None = None) -> pd.DataFrame:
        """``rows``: what the table shows (the current result for changelog sinks);
        ``final``: changelog applied; ``changelog``: raw records with an ``op`` column."""
        return self._buffer.frame(mode, sink)

    def close(self) -> None:
        """Stop the stream and the threads, then close the comm; never leaves them running,
        even if publishing the final snapshot fails."""
        try:
            super().close()
        finally:
            if hasattr(self, "_stream_lock"):  # else __init__ failed before anything started
                self._closed.set()
                for poller in self._pollers:
                    poller.stop()
                self._on_close()

    def _on_close(self) -> None:
        with self._stream_lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            _close_quietly(stream)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(5.0)

    # ---- snapshot

    def _snapshot_text(self) -> str:
        head = f"OutputTable {self.pipeline_name}: {self.status}"
        try:
            stats = self._buffer.stats()
            parts = [head]
            for name, s in stats.items():
                parts.append(f"  {name}: {s['total']:,} rows received ({s['mode']}), {s['rate']:,}/s")
            df = self._buffer.frame("rows", tail=5) if stats else pd.DataFrame()
            if len(df):
                parts.append(df.tail(5).to_string(max_colwidth=40))
            return "\n".join(parts)
        except Exception as exc:  # a display must never fail (close() publishes one)
            return f"{head} (rows not shown: {short_error(exc)})"

    def _snapshot_html(self) -> str:
        head = f"<b>Output of {esc(self.pipeline_name)}</b> — {esc(self.status)}"
        try:
            stats = self._buffer.stats()
            out = [head]
            for name, s in stats.items():
                out.append(
                    f"<div>{esc(name)}: {s['total']:,} rows ({esc(s['mode'])}), skipped {s['skipped']:,}</div>"
                )
            if stats:
                df = self._buffer.frame("rows", tail=10)
                if len(df):
                    out.append(df.to_html(escape=True, index=False, max_cols=20))
            return "\n".join(out)
        except Exception as exc:
            return f"{head} <i>(rows not shown: {esc(short_error(exc))})</i>"


def _close_quietly(stream: Any) -> None:
    try:
        stream.close()
    except Exception:
        pass
