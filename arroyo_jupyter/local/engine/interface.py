"""The contract between the engine and whoever drives it (server, ``arroyo-jupyter run``).

The engine knows nothing of HTTP. A driver plans SQL into a :class:`Program`, runs it
with a runner, and hears back through a :class:`JobListener`. Times are µs since the
Unix epoch, as in Arroyo's API.

    program = plan_query(sql, parallelism=2)            # raises PlanError
    runner = start_job(program, state_dir=..., listener=...,
                       checkpoint_interval_s=10, restore=True)
    runner.checkpoint(stop=True)                        # final checkpoint, then stop
    runner.stop("immediate")

The concrete ``plan_query`` and ``start_job`` live in the engine package and are
re-exported from ``arroyo_jupyter.local.engine``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class SqlLocation:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True)
class Diagnostic:
    message: str
    start: SqlLocation | None = None
    end: SqlLocation | None = None

    def to_json(self) -> dict[str, Any]:
        """Arroyo's ``SqlDiagnostic``: ``span`` omitted when unknown."""
        out: dict[str, Any] = {"message": self.message}
        if self.start is not None:
            end = self.end or self.start
            out["span"] = {
                "start": {"line": self.start.line, "column": self.start.column},
                "end": {"line": end.line, "column": end.column},
            }
        return out


class PlanError(Exception):
    """A query that cannot be planned; one diagnostic per problem."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.message for d in diagnostics))

    def arroyo_message(self) -> str:
        """The body text Arroyo sends on create/preview: ``Failed to plan query:\\n * …``."""
        return "Failed to plan query:" + "".join(f"\n * {d.message}" for d in self.diagnostics)


@dataclass(frozen=True)
class Span:
    """One timed span: job-level (Checkpointing, …) or subtask-level (Alignment, …)."""

    event: str
    description: str
    start_time: int
    finish_time: int


@dataclass
class SubtaskCheckpoint:
    index: int
    bytes: int
    spans: list[Span] = field(default_factory=list)


@dataclass
class OperatorCheckpoint:
    operator_id: str  # planner ids such as "source_impulse_1", "sink_preview_5"
    node_id: int
    bytes: int
    started_metadata_write: int | None
    finish_time: int | None
    subtasks: list[SubtaskCheckpoint] = field(default_factory=list)


@dataclass
class CheckpointReport:
    epoch: int  # 1, 2, …
    stopping: bool  # the final checkpoint before a stop/rescale ("stopping" type)
    start_time: int
    finish_time: int | None
    events: list[Span] = field(default_factory=list)  # job-level spans
    operators: list[OperatorCheckpoint] = field(default_factory=list)


@dataclass
class SubtaskCounters:
    """Monotonic counters; the server turns them into per-second rates."""

    messages_recv: int = 0
    messages_sent: int = 0
    bytes_recv: int = 0
    bytes_sent: int = 0
    queue_size: int = 0  # capacity of the subtask's output queue
    queue_rem: int = 0  # free slots in it (backpressure = 1 - (rem+1)/(size+1))


class JobListener(Protocol):
    """Called from engine threads; implementations must be thread-safe and quick."""

    def on_output(
        self, operator_id: str, subtask_idx: int, rows: Any, timestamps: list[int], start_id: int
    ) -> None:
        """A preview sink's batch: ``rows`` a pyarrow.RecordBatch without ``_timestamp``."""

    def on_sink_closed(self, operator_id: str, subtask_idx: int) -> None: ...

    def on_checkpoint(self, report: CheckpointReport) -> None:
        """Called when a checkpoint starts (finish_time None) and again when complete."""

    def on_error(
        self, operator_id: str, subtask_idx: int, message: str, details: str, retryable: bool
    ) -> None:
        """A runtime error; ``retryable`` False means the job will fail."""

    def on_finished(self) -> None:
        """Every source finished and everything downstream drained."""

    def on_stopped(self) -> None:
        """The runner stopped because it was asked to."""

    def on_failed(self, reason: str) -> None: ...


class Runner(Protocol):
    def checkpoint(self, stop: bool = False) -> int:
        """Start a barrier checkpoint; returns its epoch. ``stop``: stop once it completes."""

    def stop(self, mode: str) -> None:
        """``graceful`` / ``immediate`` / ``force``: stop without a checkpoint."""

    def join(self, timeout: float | None = None) -> bool:
        """True when every thread of the job has ended."""

    def metrics(self) -> dict[int, dict[int, SubtaskCounters]]:
        """node_id → subtask index → counters, read without stopping the job."""

    @property
    def latest_epoch(self) -> int | None: ...
