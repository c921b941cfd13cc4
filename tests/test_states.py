"""The state→action table matches Arroyo's get_action and the console's overrides."""

import pytest

from arroyo_jupyter.states import (
    ACTION_TABLE,
    TERMINAL_STATES,
    JobState,
    StopType,
    console_buttons,
    get_action,
    is_terminal,
    parse_state,
)


def test_fourteen_states_all_have_actions():
    assert len(JobState) == 14
    assert set(ACTION_TABLE) == set(JobState)


@pytest.mark.parametrize(
    "state, desired, text, stop, busy",
    [
        ("Running", True, "Stop", StopType.CHECKPOINT, False),
        ("Running", False, "Stopping", None, True),
        ("Stopped", False, "Start", StopType.NONE, False),
        ("Stopped", True, "Starting", None, True),
        ("CheckpointStopping", False, "Force Stop", StopType.IMMEDIATE, True),
        ("Stopping", True, "Stopping", StopType.CHECKPOINT, True),
        ("Failed", True, "Failed", None, False),
        ("Failed", False, "Start", StopType.NONE, False),
        ("Created", False, "Start", StopType.NONE, False),
    ],
)
def test_get_action_rows(state, desired, text, stop, busy):
    action = get_action(state, desired)
    assert (action.text, action.stop, action.in_progress) == (text, stop, busy)


def test_console_overrides():
    failed = console_buttons("Failed", True)
    assert [(b.label, b.method, b.ignore_state) for b in failed] == [
        ("Restart", "restart", False),
        ("Restart without state", "restart", True),
    ]
    stopped = console_buttons("Stopped", False)
    assert [(b.label, b.method, b.ignore_state) for b in stopped] == [
        ("Start", "start", False),
        ("Start without state", "start", True),
    ]
    running = console_buttons("Running", True)
    assert [(b.label, b.method, b.mode) for b in running] == [("Stop", "stop", StopType.CHECKPOINT)]
    assert not console_buttons("Finishing", True)[0].enabled


def test_terminal_and_unknown():
    assert TERMINAL_STATES == {JobState.STOPPED, JobState.FINISHED, JobState.FAILED}
    assert is_terminal("Finished") and not is_terminal("Running")
    with pytest.raises(ValueError, match="unknown job state 'Bogus'"):
        parse_state("Bogus")
