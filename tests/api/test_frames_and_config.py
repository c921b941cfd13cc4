"""DataFrames from API models, and where the client finds the API."""

from __future__ import annotations

import msgspec
import pandas as pd
import pytest

from arroyo_jupyter import frames
from arroyo_jupyter.api import models as m
from arroyo_jupyter.api._config import resolve_api_root
from arroyo_jupyter.api.sse import GapTracker, SSEParser, decode_output_events

from . import fixtures as fx

T0 = fx.T0


def test_pipelines_and_jobs_frames() -> None:
    ps = [msgspec.convert(fx.pipeline(f"pl_{i}"), m.Pipeline) for i in range(3)]
    df = frames.pipelines_frame(ps)
    assert list(df["id"]) == ["pl_0", "pl_1", "pl_2"] and list(df["parallelism"]) == [2, 2, 2]
    assert str(df["created_at"].dt.tz) == "UTC" and df["created_at"][0] == pd.Timestamp(
        T0, unit="us", tz="UTC"
    )
    jobs = [msgspec.convert(fx.job("Running"), m.Job),
            msgspec.convert(fx.job("Failed", finish_time=T0 + 61_000_000,
                                   failure_reason={"error": "boom", "domain": "user"}), m.Job)]  # fmt: skip
    jf = frames.jobs_frame(jobs)
    assert list(jf["state"]) == ["Running", "Failed"]
    assert pd.isna(jf["finish_time"][0]) and jf["runtime"][1] == pd.Timedelta(seconds=60)
    assert list(jf["failure"].isna()) == [True, False] and jf["failure"][1] == "boom"
    assert jf["failure_domain"][1] == "user"


def test_errors_and_checkpoints_frames() -> None:
    msgs = [m.JobLogMessage("jlm_1", T0, "error", "task failed", "x", "op_1", 2, "user"),
            m.JobLogMessage("jlm_2", T0 + 5, "error", "job failed", "y")]  # fmt: skip
    ef = frames.errors_frame(msgs)
    assert list(ef["task_index"].astype(object).where(ef["task_index"].notna(), None)) == [2, None]
    cps = [
        m.Checkpoint(1, "parquet", T0, [], T0 + 2500, "scheduled"),
        m.Checkpoint(2, "parquet", T0 + 10_000),
    ]
    cf = frames.checkpoints_frame(cps)
    assert list(cf["epoch"]) == [1, 2] and cf["duration"][0] == pd.Timedelta(microseconds=2500)
    assert pd.isna(cf["duration"][1]) and pd.isna(cf["finish_time"][1])


def test_checkpoint_spans_relative_to_the_checkpoint_start() -> None:
    span = m.CheckpointEventSpan
    cp = m.Checkpoint(3, "parquet", T0, [span(T0, T0 + 900, "Checkpointing", "all")], T0 + 900)
    groups = [
        m.OperatorCheckpointGroup("sink_preview_10", 5, [m.SubtaskCheckpointGroup(0, 5, [span(T0 + 50, 0, "Sync")])]),
        m.OperatorCheckpointGroup(
            "source_impulse_2", 30,
            [m.SubtaskCheckpointGroup(7, 10, [span(T0 + 10, T0 + 20, "Alignment"), span(T0 + 20, T0 + 70, "Sync")]),
             m.SubtaskCheckpointGroup(3, 20, [span(T0 + 15, T0 + 40, "Async")])],
            started_metadata_write=T0 + 100, finish_time=T0 + 150,
        ),
    ]  # fmt: skip
    df = frames.checkpoint_spans_frame(groups, cp)
    assert list(df["operator_id"].fillna("-")) == ["-", "source_impulse_2", "source_impulse_2",
                                                   "source_impulse_2", "source_impulse_2", "sink_preview_10"]  # fmt: skip
    assert list(df["event"]) == ["Checkpointing", "metadata", "Alignment", "Sync", "Async", "Sync"]
    assert list(df["start"]) == [0, 100, 10, 20, 15, 50]
    assert list(df["subtask"].fillna(-1)) == [-1, -1, 0, 0, 1, 0]  # by position, as the console does
    assert list(df["duration"][:5]) == [900, 50, 10, 50, 25] and pd.isna(df["finish"][5])
    assert frames.checkpoint_spans_frame([]).empty


def test_metrics_frame_long_form() -> None:
    groups = [m.OperatorMetricGroup(1, [m.MetricGroup("messages_recv", [
        m.SubtaskMetrics(0, [m.Metric(T0, 1.0), m.Metric(T0 + 2_000_000, 2.5)]),
        m.SubtaskMetrics(1, [m.Metric(T0, 3.0)])]), m.MetricGroup("backpressure", [])])]  # fmt: skip
    df = frames.metrics_frame(groups)
    assert list(df.columns) == ["node_id", "metric", "subtask", "time", "value"]
    assert list(df["value"]) == [1.0, 2.5, 3.0] and list(df["subtask"]) == [0, 0, 1]
    assert df["time"][1] == pd.Timestamp(T0 + 2_000_000, unit="us", tz="UTC")
    assert frames.metrics_frame([]).empty


def test_output_frame() -> None:
    raw = (b'data: {"operator_id":"s","subtask_idx":0,"timestamps":[1,2],"start_id":40,'
           b'"batch":"[{\\"a\\":1,\\"w\\":{\\"start\\":\\"x\\"}},{\\"a\\":2,\\"w\\":null}]"}\n\n'
           b'data: {"operator_id":"s","subtask_idx":0,"timestamps":[3],"start_id":42,"batch":"[{\\"a\\":3}]"}\n\n')  # fmt: skip
    events = decode_output_events(SSEParser().feed(raw), GapTracker())
    df = frames.output_frame(events)  # the widget's to_pandas() columns (api/output_frame.py)
    assert list(df.columns) == ["arroyo.sink", "arroyo.row_id", "arroyo.event_time", "a", "w"]
    assert list(df["arroyo.row_id"]) == [40, 41, 42] and list(df["a"]) == [1, 2, 3]
    assert df["w"][0] == {"start": "x"} and df["arroyo.event_time"][2] == pd.Timestamp(3, unit="us", tz="UTC")
    assert list(df["arroyo.sink"]) == ["s", "s", "s"]
    assert list(frames.output_frame([]).columns) == ["arroyo.sink", "arroyo.row_id", "arroyo.event_time"]


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("http://localhost:5115", "http://localhost:5115/api/v1"),
        ("http://localhost:5115/", "http://localhost:5115/api/v1"),
        ("http://h:1/api", "http://h:1/api/v1"),
        ("http://h:1/api/v1/", "http://h:1/api/v1"),
        ("https://arroyo.example.com/base", "https://arroyo.example.com/base/api/v1"),
        ("localhost:5115", "http://localhost:5115/api/v1"),
    ],
)
def test_base_url_forms(url: str, root: str) -> None:
    assert resolve_api_root(url) == root


def test_api_root_exactly_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_api_root(api_root="http://127.0.0.1:4010/v1/") == "http://127.0.0.1:4010/v1"
    monkeypatch.delenv("ARROYO_URL", raising=False)
    assert resolve_api_root() == "http://localhost:5115/api/v1"
    monkeypatch.setenv("ARROYO_URL", "http://cluster:8000/api")
    assert resolve_api_root() == "http://cluster:8000/api/v1"
