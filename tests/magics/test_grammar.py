"""The %arroyo grammar: help, rejected flags, line/cell misuse, {{ var }} rendering, load/unload.

None of these need a server: they fail (or print) before any HTTP call.
"""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from arroyo_jupyter import session
from arroyo_jupyter.magics import CELL_COMMANDS, SUBPARSERS, flags_of


def test_help_fits_one_screen_with_one_line_per_subcommand(ipython):
    doc = ipython.find_line_magic("arroyo").__doc__
    lines = doc.splitlines()
    assert len(lines) <= 40 and max(map(len, lines)) <= 100  # one screen
    for command in SUBPARSERS:
        assert sum(1 for line in lines if line.split()[:1] == [command]) == 1, command
    assert "`%arroyo CMD -h` for more" in doc
    # the magic help object IPython shows for `%arroyo?`
    info = ipython.object_inspect("%arroyo")
    assert "dashboard" in info["docstring"]


def test_every_flag_of_every_subcommand_has_help(shell):
    for command, parser in SUBPARSERS.items():
        for action in parser._actions:
            if action.dest in ("help",):
                continue
            assert action.help, (command, action.dest)
        shown = shell.run(f"%arroyo {command} -h")
        assert shown.error is None
        for flag in flags_of(command):
            assert flag in shown.out, (command, flag)


def test_dash_h_prints_help_and_does_not_fail(shell):
    cell = shell.run("%arroyo stop -h")
    assert cell.error is None
    assert "--mode {checkpoint,graceful,immediate,force}" in cell.out


@pytest.mark.parametrize(
    "line, expected",
    [
        ("%arroyo stop p --bogus", "unrecognized arguments: --bogus"),
        ("%arroyo stop p --mod force", "unrecognized arguments: --mod"),  # no abbreviations
        ("%arroyo stop p --mode sideways", "invalid choice: 'sideways'"),
        ("%arroyo frobnicate", "invalid choice: 'frobnicate'"),
        ("%arroyo", "give a subcommand"),
        ("%arroyo rescale p zero", "expected a whole number"),
        ("%arroyo rescale p 0", "must be at least 1"),
        ("%arroyo wait p --state Sleeping", "unknown state 'Sleeping'"),
        ("%arroyo wait p --timeout nan", "seconds > 0"),
        ("%arroyo connect --port 70000", "at most 65535"),
        ('%arroyo stop "unterminated', "not connected"),  # lenient quoting, then the real problem
    ],
)
def test_mistakes_are_short_usage_errors(shell, line, expected):
    cell = shell.run(line)
    assert expected in cell.usage_error
    assert "Traceback" not in cell.err


@pytest.mark.parametrize("command", CELL_COMMANDS)
def test_cell_commands_need_a_cell(shell, command):
    assert f"%%arroyo {command}" in shell.run(f"%arroyo {command}").usage_error


def test_line_commands_refuse_a_cell_body(shell):
    assert "takes no cell body" in shell.run("%%arroyo pipelines\nSELECT 1").usage_error


def test_create_requires_a_name(shell):
    assert "--name" in shell.run("%%arroyo create\nSELECT 1").usage_error


def test_dry_run_shows_rendered_sql_and_runs_nothing(shell):
    shell.ns["rate"] = 250
    shell.ns["cfg"] = type("Cfg", (), {"col": "counter"})()
    cell = shell.run("%%arroyo preview --dry-run\nSELECT {{ cfg.col }} FROM t WHERE x < {{rate}}")
    assert cell.error is None  # not connected, yet nothing was sent
    assert cell.out.strip() == "SELECT counter FROM t WHERE x < 250"


def test_unknown_variable_is_named(shell):
    cell = shell.run("%%arroyo validate --dry-run\nSELECT {{ nope_not_defined }}")
    assert "nope_not_defined" in cell.usage_error


def test_render_sql_touches_nothing_but_placeholders():
    sql = "SELECT '{x}', $y, {{ a }} FROM t -- {{ a }}"
    rendered = session.render_sql(sql, {"a": 1})
    assert rendered.sql == "SELECT '{x}', $y, 1 FROM t -- 1"
    assert rendered.variables == ("a",)
    with pytest.raises(session.SessionError, match="only variable names"):
        session.render_sql("{{ a + 1 }}", {"a": 1})


def test_commands_need_a_connection(shell):
    assert "not connected" in shell.run("%arroyo pipelines").usage_error


def test_verbose_raises_the_original_exception(shell):
    cell = shell.run("%arroyo pipelines --verbose")
    assert isinstance(cell.error, session.SessionError)


def test_short_errors_off_raises_the_original_exception(shell):
    shell.ok("%config ArroyoMagic.short_errors = False")
    try:
        assert isinstance(shell.run("%arroyo status").error, session.SessionError)
    finally:
        shell.ok("%config ArroyoMagic.short_errors = True")


@pytest.mark.parametrize(
    "text, micros",
    [("10s", 10_000_000), ("500ms", 500_000), ("2m", 120_000_000), ("1h", 3_600_000_000), ("3", 3_000_000)],
)
def test_parse_interval(text, micros):
    assert session.parse_interval(text) == micros


def test_parse_interval_rejects_nonsense():
    with pytest.raises(session.SessionError, match="10s, 500ms"):
        session.parse_interval("ten seconds")


def test_parse_create_table():
    name, connector, config = session.parse_create_table(
        "CREATE TABLE bids WITH (connector = 'nexmark', event_rate = '100', 'runtime' = 5, note = 'it''s');"
    )
    assert (name, connector) == ("bids", "nexmark")
    assert config == {"event_rate": "100", "runtime": 5, "note": "it's"}
    with pytest.raises(session.SessionError, match="connector"):
        session.parse_create_table("CREATE TABLE x WITH (event_rate = 1)")
    with pytest.raises(session.SessionError, match="CREATE TABLE name WITH"):
        session.parse_create_table("SELECT 1")


def test_unload_and_reload(ipython):
    ipython.run_line_magic("unload_ext", "arroyo_jupyter")
    try:
        assert ipython.find_line_magic("arroyo") is None
        assert ipython.find_cell_magic("arroyo") is None
        assert not any(type(c).__name__ == "ArroyoMagic" for c in ipython.configurables)
    finally:
        ipython.run_line_magic("load_ext", "arroyo_jupyter")
        ipython.run_line_magic("config", "ArroyoMagic.widgets = False")
    assert ipython.find_line_magic("arroyo") is not None
    assert ipython.find_cell_magic("arroyo") is not None


def test_usage_error_type_is_ipythons(shell):
    # nbclient/papermill fail the run on it; IPython shows it without a traceback
    assert type(shell.run("%arroyo").error) is UsageError


def test_format_diagnostics_places_carets_and_keeps_unplaced_messages():
    from arroyo_jupyter.api import SqlDiagnostic

    sql = "SELECT a,\n\tb FROM t"
    text = session.format_diagnostics(
        sql,
        [
            SqlDiagnostic("bad b\nhint: try c", line=2, column=2, end_line=2, end_column=3),
            SqlDiagnostic("no position"),
            SqlDiagnostic("line out of range", line=9, column=1),
        ],
    )
    lines = text.splitlines()
    assert lines[0] == "invalid SQL (3 problems)"
    assert lines[1] == "  line 2, column 2: bad b"
    assert lines[2] == "    hint: try c"
    assert lines[3] == "     2 |  b FROM t"  # the tab counts as one column
    assert lines[4] == "       |  ^"
    assert lines[5:] == ["  no position", "  line out of range"]
