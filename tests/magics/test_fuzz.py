"""Hypothesis: whatever arguments a user types, %arroyo answers with its own UsageError
(or works) — never another exception, never a traceback, never a hang.

Runs against the real embedded server so that argument strings which do parse go all
the way through the session layer and the HTTP client.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from arroyo_jupyter.magics import CELL_COMMANDS, SUBPARSERS, flags_of

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI failures reproduce
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# connect/disconnect change the connection itself: fuzzed separately below.
COMMANDS = sorted(set(SUBPARSERS) - {"connect", "disconnect"})

words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12)
specials = st.sampled_from(
    [
        "-",
        "--",
        "-h2",
        "0",
        "-1",
        "1e309",
        "nan",
        "inf",
        "'",
        '"',
        "{{ x }}",
        "{{",
        "}}",
        "Running",
        "pl_x",
        "%",
        "\\",
    ]
)


def argument_lines(command: str) -> st.SearchStrategy[str]:
    tokens = st.one_of(st.sampled_from(flags_of(command) or ["--verbose"]), words, specials)
    return st.lists(tokens, max_size=6).map(lambda parts: " ".join([command, *parts]))


cell_bodies = st.one_of(st.just(""), st.just("SELEC 1"), words, st.just("CREATE TABLE t WITH (x = 1)"))


def assert_only_usage_errors(cell) -> None:
    if cell.error is not None:
        assert type(cell.error) is UsageError, f"{cell.error!r}\n{cell.err}"
    assert "Traceback" not in cell.err + cell.out


@pytest.mark.parametrize("command", COMMANDS)
def test_any_arguments_give_usage_errors_only(connected, command):
    connected.ns["x"] = 1

    @FUZZ
    @given(line=argument_lines(command), body=cell_bodies)
    def check(line: str, body: str) -> None:
        line = line.replace("\n", " ")
        if {"-h", "--help", "--verbose"} & set(line.split()):
            return  # help is not an error; --verbose asks for the raw exception
        code = f"%%arroyo {line}\n{body}" if command in CELL_COMMANDS else f"%arroyo {line}"
        assert_only_usage_errors(connected.run(code))

    check()


def test_any_connect_arguments_give_usage_errors_only(shell, arroyo_server, monkeypatch):
    # With no URL given, connect goes to $ARROYO_URL: keep it on the test server (no DNS, no new servers).
    monkeypatch.setenv("ARROYO_URL", arroyo_server.url)
    tokens = st.one_of(st.sampled_from(["--api-key-env", "--port", "http://", "https://x"]), words, specials)

    @FUZZ
    @given(parts=st.lists(tokens, max_size=5))
    def check(parts: list[str]) -> None:
        line = " ".join(["connect", *parts]).replace("\n", " ")
        if {"-h", "--help", "--verbose"} & set(line.split()):
            return
        # Only loopback URLs are real ones here: anything else must be rejected before a lookup.
        if any(p.startswith(("http://", "https://")) and len(p) > 8 for p in parts):
            return
        assert_only_usage_errors(shell.run(f"%arroyo {line}"))
        assert_only_usage_errors(shell.run("%arroyo disconnect"))

    check()
