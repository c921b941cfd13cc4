"""Helpers for engine tests: run SQL on the real engine and collect what it reports.

Imported as ``from engine_helpers import ...`` (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from arroyo_jupyter.local.engine import plan_query, run_program


class Recorder:
    """A JobListener that keeps everything it hears (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: list[dict[str, Any]] = []
        self.timestamps: list[int] = []
        self.start_ids: list[int] = []
        self.operators: set[str] = set()
        self.checkpoints: list[Any] = []
        self.errors: list[tuple] = []
        self.closed: list[str] = []
        self.ended: str | None = None

    def on_output(self, operator_id, subtask_idx, rows, timestamps, start_id):
        with self.lock:
            self.rows.extend(rows.to_pylist())
            self.timestamps.extend(timestamps)
            self.start_ids.append(start_id)
            self.operators.add(operator_id)

    def on_sink_closed(self, operator_id, subtask_idx):
        self.closed.append(operator_id)

    def on_checkpoint(self, report):
        with self.lock:
            self.checkpoints.append(report)

    def on_error(self, operator_id, subtask_idx, message, details, retryable):
        with self.lock:
            self.errors.append((operator_id, subtask_idx, message, details, retryable))

    def on_finished(self):
        self.ended = "finished"

    def on_stopped(self):
        self.ended = "stopped"

    def on_failed(self, reason):
        self.ended = f"failed: {reason}"


def run_sql(sql: str, parallelism: int = 1, timeout: float = 60, **kwargs: Any) -> tuple[Recorder, Any]:
    """Plan and run to completion; returns (listener, job)."""
    program = plan_query(sql, parallelism=parallelism)
    recorder = Recorder()
    job = run_program(program, listener=recorder, timeout=timeout, **kwargs)
    return recorder, job


def write_lines(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fold_debezium(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply a Debezium changelog: the final table, as a sorted list of rows."""
    table: list[dict[str, Any]] = []
    for r in rows:
        if r["op"] in ("u", "d"):
            table.remove(r["before"])
        if r["op"] in ("c", "u"):
            table.append(r["after"])
    return sorted(table, key=json.dumps)
