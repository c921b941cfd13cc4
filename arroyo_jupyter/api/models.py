"""Typed models of Arroyo's REST API (msgspec Structs).

They accept both the official spec (``api-spec.json``) and the newer engine's shapes
(API.md §12): fields added later have defaults, unknown fields are ignored. Times are
microseconds since the epoch as ints (``created_at``) with a timezone-aware UTC
``datetime`` beside them (``created_at_dt``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec

from ..states import JobState, StopType, parse_state
from .errors import SqlDiagnostic

__all__ = [
    "Checkpoint",
    "CheckpointEventSpan",
    "ConnectionAutocompleteResp",
    "ConnectionProfile",
    "ConnectionTable",
    "Connector",
    "FailureReason",
    "GlobalUdf",
    "Job",
    "JobLogMessage",
    "Metric",
    "MetricGroup",
    "OperatorCheckpointGroup",
    "OperatorMetricGroup",
    "OutputData",
    "Pipeline",
    "PipelineEdge",
    "PipelineGraph",
    "PipelineNode",
    "QueryValidationResult",
    "SqlDiagnostic",
    "SubtaskCheckpointGroup",
    "SubtaskMetrics",
    "TestSourceMessage",
    "Udf",
    "UdfValidationResult",
    "micros_to_datetime",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros_to_datetime(micros: int | None) -> datetime | None:
    """µs since the Unix epoch → aware UTC datetime (exact, no float rounding)."""
    if micros is None:
        return None
    return _EPOCH + timedelta(microseconds=micros)


def datetime_of(field: str) -> Any:
    """A read-only ``<field>_dt`` attribute: the µs timestamp ``field`` as an aware UTC datetime."""
    return property(lambda self: micros_to_datetime(getattr(self, field)), doc=f"``{field}`` as a datetime")


class Udf(msgspec.Struct, omit_defaults=True):
    """A pipeline-local UDF (``language`` defaults to rust on the server)."""

    definition: str
    language: str | None = None


class PipelineNode(msgspec.Struct):
    node_id: int
    operator: str
    description: str = ""
    parallelism: int = 1


class PipelineEdge(msgspec.Struct):
    src_id: int
    dest_id: int
    key_type: str = "()"
    value_type: str = "()"
    edge_type: str = "Forward"


class PipelineGraph(msgspec.Struct):
    nodes: list[PipelineNode] = []
    edges: list[PipelineEdge] = []


class Pipeline(msgspec.Struct):
    id: str
    name: str
    query: str
    checkpoint_interval_micros: int
    stop: str
    created_at: int
    action_text: str
    action_in_progress: bool
    graph: PipelineGraph
    preview: bool = False
    udfs: list[Udf] = []
    action: str | None = None
    state_url: str | None = None  # newer engine
    tags: dict[str, str] = {}  # newer engine (required there; absent in the spec)

    created_at_dt = datetime_of("created_at")

    @property
    def parallelism(self) -> int:
        """What Arroyo's console shows: the max over the graph's nodes."""
        return max((n.parallelism for n in self.graph.nodes), default=0)


class FailureReason(msgspec.Struct):
    error: str
    domain: str = "internal"


class Job(msgspec.Struct):
    id: str
    running_desired: bool
    state: str
    run_id: int
    created_at: int
    start_time: int | None = None
    finish_time: int | None = None
    tasks: int | None = None
    failure_reason: FailureReason | None = None
    failure_message: str | None = None  # v0.15 engines: a flat string
    pipeline_id: str | None = None  # newer engine
    scheduler_config: Any = None  # newer engine
    env_vars: Any = None  # newer engine

    @property
    def job_state(self) -> JobState | str:
        """``state`` as a JobState; the raw string if the server sent an unknown one."""
        try:
            return parse_state(self.state)
        except ValueError:
            return self.state

    @property
    def failure(self) -> str | None:
        """The failure text, whichever engine version sent it."""
        if self.failure_reason is not None:
            return self.failure_reason.error
        return self.failure_message

    created_at_dt = datetime_of("created_at")
    start_time_dt = datetime_of("start_time")
    finish_time_dt = datetime_of("finish_time")


class JobLogMessage(msgspec.Struct):
    id: str
    created_at: int
    level: str
    message: str
    details: str = ""
    operator_id: str | None = None
    task_index: int | None = None
    error_domain: str | None = None

    created_at_dt = datetime_of("created_at")


class CheckpointEventSpan(msgspec.Struct):
    start_time: int
    finish_time: int  # 0 while the span is still open
    event: str
    description: str = ""

    start_time_dt = datetime_of("start_time")

    @property
    def finish_time_dt(self) -> datetime | None:
        return micros_to_datetime(self.finish_time) if self.finish_time else None


class Checkpoint(msgspec.Struct):
    epoch: int
    backend: str
    start_time: int
    events: list[CheckpointEventSpan] = []
    finish_time: int | None = None
    checkpoint_type: str | None = None  # newer engine: "scheduled" | "stopping"

    start_time_dt = datetime_of("start_time")
    finish_time_dt = datetime_of("finish_time")

    @property
    def duration_micros(self) -> int | None:
        return None if self.finish_time is None else self.finish_time - self.start_time


class SubtaskCheckpointGroup(msgspec.Struct):
    index: int
    bytes: int
    event_spans: list[CheckpointEventSpan] = []


class OperatorCheckpointGroup(msgspec.Struct):
    operator_id: str
    bytes: int
    subtasks: list[SubtaskCheckpointGroup] = []
    started_metadata_write: int | None = None
    finish_time: int | None = None

    started_metadata_write_dt = datetime_of("started_metadata_write")
    finish_time_dt = datetime_of("finish_time")


class Metric(msgspec.Struct):
    time: int
    value: float

    time_dt = datetime_of("time")


class SubtaskMetrics(msgspec.Struct):
    index: int
    metrics: list[Metric] = []


class MetricGroup(msgspec.Struct):
    name: str
    subtasks: list[SubtaskMetrics] = []


class OperatorMetricGroup(msgspec.Struct):
    node_id: int
    metric_groups: list[MetricGroup] = []


class OutputData(msgspec.Struct):
    """One output event as on the wire: ``batch`` is a JSON array inside a string."""

    operator_id: str
    subtask_idx: int
    timestamps: list[int]
    start_id: int
    batch: str


class StateTransition(msgspec.Struct):
    """One state a job entered, at server time ``time`` (µs), with the job's ``run_id``
    then. Served by the embedded server's additive ``…/jobs/{job}/state_transitions``."""

    state: str
    time: int
    run_id: int = 0

    time_dt = datetime_of("time")


class RunEnd(msgspec.Struct):
    """The embedded server's ``event: run_end``: the run's sinks closed, and why.

    ``state`` is the job state that ended the run: Stopping / CheckpointStopping
    (stopped), Restarting / Rescaling / Recovering (a new run follows), Finishing
    (finished), Failing (failed), or a terminal state. Arroyo itself only ends the body.
    """

    run_id: int | None = None
    state: str | None = None


class ReplayDropped(msgspec.Struct):
    """The embedded server's ``event: replay_dropped``: a preview's replay buffer had
    dropped its oldest ``dropped_rows`` rows before this stream connected."""

    dropped_rows: int
    max_rows: int | None = None
    max_bytes: int | None = None


class ConnectionProfile(msgspec.Struct):
    id: str
    name: str
    connector: str
    config: Any = None
    description: str = ""


class ConnectionTable(msgspec.Struct):
    id: str
    name: str
    created_at: int
    connector: str
    table_type: str
    config: Any = None
    schema: Any = None  # ConnectionSchema, kept as JSON: it is a deep tagged union
    consumers: int = 0
    connection_profile: ConnectionProfile | None = None

    created_at_dt = datetime_of("created_at")


class Connector(msgspec.Struct):
    id: str
    name: str
    icon: str = ""
    description: str = ""
    table_config: str = ""
    enabled: bool = True
    source: bool = False
    sink: bool = False
    custom_schemas: bool = False
    testing: bool = False
    hidden: bool = False
    connection_config: str | None = None


class GlobalUdf(msgspec.Struct):
    # POST /v1/udfs returns this shape; the spec says `Udf` ({definition, language}),
    # so everything but `definition` has a default to accept both.
    definition: str
    id: str = ""
    prefix: str = ""
    name: str = ""
    language: str | None = None
    created_at: int = 0
    updated_at: int = 0
    description: str | None = None
    dylib_url: str | None = None

    created_at_dt = datetime_of("created_at")
    updated_at_dt = datetime_of("updated_at")


class UdfValidationResult(msgspec.Struct):
    errors: list[str] = []
    udf_name: str | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


class TestSourceMessage(msgspec.Struct):
    __test__ = False  # not a pytest test class despite the name

    error: bool
    done: bool
    message: str


class ConnectionAutocompleteResp(msgspec.Struct):
    values: dict[str, list[str]] = {}


class QueryValidationResult(msgspec.Struct):
    """validate_query's answer; ``errors`` normalised to SqlDiagnostic for both versions."""

    errors: list[SqlDiagnostic]
    graph: PipelineGraph | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.graph is not None


# --- wire-only shapes ----------------------------------------------------------------


class _SqlLocation(msgspec.Struct):
    line: int
    column: int


class _SqlSpan(msgspec.Struct):
    start: _SqlLocation
    end: _SqlLocation | None = None


class _WireDiagnostic(msgspec.Struct):
    message: str
    span: _SqlSpan | None = None


class _WireValidation(msgspec.Struct):
    # Spec: errors are strings; newer engine: {message, span?} objects.
    errors: list[str | _WireDiagnostic] = []
    graph: PipelineGraph | None = None


def _diagnostic(item: str | _WireDiagnostic) -> SqlDiagnostic:
    if isinstance(item, str):
        return SqlDiagnostic(item)
    span = item.span
    if span is None:
        return SqlDiagnostic(item.message)
    end = span.end or span.start
    return SqlDiagnostic(item.message, span.start.line, span.start.column, end.line, end.column)


def validation_from_wire(wire: _WireValidation) -> QueryValidationResult:
    return QueryValidationResult(errors=[_diagnostic(e) for e in wire.errors], graph=wire.graph)


def as_stop_type(value: str | None) -> StopType | str | None:
    """A server's stop string as a StopType (the raw string if unknown)."""
    if value is None:
        return None
    try:
        return StopType(value)
    except ValueError:
        return value
