"""`arroyo-jupyter run`: exit codes, errors on stderr without tracebacks, bad data, stdout sink."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine_helpers import read_lines

from arroyo_jupyter.local.engine.run_file import run_file


def _source(path: Path, extra: str = "") -> str:
    return (
        f"CREATE TABLE src (n BIGINT, name TEXT) WITH (connector = 'single_file', path = '{path}', "
        f"format = 'json', type = 'source'{extra});\n"
    )


def _write(tmp_path: Path, sql: str) -> str:
    path = tmp_path / "query.sql"
    path.write_text(sql)
    return str(path)


def test_command_line_runs_a_pipeline_to_the_end(tmp_path):
    data = tmp_path / "in.json"
    data.write_text("".join(json.dumps({"n": i, "name": f"n{i}"}) + "\n" for i in range(5)))
    query = _write(
        tmp_path,
        _source(data) + "CREATE TABLE out WITH (connector = 'stdout', format = 'json');\n"
        "INSERT INTO out SELECT n * 10 AS tens, upper(name) AS name FROM src WHERE n > 2;",
    )
    engine = Path(sys.executable).parent / "arroyo-jupyter"
    done = subprocess.run(
        [str(engine), "run", query, "--parallelism", "2"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line) for line in done.stdout.splitlines()] == [
        {"tens": 30, "name": "N3"},
        {"tens": 40, "name": "N4"},
    ]


def test_planning_error_exits_1_with_position_and_no_traceback(tmp_path, capsys):
    query = _write(
        tmp_path, "CREATE TABLE i WITH (connector = 'impulse', event_rate = 1);\n\nSELECT nope FROM i;"
    )
    assert run_file(query) == 1
    err = capsys.readouterr().err
    assert "No field named nope" in err and "line 3, column 8" in err and "Traceback" not in err  # at `nope`


def test_bad_data_fails_the_job_naming_the_line_and_the_fix(tmp_path, capsys):
    data = tmp_path / "in.json"
    data.write_text('{"n": 1, "name": "a"}\n{"n": oops}\n')
    out = tmp_path / "out.json"
    query = _write(
        tmp_path,
        _source(data) + f"CREATE TABLE out WITH (connector = 'single_file', path = '{out}', "
        "format = 'json', type = 'sink');\nINSERT INTO out SELECT n FROM src;",
    )
    assert run_file(query) == 1
    err = capsys.readouterr().err
    assert "line 2" in err and "bad_data = 'drop'" in err and "Traceback" not in err


def test_bad_data_drop_reports_errors_and_goes_on(tmp_path, capsys):
    data = tmp_path / "in.json"
    data.write_text(
        '{"n": 1, "name": "a"}\n{"n": oops}\n{"n": "not a number", "name": "b"}\n{"n": 4, "name": "d"}\n'
    )
    out = tmp_path / "out.json"
    query = _write(
        tmp_path,
        _source(data, ", bad_data = 'drop'") + f"CREATE TABLE out WITH (connector = "
        f"'single_file', path = '{out}', format = 'json', type = 'sink');\nINSERT INTO out SELECT n FROM src;",
    )
    assert run_file(query) == 0
    err = capsys.readouterr().err
    assert err.count("bad data") == 2 and "line 2" in err and "line 3" in err
    assert read_lines(out) == [{"n": 1}, {"n": 4}]


def test_usage_mistakes_exit_2(tmp_path, capsys):
    query = _write(
        tmp_path,
        "CREATE TABLE i WITH (connector = 'impulse', event_rate = 1, message_count = 1);\nSELECT * FROM i",
    )
    assert run_file(str(tmp_path / "missing.sql")) == 2
    assert run_file(query, stop_after_checkpoint=1) == 2
    assert run_file(query, parallelism=0) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "--state-dir" in err and "at least 1" in err


def test_missing_source_file_is_a_clear_runtime_error(tmp_path, capsys):
    query = _write(tmp_path, _source(tmp_path / "nope.json") + "SELECT n FROM src")
    assert run_file(query) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_runtime_errors_name_the_operator_and_subtask(tmp_path):
    from engine_helpers import run_sql

    recorder, job = run_sql(
        "CREATE TABLE i WITH (connector = 'impulse', event_rate = 1000000, message_count = 10);\n"
        "SELECT 10 / (counter - 5) FROM i",
        parallelism=2,
    )
    assert job.outcome == "failed"
    operator_id, subtask, message, _, retryable = recorder.errors[-1]
    assert operator_id.startswith("projection_") and subtask in (0, 1) and "Divide by zero" in message
    assert not retryable and recorder.ended.startswith("failed")

    (tmp_path / "taken").mkdir()
    recorder, job = run_sql(
        "CREATE TABLE i WITH (connector = 'impulse', event_rate = 1000000, message_count = 10);\n"
        f"CREATE TABLE out WITH (connector = 'single_file', path = '{tmp_path / 'taken'}', format = 'json', "
        "type = 'sink');\nINSERT INTO out SELECT counter FROM i"
    )
    operator_id, subtask, message, _, retryable = recorder.errors[-1]
    assert job.outcome == "failed" and operator_id.startswith("sink_out_") and subtask == 0
    assert "cannot open sink" in message and retryable
