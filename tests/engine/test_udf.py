"""Python UDFs as Arroyo defines them: @udf, signatures from type hints, Optional nullability."""

from __future__ import annotations

from typing import Optional

import pyarrow as pa
import pytest
from engine_helpers import Recorder

from arroyo_jupyter.local.engine import PlanError, plan_query, run_program
from arroyo_udf import UdfError, collect_udfs, udf

SOURCE = """
from typing import Optional
from arroyo_udf import udf

@udf
def half_or_none(x: Optional[int]) -> Optional[float]:
    if x is None or x % 2:
        return None
    return x / 2
"""


@udf
def shout(s: str) -> str:
    return s.upper() + "!"


def test_signature_comes_from_type_hints():
    d = shout.__arroyo_udf__
    assert (d.name, d.arg_types, d.arg_nullable, d.return_type, d.return_nullable) == (
        "shout",
        [pa.string()],
        [False],
        pa.string(),
        False,
    )
    (h,) = collect_udfs(SOURCE)
    assert (h.arg_types, h.arg_nullable, h.return_type, h.return_nullable) == (
        [pa.int64()],
        [True],
        pa.float64(),
        True,
    )
    assert shout("a") == "A!"  # still a plain Python function


def test_udfs_run_in_sql_with_arroyo_null_rules(tmp_path):
    data = tmp_path / "in.json"
    data.write_text('{"n": 1, "s": "a"}\n{"n": 2, "s": null}\n{"n": null, "s": "c"}\n{"n": 4, "s": "d"}\n')
    program = plan_query(
        f"CREATE TABLE t (n BIGINT, s TEXT) WITH (connector = 'single_file', path = '{data}', format = 'json', "
        "type = 'source');\nSELECT half_or_none(n) AS h, shout(s) AS loud FROM t",
        udfs=[shout, SOURCE],
    )
    recorder = Recorder()
    job = run_program(program, listener=recorder, timeout=60)
    assert job.outcome == "finished"
    # a non-Optional parameter never sees NULL: the row's result is NULL without a call
    assert recorder.rows == [
        {"h": None, "loud": "A!"},
        {"h": 1.0, "loud": None},
        {"h": None, "loud": "C!"},
        {"h": 2.0, "loud": "D!"},
    ]


def test_udf_mistakes_are_clear():
    with pytest.raises(UdfError, match="needs a return type hint"):

        @udf
        def no_return(x: int):
            return x

    with pytest.raises(UdfError, match="unsupported type"):

        @udf
        def bad(x: dict) -> int:
            return 1

    with pytest.raises(PlanError, match="syntax error at line 2"):
        plan_query(
            "CREATE TABLE i WITH (connector = 'impulse', event_rate = 1); SELECT 1 FROM i",
            udfs=["@udf\ndef broken(:\n"],
        )
    with pytest.raises(PlanError, match="no function decorated with @udf"):
        plan_query(
            "CREATE TABLE i WITH (connector = 'impulse', event_rate = 1); SELECT 1 FROM i",
            udfs=["def plain(x): return x"],
        )


def test_a_udf_returning_none_when_not_optional_fails_the_job(tmp_path):
    @udf
    def liar(x: int) -> int:
        return None  # type: ignore[return-value]

    program = plan_query(
        "CREATE TABLE i WITH (connector = 'impulse', event_rate = 1000, message_count = 3); "
        "SELECT liar(counter) FROM i",
        udfs=[liar],
    )
    recorder = Recorder()
    job = run_program(program, listener=recorder, timeout=60)
    assert job.outcome == "failed"
    (operator_id, subtask, message, _, retryable) = recorder.errors[-1]
    assert operator_id.startswith("projection_") and subtask == 0 and not retryable
    assert "liar returned None" in message


def test_optional_typing_alias_is_accepted():
    @udf
    def f(x: Optional[str]) -> int:  # noqa: UP045 - the spelling Arroyo's docs use
        return 0 if x is None else len(x)

    @udf
    def g(x: str | None) -> int:
        return 0

    assert f.__arroyo_udf__.arg_nullable == g.__arroyo_udf__.arg_nullable == [True]
