"""The Session API without IPython, the Preview object's lifecycle, and what cells display.

All against the real embedded server over HTTP.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import pandas as pd
import pytest
from magics_support import IMPULSE, poll

from arroyo_jupyter.api import ArgumentError, ArroyoError, SessionError, WaitTimeout
from arroyo_jupyter.config import ConfigError
from arroyo_jupyter.session import Session

SELECT = IMPULSE + "SELECT counter FROM impulse;"


@pytest.fixture
def own_session(arroyo_server):
    """A Session of its own (not the default the magic uses), connected to the shared server."""
    s = Session()
    s.connect(arroyo_server.url)
    yield s
    s.disconnect()


def job_state(s: Session, pipeline_id: str) -> str:
    return str(s.client.get_pipeline(pipeline_id).job().state)


# --- the error tree ------------------------------------------------------------------------


def test_session_errors_join_the_client_error_tree():
    assert issubclass(SessionError, ArroyoError) and issubclass(SessionError, ValueError)
    assert issubclass(ConfigError, SessionError)
    assert issubclass(WaitTimeout, ArroyoError) and issubclass(WaitTimeout, TimeoutError)
    with pytest.raises(SessionError, match="not connected"):
        Session().pipelines()
    with pytest.raises(ArgumentError, match="not an http"):
        Session().connect("ftp://example.org")


# --- the Session API from a plain script ---------------------------------------------------


def test_the_session_api_works_from_a_plain_script(arroyo_server, tmp_path):
    name = f"script_{uuid.uuid4().hex[:8]}"
    long_select = IMPULSE + "SELECT counter, counter + 1 AS next_one, counter * 2 AS twice FROM impulse;"
    script = tmp_path / "plain.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from arroyo_jupyter.api import ArgumentError, SessionError, WaitTimeout
            from arroyo_jupyter.session import Session

            s = Session()
            try:
                s.pipelines()
            except SessionError as exc:
                print("BEFORE CONNECT:", exc)
            connection = s.connect({arroyo_server.url!r})
            print("CONNECTED", connection.url, connection.local)
            p = s.create({long_select!r}, name={name!r}, parallelism=2)
            s.wait({name!r}, "Running", timeout=60)
            table = s.pipelines()
            row = table[table["name"] == {name!r}].iloc[0]
            print("ROW", row["state"], row["parallelism"], row["errors"], repr(row["query"]))
            try:
                s.wait({name!r}, "Finished", timeout=0.3)
            except WaitTimeout as exc:
                print("TIMEOUT", isinstance(exc, TimeoutError), exc)
            try:
                s.stop({name!r}, mode="sideways")
            except ArgumentError as exc:
                print("BAD MODE", exc)
            preview = s.preview({SELECT!r}, collect=3)
            print("PREVIEW", len(preview.frame), preview.stopped, preview.stop_reason)
            s.stop({name!r}, mode="immediate")
            s.wait({name!r}, "Stopped", timeout=60)
            print(s.delete({name!r}))
            print("IPYTHON LOADED", any(m.split(".")[0] == "IPython" for m in sys.modules))
            print("DISCONNECT", s.disconnect())
            left = s.connect({arroyo_server.url!r}) and s.preview({SELECT!r})  # left running
            print("LEFT", left.pipeline.id)
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "BEFORE CONNECT: not connected" in out
    assert f"CONNECTED {arroyo_server.url}" in out
    state, parallelism, errors, query = out.split("ROW ", 1)[1].splitlines()[0].split(" ", 3)
    assert (state, parallelism, errors) == ("Running", "2", "0")
    assert len(eval(query)) <= 60 and eval(query).endswith("…")  # the query, shortened to one line
    assert f"TIMEOUT True {name} did not reach Finished within 0.3s (it is Running)" in out
    assert "BAD MODE stop mode must be one of checkpoint, graceful, immediate, force" in out
    assert "PREVIEW 3 True done collecting" in out
    assert f"deleted {name}" in out
    assert "IPYTHON LOADED False" in out  # a script never loads IPython
    left = out.split("LEFT ", 1)[1].split()[0]  # the exit stops what a Session of its own left running
    assert f"arroyo_jupyter at exit: stopped preview {left} (kernel exit)" in out


# --- the Preview object's lifecycle --------------------------------------------------------


def test_preview_lifecycle_rerun_close_and_disconnect(own_session):
    s = own_session
    first = s.preview(SELECT, key="cell-1", live=True, refresh_interval=0.5)
    assert len(first.widgets) == 2 and not first.stopped
    assert "started at" in repr(first) and "(running)" not in repr(first)

    second = s.preview(SELECT, key="cell-1", live=True, refresh_interval=0.5)  # the cell re-run
    assert first.stopped and first.stop_reason == "cell re-run"
    assert second.account == [f"stopped preview {first.pipeline.id} (cell re-run)"]
    assert all(w.closed for w in first.widgets)  # its views stopped watching
    assert "stopped at" in repr(first) and "cell re-run" in repr(first)
    poll(lambda: job_state(s, first.pipeline.id) == "Stopped", what="the replaced preview stopped")

    second.widgets[1].close()  # closing one of its views stops the preview
    assert second.stopped and second.stop_reason == "widget closed"
    assert second.stop("again") is None  # only once
    poll(lambda: job_state(s, second.pipeline.id) == "Stopped", what="the closed preview stopped")

    third = s.preview(SELECT, key="cell-2", live=True, refresh_interval=0.5)
    assert set(s.previews) == {"cell-1", "cell-2"}
    account = s.disconnect()
    assert f"stopped preview {third.pipeline.id} (disconnect)" in account
    assert third.stopped and all(w.closed for w in third.widgets)
    assert not s.connected and s.previews == {}


def test_preview_ttl_and_collect(own_session):
    s = own_session
    timed = s.preview(SELECT, ttl=0.3)
    assert not timed.widgets and timed.frame is None
    poll(lambda: timed.stopped, what="the ttl stop")
    assert timed.stop_reason == "--ttl 0.3s"

    collected = s.preview(SELECT, collect=4)
    assert isinstance(collected.frame, pd.DataFrame) and len(collected.frame) == 4
    assert collected.stopped and collected.stop_reason == "done collecting"
    assert collected.account == [f"stopped preview {collected.pipeline.id} (done collecting)"]
    with pytest.raises(SessionError, match="--rows must be at least 1"):
        s.preview(SELECT, collect=0)


def test_bad_sql_in_a_preview_names_the_line_of_the_sql(own_session):
    with pytest.raises(SessionError, match="line 2, column"):
        own_session.preview(IMPULSE + "SELEC counter FROM impulse;")
    with pytest.raises(SessionError, match="line 3, column"):  # one line above it: a magic line
        own_session.preview(IMPULSE + "SELEC counter FROM impulse;", line_offset=1)


# --- what cells display ----------------------------------------------------------------------


def test_create_cell_shows_only_data(connected, name):
    pipeline = connected.ok(f"%%arroyo create --name {name}\n" + SELECT)
    try:
        data, _ = connected.ip.display_formatter.format(pipeline)
        shown = data["text/html"]
        assert pipeline.id in shown and name in shown
        assert "bound method" not in shown and "action_text" not in shown
    finally:
        connected.ok(f"%arroyo delete {name} --stop")


def test_pipelines_and_jobs_are_the_table_a_user_scans(connected, name):
    connected.ok(f"%%arroyo create --name {name} --parallelism 2\n" + SELECT)
    try:
        connected.ok(f"%arroyo wait {name} --state Running")
        table = connected.ok("%arroyo pipelines")
        row = table[table["name"] == name].iloc[0]
        assert row["state"] == "Running" and row["parallelism"] == 2 and row["errors"] == 0
        assert isinstance(row["uptime"], pd.Timedelta)
        assert "\n" not in row["query"] and len(row["query"]) <= 60
        jobs = connected.ok("%arroyo jobs")
        assert list(jobs.columns[:3]) == ["job_id", "pipeline", "state"]
        assert name in set(jobs["pipeline"])
    finally:
        connected.ok(f"%arroyo delete {name} --stop")


def test_dashboard_magic(widgets_on, name):
    from arroyo_jupyter.widgets import Dashboard

    widgets_on.ok(f"%%arroyo create --name {name}\n" + SELECT)
    try:
        board = widgets_on.ok(f"%arroyo dashboard {name}")
        assert isinstance(board, Dashboard)
        board.close()
    finally:
        widgets_on.ok(f"%arroyo delete {name} --stop")


def test_settings_are_checked_in_one_place(shell):
    from traitlets import TraitError

    magic = shell.ip._arroyo_magic
    rows, interval = magic.rows, magic.refresh_interval
    try:
        shell.run("%config ArroyoMagic.rows = 0")  # IPython logs the refusal; the value stays
        shell.run("%config ArroyoMagic.refresh_interval = 0")
        assert (magic.rows, magic.refresh_interval) == (rows, interval)
    finally:  # %config also keeps what it was given in the shell's config: take it out again
        for key in ("rows", "refresh_interval"):
            shell.ip.config.ArroyoMagic.pop(key, None)
    with pytest.raises(TraitError, match="rows must be at least 1"):
        magic.rows = 0
    with pytest.raises(TraitError, match="preview_ttl must be a number of seconds >= 0"):
        magic.preview_ttl = -1
    with pytest.raises(ConfigError, match="rows must be at least 1"):  # the same rule for config files
        from arroyo_jupyter.config import Settings

        Settings().updated({"rows": 0})


def test_checkpoint_report_is_the_table_and_its_charts_from_one_fetch(own_session, name):
    s = own_session
    s.create(SELECT, name=name, checkpoint_interval="1s")
    try:
        poll(lambda: len(s.checkpoints(name)) > 0, what="a checkpoint")
        report = s.checkpoint_report(name)
        assert len(report.value) >= 1 and len(report.views) == 1  # the history chart
        epoch = int(report.value["epoch"].iloc[0])
        one = s.checkpoint_report(name, epoch=epoch)
        assert {"operator_id"} <= set(one.value.columns) and len(one.views) == 2  # timeline, bytes
        assert s.checkpoint_report(name, charts=False).views == ()
        with pytest.raises(SessionError, match="no checkpoint with epoch 999999"):
            s.checkpoint_report(name, epoch=999999)
    finally:
        s.delete(name, stop=True)
