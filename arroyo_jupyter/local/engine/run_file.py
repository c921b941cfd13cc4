"""``arroyo-jupyter run QUERY.sql``: run a pipeline in-process until its sources finish."""

from __future__ import annotations

import os
import sys
import threading
from typing import Any, TextIO

from .interface import CheckpointReport, PlanError


class ConsoleListener:
    """Reports runtime errors on stderr; remembers how the job ended."""

    def __init__(self, err: TextIO | None = None):
        self._err = err
        self.failure: str | None = None
        self.checkpoints: list[CheckpointReport] = []
        self.outputs = 0
        self._lock = threading.Lock()

    def on_output(self, operator_id, subtask_idx, rows, timestamps, start_id) -> None:
        self.outputs += len(timestamps)

    def on_sink_closed(self, operator_id, subtask_idx) -> None:
        pass

    def on_checkpoint(self, report: CheckpointReport) -> None:
        if report.finish_time is not None:
            self.checkpoints.append(report)

    def on_error(self, operator_id, subtask_idx, message, details, retryable) -> None:
        with self._lock:
            print(f"error in {operator_id}[{subtask_idx}]: {message}", file=self._err or sys.stderr)

    def on_finished(self) -> None:
        pass

    def on_stopped(self) -> None:
        pass

    def on_failed(self, reason: str) -> None:
        self.failure = reason


def run_program(
    program: Any,
    *,
    listener: Any = None,
    state_dir: str | None = None,
    batch_size: int | None = None,
    checkpoint_every: int | None = None,
    stop_after_checkpoint: int | None = None,
    checkpoint_interval_s: float | None = None,
    timeout: float | None = None,
) -> Any:
    """Run a planned program to completion in this process and return its runner."""
    from .runtime import start_job

    job = start_job(
        program,
        state_dir=state_dir,
        listener=listener,
        restore=True,
        batch_size=batch_size,
        checkpoint_every_batches=checkpoint_every,
        stop_after_epoch=stop_after_checkpoint,
        checkpoint_interval_s=checkpoint_interval_s,
    )
    if not job.join(timeout):
        job.stop("immediate")
        job.join(10)
    return job


def run_file(
    path: str,
    parallelism: int = 1,
    state_dir: str | None = None,
    batch_size: int | None = None,
    checkpoint_every: int | None = None,
    stop_after_checkpoint: int | None = None,
) -> int:
    """Exit code 0 when the sources finished (or the requested checkpoint completed)."""
    from .planner import plan_query

    if (
        parallelism < 1
        or (batch_size is not None and batch_size < 1)
        or (checkpoint_every is not None and checkpoint_every < 1)
    ):
        print("error: --parallelism, --batch-size and --checkpoint-every must be at least 1", file=sys.stderr)
        return 2
    if (checkpoint_every is not None or stop_after_checkpoint is not None) and state_dir is None:
        print("error: checkpoints need a place to go: add --state-dir DIR", file=sys.stderr)
        return 2
    try:
        with open(path, encoding="utf-8") as f:
            sql = f.read()
    except OSError as err:
        print(f"error: cannot read {path}: {err.strerror}", file=sys.stderr)
        return 2
    try:
        program = plan_query(sql, parallelism=parallelism)
    except PlanError as err:
        for d in err.diagnostics:
            where = f" (line {d.start.line}, column {d.start.column})" if d.start else ""
            print(f"error: {d.message}{where}", file=sys.stderr)
        return 1
    except Exception as err:  # an engine bug, not a user mistake: say so briefly
        if os.environ.get("ARROYO_JUPYTER_DEBUG"):
            raise
        print(
            f"error: internal error while planning ({type(err).__name__}: {err}); "
            "set ARROYO_JUPYTER_DEBUG=1 to see the traceback",
            file=sys.stderr,
        )
        return 1
    listener = ConsoleListener()
    try:
        job = run_program(
            program,
            listener=listener,
            state_dir=state_dir,
            batch_size=batch_size,
            checkpoint_every=checkpoint_every,
            stop_after_checkpoint=stop_after_checkpoint,
        )
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if job.outcome == "failed":
        print(f"job failed: {job.failure}", file=sys.stderr)
        return 1
    return 0
