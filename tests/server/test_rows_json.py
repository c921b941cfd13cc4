"""Output rows as JSON like arrow's JSON writer: explicit nulls, ISO timestamps, structs as
objects, valid JSON for awkward strings and floats, ``_timestamp`` removed."""

from __future__ import annotations

import datetime
import decimal
import json

import pyarrow as pa

from arroyo_jupyter.local.rows_json import batch_json


def test_every_column_kind_becomes_the_expected_json():
    batch = pa.record_batch(
        {
            "i": pa.array([1, None], pa.int64()),
            "f": pa.array([1.5, float("nan")]),
            "b": pa.array([True, None]),
            "s": pa.array(['quote " and \\ slash', None]),
            "ctl": pa.array(["line\nbreak", "\x01"]),
            "ts": pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5, 123456), None], pa.timestamp("ns")),
            "window": pa.array(
                [
                    {"start": datetime.datetime(2024, 1, 1), "end": datetime.datetime(2024, 1, 1, 0, 0, 2)},
                    None,
                ]
            ),
            "l": pa.array([[1, 2], []]),
            "d": pa.array([decimal.Decimal("1.25"), None], pa.decimal128(5, 2)),
            "_timestamp": pa.array([1, 2], pa.timestamp("ns")),
        }
    )
    rows = json.loads(batch_json(batch))
    assert rows == [
        {
            "i": 1, "f": 1.5, "b": True, "s": 'quote " and \\ slash', "ctl": "line\nbreak",
            "ts": "2024-01-02T03:04:05.123456000",
            "window": {"start": "2024-01-01T00:00:00.000000", "end": "2024-01-01T00:00:02.000000"},
            "l": [1, 2], "d": 1.25,
        },
        {"i": None, "f": None, "b": None, "s": None, "ctl": "\x01", "ts": None, "window": None, "l": [], "d": None},
    ]  # fmt: skip


def test_empty_batches():
    assert batch_json(pa.record_batch({"a": pa.array([], pa.int64())})) == "[]"
    assert json.loads(batch_json(pa.record_batch({"a": pa.array([1, 2])}).drop_columns(["a"]))) in (
        [],
        [{}, {}],
    )
