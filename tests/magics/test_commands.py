"""Every %arroyo subcommand through a real InteractiveShell, over HTTP, on the embedded server."""

from __future__ import annotations

import pandas as pd
import pytest
from magics_support import IMPULSE, poll

from arroyo_jupyter import session
from arroyo_jupyter.api import ArroyoConnectionError, Client

SELECT = IMPULSE + "SELECT counter FROM impulse;"


def job_state(pipeline_id: str) -> str:
    return str(session.current().client.get_pipeline(pipeline_id).job().state)


# --- connect / status / disconnect --------------------------------------------------------


def test_connect_status_disconnect(shell, arroyo_server):
    s = shell.ok(f"s = %arroyo connect {arroyo_server.url}\ns")
    assert s.url == arroyo_server.url and not s.local
    status = shell.ok("%arroyo status")
    assert status.reachable and status.url == arroyo_server.url
    assert arroyo_server.url in str(status) and "reachable" in status._repr_html_()
    assert "disconnected" in shell.run("%arroyo disconnect").out
    assert "not connected" in shell.run("%arroyo status").usage_error


def test_connect_uses_arroyo_url(shell, arroyo_server, monkeypatch):
    monkeypatch.setenv("ARROYO_URL", arroyo_server.url)
    assert shell.ok("%arroyo connect").url == arroyo_server.url


def test_connect_prefers_what_answers_on_localhost(shell, arroyo_server, monkeypatch):
    monkeypatch.delenv("ARROYO_URL", raising=False)
    monkeypatch.setattr(session, "DEFAULT_LOCAL_URL", arroyo_server.url)
    assert shell.ok("%arroyo connect").url == arroyo_server.url


def test_connect_falls_back_to_embedded_server(shell, monkeypatch, unused_url):
    monkeypatch.delenv("ARROYO_URL", raising=False)
    monkeypatch.setattr(session, "DEFAULT_LOCAL_URL", unused_url)
    s = shell.ok("%arroyo connect")
    assert s.local
    assert s.client.ping()  # the embedded server carries a generated key; its client has it
    out = shell.run("%arroyo disconnect").out
    assert f"stopped the embedded server at {s.url}" in out
    with pytest.raises(ArroyoConnectionError):
        Client(s.url, timeout=1.0, retries=0).ping()


def test_connect_local_explicitly(shell):
    s = shell.ok("%arroyo connect --local")
    assert s.local and s.url.startswith("http://127.0.0.1:")
    assert shell.ok("%arroyo status").embedded


def test_connect_to_nothing_is_a_short_error(shell, unused_url):
    cell = shell.run(f"%arroyo connect {unused_url}")
    assert "cannot reach" in cell.usage_error
    assert "Traceback" not in cell.err


def test_server_going_down_is_a_short_error(shell, fresh_server):
    shell.ok(f"%arroyo connect {fresh_server.url}")
    fresh_server.stop()
    assert "cannot reach" in shell.run("%arroyo pipelines").usage_error
    assert not shell.ok("%arroyo status").reachable


# --- validate -------------------------------------------------------------------------------


def test_validate_shows_line_and_caret(connected):
    cell = connected.run("%%arroyo validate\n" + IMPULSE + "SELEC counter FROM impulse;")
    message = cell.usage_error
    assert "line 3, column" in message  # the %%arroyo line counts: numbers match the cell
    lines = message.splitlines()
    source = next(i for i, line in enumerate(lines) if "| SELEC counter" in line)
    caret_line = lines[source + 1]
    column = int(message.split("line 3, column ")[1].split(":")[0])
    assert caret_line.index("^") - caret_line.index("|") - 2 == column - 1


def test_validate_success_shows_the_graph(connected):
    result = connected.ok("%%arroyo validate\n" + SELECT)
    assert result.ok
    text = str(result)
    assert text.startswith("valid SQL") and "->" in text
    assert not result.graph_frame().empty


def test_validate_html_is_escaped(connected):
    result = session.validate(IMPULSE + "SELECT '<b>' FROM impulse WHERE counter >;")
    assert not result.ok
    assert "| SELECT '<b>'" in str(result)
    assert "<b>" not in result._repr_html_() and "&lt;b&gt;" in result._repr_html_()


# --- previews -------------------------------------------------------------------------------


def test_preview_collects_rows_and_saves_them(connected):
    cell = connected.run("%%arroyo preview --rows 5 --save rows_df\n" + SELECT)
    assert cell.error is None, cell.err
    frame = connected.ns["rows_df"]
    assert isinstance(frame, pd.DataFrame) and len(frame) == 5
    assert "counter" in frame.columns
    assert "rows_df = DataFrame of 5 rows" in cell.out
    assert "stopped preview" in cell.out  # nothing is left running


def test_preview_bad_sql_fails_the_cell(connected):
    assert "SQL" in connected.run("%%arroyo preview\n" + IMPULSE + "SELECT nosuch FROM impulse;").usage_error


def test_rerunning_a_preview_cell_stops_the_previous_preview(widgets_on):
    connected = widgets_on
    if True:  # (kept flat: the fixture restores the setting and closes the widgets)
        first = connected.ok("%%arroyo preview\n" + SELECT, cell_id="cell-A")
        assert isinstance(first, session.Preview) and first.widgets
        second = connected.run("%%arroyo preview\n" + SELECT, cell_id="cell-A")
        assert f"stopped preview {first.pipeline.id} (cell re-run)" in second.out
        assert all(w.closed for w in first.widgets)  # its live views stopped watching too
        poll(lambda: job_state(first.pipeline.id) == "Stopped", what="first preview stopped")
        other = connected.ok("%%arroyo preview\n" + SELECT, cell_id="cell-B")  # another cell: untouched
        assert not second.result.stopped and not other.stopped
        # closing its widget stops a preview
        second.result.widgets[0].close()
        assert second.result.stopped
        poll(lambda: job_state(second.result.pipeline.id) == "Stopped", what="closed preview stopped")
        # kernel exit (the atexit hook) stops the rest, with an account
        session._stop_all_at_exit()
        assert other.stopped


def test_preview_ttl_stops_it_client_side(widgets_on):
    preview = widgets_on.ok("%%arroyo preview --ttl 0.5\n" + SELECT, cell_id="ttl-cell")
    poll(lambda: preview.stopped, what="ttl stop")
    assert "--ttl 0.5s" in preview.stop_reason
    poll(lambda: job_state(preview.pipeline.id) == "Stopped", what="preview job stopped")


def test_widget_mode_output_metrics_checkpoints(widgets_on, name):
    from arroyo_jupyter.widgets import OutputTable

    shell = widgets_on
    shell.ok(f"%%arroyo create --name {name} --checkpoint-interval 1s\n" + SELECT)
    shell.ok(f"%arroyo wait {name} --timeout 30")
    table = shell.ok(f"%arroyo output {name}")
    assert isinstance(table, OutputTable)
    poll(lambda: len(table.to_pandas()) > 0, what="rows in the live table")
    assert isinstance(shell.ok(f"%arroyo metrics {name}"), pd.DataFrame)
    poll(lambda: session.resolve(name).checkpoints(), what="a checkpoint")
    cell = shell.run(f"%arroyo checkpoints {name}")
    assert cell.error is None and isinstance(cell.result, pd.DataFrame)
    session.delete(name, stop=True)


# --- create and the pipeline lifecycle ---------------------------------------------------


def test_create_never_starts_a_silent_duplicate(connected, name):
    cell = f"%%arroyo create --name {name} --checkpoint-interval 2s\n" + SELECT
    first = connected.ok(cell)
    assert first.name == name and first.checkpoint_interval_micros == 2_000_000
    assert "already exists" in connected.run(cell).usage_error
    kept = connected.ok(cell.replace("2s", "3s --if-exists keep", 1))
    assert kept.id == first.id
    replaced = connected.ok(cell.replace("2s", "2s --if-exists replace", 1))
    assert replaced.id != first.id
    names = [p.name for p in session.current().client.iter_pipelines()]
    assert names.count(name) == 1
    session.delete(name, stop=True)


def test_pipeline_lifecycle(connected, name):
    ok = connected.ok
    ok(f"%%arroyo create --name {name} --checkpoint-interval 1s\n" + SELECT)
    job = ok(f"%arroyo wait {name} --state Running --timeout 30")
    assert str(job.state) == "Running"

    frame = ok("%arroyo pipelines")
    assert name in set(frame["name"])
    assert not ok("%arroyo jobs").empty

    rows = ok(f"%arroyo output {name} --rows 3")
    assert len(rows) == 3 and "counter" in rows.columns

    poll(
        lambda: len(session.current().client.get_pipeline(session.resolve(name).id).checkpoints()) > 0,
        what="a checkpoint",
    )
    cps = ok(f"%arroyo checkpoints {name} --no-widget")
    assert len(cps) >= 1
    epoch = int(session.resolve(name).checkpoints()[0].epoch)
    assert isinstance(ok(f"%arroyo checkpoints {name} --epoch {epoch}"), pd.DataFrame)
    assert (
        "no checkpoint with epoch 99999"
        in connected.run(f"%arroyo checkpoints {name} --epoch 99999").usage_error
    )
    assert isinstance(ok(f"%arroyo metrics {name} --no-widget"), pd.DataFrame)
    assert isinstance(ok(f"%arroyo errors {name} --limit 5"), pd.DataFrame)
    assert isinstance(ok(f"%arroyo errors {name} --all"), pd.DataFrame)

    ok(f"%arroyo rescale {name} 2")
    poll(lambda: session.resolve(name).refresh().parallelism == 2, what="rescaled")
    ok(f"%arroyo wait {name} --state Running --timeout 30")
    ok(f"%arroyo restart {name}")
    ok(f"%arroyo wait {name} --state Running --timeout 30")

    assert "stop it first or use --stop" in connected.run(f"%arroyo delete {name}").usage_error
    ok(f"%arroyo stop {name} --mode immediate")
    ok(f"%arroyo wait {name} --state Stopped --timeout 30")
    assert (
        "output can only be read from a running pipeline"
        in connected.run(f"%arroyo output {name}").usage_error
    )
    ok(f"%arroyo start {name}")
    ok(f"%arroyo wait {name} --state Running --timeout 30")
    out = connected.run(f"%arroyo delete {name} --stop").out
    assert f"deleted {name}" in out
    assert "no pipeline named" in connected.run(f"%arroyo start {name}").usage_error


def test_pipelines_are_named_by_id_too(connected, name):
    created = connected.ok(f"%%arroyo create --name {name}\n" + SELECT)
    handle = connected.ok(f"%arroyo stop {created.id} --mode immediate")
    assert handle.id == created.id
    connected.ok(f"%arroyo delete {created.id} --stop")


def test_wait_timeout_is_a_clear_error(connected, name):
    connected.ok(f"%%arroyo create --name {name}\n" + SELECT)
    try:
        message = connected.run(f"%arroyo wait {name} --state Finished --timeout 0.3").usage_error
        assert "did not reach Finished within 0.3s" in message
    finally:
        session.delete(name, stop=True)


def test_unknown_pipeline_suggests_close_names(connected, name):
    connected.ok(f"%%arroyo create --name {name}\n" + SELECT)
    try:
        message = connected.run(f"%arroyo stop {name}x").usage_error
        assert f"no pipeline named '{name}x'" in message and f"did you mean {name}" in message
    finally:
        session.delete(name, stop=True)


def test_ambiguous_names_list_the_candidates(connected, name):
    client = session.current().client
    a = client.create_pipeline(name, SELECT)
    b = client.create_pipeline(name, SELECT)
    try:
        message = connected.run(f"%arroyo stop {name}").usage_error
        assert "2 pipelines are named" in message and a.id in message and b.id in message
        assert "--if-exists" in connected.run(f"%%arroyo create --name {name}\n" + SELECT).usage_error
    finally:
        for p in (a, b):
            session.delete(p.id, stop=True)


# --- catalogue ---------------------------------------------------------------------------


def test_tables_connectors_udfs(shell, fresh_server, name):
    # Its own server: global UDFs and saved tables would change what other tests' queries see.
    connected = shell
    connected.ok(f"%arroyo connect {fresh_server.url}")
    table = connected.ok(
        f"%%arroyo table\nCREATE TABLE {name} WITH (connector = 'impulse', event_rate = '5');"
    )
    assert table.name == name and table.connector == "impulse"
    assert name in set(connected.ok("%arroyo tables")["name"])
    connectors = connected.ok("%arroyo connectors")
    assert {"impulse", "nexmark"} <= set(connectors["id"])
    udf_source = f"from arroyo_udf import udf\n\n@udf\ndef {name}_inc(x: int) -> int:\n    return x + 1\n"
    udf = connected.ok("%%arroyo udf\n" + udf_source)
    assert udf.name == f"{name}_inc"
    assert f"{name}_inc" in set(connected.ok("%arroyo udfs")["name"])
    assert "invalid UDF" in connected.run("%%arroyo udf\ndef broken(:\n").usage_error


def test_results_have_text_and_html(connected):
    for line in ("%arroyo pipelines", "%arroyo status", "%arroyo connectors"):
        value = connected.ok(line)
        assert repr(value) and value._repr_html_()


def test_handles_get_escaped_html(connected, name):
    pipeline = session.current().client.create_pipeline(f"<i>{name}</i>", SELECT)
    try:
        data, _ = connected.ip.display_formatter.format(pipeline)
        assert f"&lt;i&gt;{name}&lt;/i&gt;" in data["text/html"] and "<i>" not in data["text/html"]
        assert pipeline.id in data["text/plain"]
    finally:
        session.delete(pipeline.id, stop=True)


def test_kernel_exit_stops_previews_and_says_so(arroyo_server, tmp_path):
    """A real interpreter exit: the atexit hook stops the previews the session started."""
    import subprocess
    import sys

    script = tmp_path / "exit_with_preview.py"
    script.write_text(
        "from arroyo_jupyter import session\n"
        f"session.connect({arroyo_server.url!r})\n"
        f"p = session.preview({SELECT!r}, key='cell')\n"
        "print('PREVIEW', p.pipeline.id, flush=True)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    preview_id = done.stdout.split("PREVIEW ", 1)[1].split()[0]
    assert f"arroyo_jupyter at exit: stopped preview {preview_id} (kernel exit)" in done.stdout
    client = Client(arroyo_server.url)
    poll(lambda: str(client.get_pipeline(preview_id).job().state) == "Stopped", what="preview stopped")


def test_a_failed_connect_keeps_the_current_connection(connected, unused_url, arroyo_server):
    assert "cannot reach" in connected.run(f"%arroyo connect {unused_url}").usage_error
    assert connected.ok("%arroyo status").url == arroyo_server.url


def test_enable_sinks_keeps_the_real_sink_beside_the_preview(connected):
    sql = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\n"
        "CREATE TABLE out WITH (connector = 'blackhole');\n"
        "INSERT INTO out SELECT counter FROM impulse;"
    )
    kept = connected.ok("%%arroyo preview --rows 2 --save kept --enable-sinks\n" + sql)
    assert len(kept) == 2
    created = [p for p in session.current().previews.values() if p.stop_reason.startswith("done")]
    operators = [n.operator for n in created[-1].pipeline.graph.nodes]
    assert "blackhole" in operators and "preview" in operators
    connected.ok("%%arroyo preview --rows 2 --save rewritten\n" + sql)
    latest = list(session.current().previews.values())[-1].pipeline
    assert "blackhole" not in [n.operator for n in latest.graph.nodes]


def test_rendered_variables_are_announced(connected):
    connected.ns["rate_var"] = 50
    cell = connected.run(
        "%%arroyo validate\n"
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '{{ rate_var }}');\n"
        "SELECT counter FROM impulse;"
    )
    assert cell.error is None
    assert "rendered {{ }}: rate_var" in cell.out


def test_restart_force_without_state(connected, name):
    connected.ok(f"%%arroyo create --name {name} --checkpoint-interval 1s\n" + SELECT)
    first = connected.ok(f"%arroyo wait {name} --timeout 30")
    connected.ok(f"%arroyo restart {name} --force --ignore-state")
    poll(lambda: session.resolve(name).job().run_id > first.run_id, what="a new run")
    connected.ok(f"%arroyo wait {name} --timeout 30")
    session.delete(name, stop=True)


def test_configured_url_is_used_and_local_still_works(shell, arroyo_server, monkeypatch):
    monkeypatch.delenv("ARROYO_URL", raising=False)
    shell.ok(f"%config ArroyoMagic.url = '{arroyo_server.url}'")
    try:
        assert shell.ok("%arroyo connect").url == arroyo_server.url
        assert shell.ok("%arroyo connect --local").local
    finally:
        shell.ok("%config ArroyoMagic.url = ''")
