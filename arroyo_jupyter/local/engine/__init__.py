"""The embedded streaming SQL engine: Arroyo's SQL on DataFusion and Arrow.

from arroyo_jupyter.local.engine import plan_query, start_job
program = plan_query(sql, parallelism=2)      # PlanError with positioned diagnostics
runner = start_job(program, state_dir=..., listener=...)
"""

from .interface import (
    CheckpointReport,
    Diagnostic,
    JobListener,
    OperatorCheckpoint,
    PlanError,
    Runner,
    Span,
    SqlLocation,
    SubtaskCheckpoint,
    SubtaskCounters,
)
from .planner import Program, plan_query
from .run_file import run_file, run_program
from .runtime import start_job

__all__ = [
    "CheckpointReport",
    "Diagnostic",
    "JobListener",
    "OperatorCheckpoint",
    "PlanError",
    "Program",
    "Runner",
    "Span",
    "SqlLocation",
    "SubtaskCheckpoint",
    "SubtaskCounters",
    "plan_query",
    "run_file",
    "run_program",
    "start_job",
]
