"""The one interface between the runtime and every operator (Arroyo's ``ArrowOperator``).

The runtime runs each subtask of a node in its own thread and calls only these methods,
always from that thread. It knows nothing of what an operator does: projections, windows,
updating aggregates, key (shuffle) operators, watermark generators and sinks all implement
:class:`Operator`; sources are :class:`~.sources.SourceSubtask`\\ s, polled by their thread.

Output goes through the :class:`Collector` the runtime passes in: ``emit`` sends a batch
downstream (``partition`` picks the subtask behind a shuffle), ``watermark`` advances this
subtask's output watermark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa


@dataclass
class SubtaskState:
    """What one subtask checkpointed: small JSON state and Arrow tables."""

    index: int
    small: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pa.Table] = field(default_factory=dict)


class OperatorError(Exception):
    """An operator cannot go on; the job fails (``retryable``: Arroyo would restart it)."""

    def __init__(self, message: str, details: str = "", retryable: bool = False):
        super().__init__(message)
        self.message, self.details, self.retryable = message, details, retryable


class Collector(Protocol):
    def emit(self, stream: str, batch: pa.RecordBatch | pa.Table, partition: int | None = None) -> None: ...

    def watermark(self, wm: int) -> None: ...


class Operator:
    """One subtask of a node. Defaults: stateless, forwards watermarks, no timers."""

    def restore(self, states: list[SubtaskState] | None) -> None:
        """Called once before anything else: the states of *all* subtasks of the last
        checkpoint (keep what belongs to this subtask), or None on a fresh start."""

    def process(self, stream: str, batch: pa.RecordBatch, out: Collector) -> None:
        """A batch of ``stream`` (a table name) arrived."""
        raise NotImplementedError

    def on_watermark(self, wm: int, out: Collector) -> int | None:
        """The input watermark advanced to ``wm``; returns the watermark to forward (None: none)."""
        return wm

    def on_tick(self, now: float, out: Collector) -> float | None:
        """Timers: called when the deadline returned last time passes; returns the next one
        (``time.monotonic()`` seconds) or None for no timer."""
        return None

    def on_barrier(self, epoch: int, out: Collector) -> SubtaskState:
        """Checkpoint barrier ``epoch`` is aligned: emit what must precede it, return the state."""
        return SubtaskState(0)

    def commit(self, epoch: int) -> bool:
        """Make output up to the barrier durable (two-phase commit); True if there was a commit."""
        return False

    def on_end(self, out: Collector) -> None:
        """Every input ended (sources finished, or a graceful stop): flush what is left."""

    def close(self) -> None:
        """The subtask is going away (any way it ends); release resources."""
