"""Test doubles for widget tests: a recording comm, a fake stream and a fake pipeline
handle (the handle surface the README documents) for fault injection."""

from __future__ import annotations

import itertools
import queue
import threading
import time
import uuid
from types import SimpleNamespace
from typing import Any

T0 = 1_754_000_000_000_000  # µs


class RecordingComm:
    """Stands in for the kernel comm: records every message a widget sends."""

    kernel = "recording"

    def __init__(self, **kwargs: Any) -> None:
        self.comm_id = uuid.uuid4().hex
        self.opened_with = kwargs
        self.messages: list[tuple[float, dict, list]] = []
        self.closed = False
        self._callback = None
        self._lock = threading.Lock()

    # comm API used by ipywidgets
    def open(self, *a: Any, **k: Any) -> None:
        pass

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        with self._lock:
            self.messages.append((time.monotonic(), data, list(buffers or [])))

    def on_msg(self, callback: Any) -> None:
        self._callback = callback

    def on_close(self, callback: Any) -> None:
        pass

    def close(self, *a: Any, **k: Any) -> None:
        self.closed = True

    # what a front-end would do
    def deliver(self, content: dict, buffers: list | None = None) -> None:
        self._callback(
            {"content": {"data": {"method": "custom", "content": content}}, "buffers": buffers or []}
        )

    def deliver_update(self, state: dict) -> None:
        self._callback(
            {"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []}
        )

    # reading back
    def customs(self, kind: str | None = None) -> list[tuple[float, dict, list]]:
        with self._lock:
            msgs = list(self.messages)
        out = []
        for ts, data, bufs in msgs:
            if data and data.get("method") == "custom":
                content = data["content"]
                if kind is None or content.get("type") == kind:
                    out.append((ts, content, bufs))
        return out

    def updates(self, key: str | None = None) -> list[dict]:
        with self._lock:
            msgs = list(self.messages)
        return [
            d["state"]
            for _, d, _ in msgs
            if d and d.get("method") == "update" and (key is None or key in d["state"])
        ]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.01, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


class FakeStream:
    """An OutputStream whose events the test pushes; close() from any thread ends it."""

    def __init__(self) -> None:
        self.q: queue.Queue = queue.Queue()
        self.closed = threading.Event()

    def push(self, event: Any) -> None:
        self.q.put(event)

    def end(self) -> None:
        self.q.put(None)

    def __iter__(self):
        while not self.closed.is_set():
            try:
                item = self.q.get(timeout=0.05)
            except queue.Empty:
                continue
            if item is None:
                return
            yield item

    def close(self) -> None:
        self.closed.set()


_ids = itertools.count()


def event(rows: list[dict], start_id: int = 0, sink: str = "sink_preview_1", gap: int = 0) -> SimpleNamespace:
    return SimpleNamespace(
        id=next(_ids),
        operator_id=sink,
        subtask_idx=0,
        start_id=start_id,
        timestamps=[T0 + (start_id + i) * 1000 for i in range(len(rows))],
        rows=rows,
        gap=gap,
    )


class ServerError(Exception):
    """Stands in for api.errors.ApiError in fault injection."""


class NotFound(ServerError):
    """A 404, as api.errors.NotFoundError carries it."""

    status = 404


class FakePipeline:
    """A pipeline handle under the test's control."""

    def __init__(self, name: str = "fake", preview: bool = False, state: str = "Running") -> None:
        self.id = "pl_fake"
        self.name = name
        self.preview = preview
        self.checkpoint_interval_micros = 10_000_000
        self.graph = {
            "nodes": [
                {"node_id": 1, "operator": "impulse", "description": "Impulse<10 eps>", "parallelism": 2},
                {"node_id": 2, "operator": "preview", "description": "PreviewSink", "parallelism": 1},
            ],
            "edges": [{"src_id": 1, "dest_id": 2, "edge_type": "Forward"}],
        }
        self.state = state
        self.running_desired = True
        self.failure: str | None = None
        self.calls: list[tuple] = []
        self.fail_with: Exception | None = None
        self.job_calls = 0
        self.stream = FakeStream()
        self.error_log: list[dict] = []
        self.cps: list[dict] = []
        self.details: dict[int, list[dict]] = {}
        self.metric_groups: list[dict] = []
        self.deleted = False
        self.start_time = T0

    def _check_deleted(self, what: str) -> None:
        if self.deleted:
            raise NotFound(f"404 (GET /pipelines/{self.id}{what}): pipeline not found")

    def job(self) -> SimpleNamespace:
        self.job_calls += 1
        self._check_deleted("/jobs")
        reason = {"error": self.failure, "domain": "user"} if self.failure else None
        return SimpleNamespace(
            id="job_fake",
            state=self.state,
            running_desired=self.running_desired,
            run_id=1,
            tasks=3,
            start_time=self.start_time,
            finish_time=None,
            failure_reason=reason,
        )

    def refresh(self) -> FakePipeline:
        self._check_deleted("")
        return self

    def _act(self, *call: Any) -> None:
        self.calls.append(call)
        if self.fail_with is not None:
            raise self.fail_with

    def stop(self, mode: str = "checkpoint") -> None:
        self._act("stop", mode)
        self.state, self.running_desired = "Stopped", False

    def start(self, ignore_state: bool = False) -> None:
        self._act("start", ignore_state)
        self.state, self.running_desired = "Running", True

    def restart(self, force: bool = False, ignore_state: bool = False) -> None:
        self._act("restart", ignore_state)
        self.state, self.running_desired = "Running", True

    def errors(self, limit: int | None = None, starting_after: str | None = None) -> SimpleNamespace:
        msgs = self.error_log
        start = 0
        if starting_after is not None:
            start = next(i for i, m in enumerate(msgs) if m["id"] == starting_after) + 1
        limit = limit or 100
        page = msgs[start : start + limit]
        return SimpleNamespace(data=page, has_more=start + limit < len(msgs))

    def checkpoints(self) -> list[dict]:
        if self.fail_with is not None:
            raise self.fail_with
        return list(self.cps)

    def checkpoint_details(self, epoch: int) -> list[dict]:
        self.calls.append(("details", epoch))
        return self.details[epoch]

    def metrics(self) -> list[dict]:
        return self.metric_groups

    def output(self) -> FakeStream:
        self.calls.append(("output",))
        return self.stream
