"""Job state semantics as data: the 14 states, their groups, and the action table.

One table, used by the client (handles), the widgets and the embedded controller,
mirroring Arroyo's ``get_action(state, running_desired)`` in
``crates/arroyo-api/src/jobs.rs`` plus the web console's Failed/Stopped overrides.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class JobState(str, Enum):
    CREATED = "Created"
    COMPILING = "Compiling"
    SCHEDULING = "Scheduling"
    RUNNING = "Running"
    RESCALING = "Rescaling"
    CHECKPOINT_STOPPING = "CheckpointStopping"
    RECOVERING = "Recovering"
    RESTARTING = "Restarting"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    FINISHING = "Finishing"
    FINISHED = "Finished"
    FAILED = "Failed"
    FAILING = "Failing"

    def __str__(self) -> str:
        return self.value


class StopType(str, Enum):
    """What ``PATCH /v1/pipelines/{id} {"stop": …}`` accepts; ``none`` means run."""

    NONE = "none"
    CHECKPOINT = "checkpoint"
    GRACEFUL = "graceful"
    IMMEDIATE = "immediate"
    FORCE = "force"

    def __str__(self) -> str:
        return self.value


ALL_STATES: tuple[JobState, ...] = tuple(JobState)
TERMINAL_STATES = frozenset({JobState.STOPPED, JobState.FINISHED, JobState.FAILED})
# States a job passes through on its way somewhere else: a UI shows a spinner.
TRANSITIONAL_STATES = frozenset(
    {
        JobState.CREATED,
        JobState.COMPILING,
        JobState.SCHEDULING,
        JobState.RESCALING,
        JobState.CHECKPOINT_STOPPING,
        JobState.RECOVERING,
        JobState.RESTARTING,
        JobState.STOPPING,
        JobState.FINISHING,
        JobState.FAILING,
    }
)
STOP_MODES: tuple[StopType, ...] = (
    StopType.CHECKPOINT,
    StopType.GRACEFUL,
    StopType.IMMEDIATE,
    StopType.FORCE,
)
STOP_MODE_NAMES: tuple[str, ...] = tuple(m.value for m in STOP_MODES)


def parse_stop_type(value: str | StopType) -> StopType:
    """Any value of a pipeline's ``stop`` field (``none`` included); ValueError names them."""
    try:
        return StopType(str(value))
    except ValueError:
        names = ", ".join(s.value for s in StopType)
        raise ValueError(f"stop mode must be one of {names}; got {value!r}") from None


def parse_stop_mode(mode: str | StopType) -> StopType:
    """A way to stop (checkpoint | graceful | immediate | force); ValueError names them.

    The one check of a stop mode: the handles, the session and the widgets use it.
    """
    stop = StopType(str(mode)) if str(mode) in STOP_MODE_NAMES else None
    if stop is None:
        raise ValueError(
            f"stop mode must be one of {', '.join(STOP_MODE_NAMES)} (use start() to run), got {mode!r}"
        )
    return stop


@dataclass(frozen=True)
class Action:
    """The button Arroyo shows for a job: label, what PATCH ``stop`` to send, spinner."""

    text: str
    stop: StopType | None  # None: the button is disabled
    in_progress: bool

    @property
    def enabled(self) -> bool:
        return self.stop is not None


_S, _C, _I, _N = JobState, StopType.CHECKPOINT, StopType.IMMEDIATE, StopType.NONE

# state -> (action when running_desired, action when not running_desired)
ACTION_TABLE: dict[JobState, tuple[Action, Action]] = {
    _S.CREATED: (Action("Stop", _C, True), Action("Start", _N, False)),
    _S.COMPILING: (Action("Stop", _C, True), Action("Stopping", None, True)),
    _S.SCHEDULING: (Action("Stop", _C, True), Action("Stopping", None, True)),
    _S.RUNNING: (Action("Stop", _C, False), Action("Stopping", None, True)),
    _S.RESCALING: (Action("Stop", _C, True), Action("Stopping", None, True)),
    _S.CHECKPOINT_STOPPING: (Action("Force Stop", _I, True), Action("Force Stop", _I, True)),
    _S.RECOVERING: (Action("Stop", _C, True), Action("Stopping", None, True)),
    _S.RESTARTING: (Action("Stop", _C, True), Action("Stopping", None, True)),
    _S.STOPPING: (Action("Stopping", _C, True), Action("Stopping", None, True)),
    _S.STOPPED: (Action("Starting", None, True), Action("Start", _N, False)),
    _S.FINISHING: (Action("Finishing", None, True), Action("Finishing", None, True)),
    _S.FINISHED: (Action("Finished", None, False), Action("Finished", None, False)),
    _S.FAILED: (Action("Failed", None, False), Action("Start", _N, False)),
    _S.FAILING: (Action("Failing", None, True), Action("Failing", None, True)),
}


def parse_state(state: str | JobState) -> JobState:
    """The JobState for a server's string; a clear ValueError for anything else."""
    try:
        return JobState(state)
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise ValueError(f"unknown job state {state!r}; expected one of: {names}") from None


def get_action(state: str | JobState, running_desired: bool) -> Action:
    """Arroyo's server-side action for a job (what ``Pipeline.action_*`` carry)."""
    when_desired, when_not = ACTION_TABLE[parse_state(state)]
    return when_desired if running_desired else when_not


@dataclass(frozen=True)
class ConsoleButton:
    """A button of Arroyo's console, as a call on a job handle.

    ``method`` names the handle method to call: ``"stop"`` (with ``mode``), ``"start"``
    or ``"restart"``; ``ignore_state`` is passed to start/restart.
    """

    label: str
    method: str | None
    mode: StopType | None = None
    ignore_state: bool = False
    in_progress: bool = False

    @property
    def enabled(self) -> bool:
        return self.method is not None


def console_buttons(state: str | JobState, running_desired: bool) -> list[ConsoleButton]:
    """The buttons the web console shows, with its overrides on top of ``get_action``.

    Failed → Restart / Restart without state; Stopped (not desired running) →
    Start / Start without state; otherwise the server's action.
    """
    st = parse_state(state)
    action = get_action(st, running_desired)
    if st is JobState.FAILED:
        return [
            ConsoleButton("Restart", "restart"),
            ConsoleButton("Restart without state", "restart", ignore_state=True),
        ]
    if st is JobState.STOPPED and action.enabled:
        return [
            ConsoleButton("Start", "start"),
            ConsoleButton("Start without state", "start", ignore_state=True),
        ]
    if action.stop is None:
        method, mode = None, None
    elif action.stop is StopType.NONE:
        method, mode = "start", None
    else:
        method, mode = "stop", action.stop
    return [ConsoleButton(action.text, method, mode=mode, in_progress=action.in_progress)]


def is_terminal(state: str | JobState) -> bool:
    return parse_state(state) in TERMINAL_STATES


def is_transitional(state: str | JobState) -> bool:
    return parse_state(state) in TRANSITIONAL_STATES
