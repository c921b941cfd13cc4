"""The SSE splitter: any chunking, both line ends, comments, multi-line data, ids."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arroyo_jupyter.api.errors import StreamError
from arroyo_jupyter.api.sse import (
    GapTracker,
    SSEParser,
    decode_output_events,
    decode_output_region,
    parse_test_messages,
)

# data values: printable text without line breaks (a line break splits data lines)
line_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=30)
event = st.fixed_dictionaries(
    {
        "data": st.lists(line_text, min_size=1, max_size=4),
        "id": st.one_of(st.none(), st.from_regex(r"[0-9]{1,4}", fullmatch=True)),
        "event": st.one_of(st.none(), st.sampled_from(["message", "update"])),
        "comment": st.one_of(st.none(), line_text),
    }
)


def encode(ev: dict, newline: str, space: bool) -> str:
    sep = ": " if space else ":"
    lines = []
    if ev["comment"] is not None:
        lines.append(":" + ev["comment"])
    if ev["event"] is not None:
        lines.append(f"event{sep}{ev['event']}")
    lines += [f"data{sep}{d}" for d in ev["data"]]
    if ev["id"] is not None:
        lines.append(f"id{sep}{ev['id']}")
    return newline.join(lines) + newline + newline


def expected(events: list[dict], space: bool) -> list[tuple[str, str | None, str | None]]:
    out, last_id = [], None
    for ev in events:
        if ev["id"] is not None:
            last_id = ev["id"]
        # without the optional space, a value that starts with " " keeps it... minus none
        data = "\n".join(d if space or not d.startswith(" ") else d[1:] for d in ev["data"])
        out.append((data, last_id, ev["event"]))
    return out


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    events=st.lists(event, max_size=8),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    space=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_any_chunking_gives_the_same_events(events, newline, space, cuts) -> None:
    raw = "".join(encode(ev, newline, space) for ev in events).encode()
    bounds = sorted({c % (len(raw) + 1) for c in cuts})
    chunks = [raw[a:b] for a, b in zip([0, *bounds], [*bounds, len(raw)], strict=True)]
    parser = SSEParser()
    got = []
    for chunk in chunks:
        got += [(e.data.decode(), e.id, e.event) for e in parser.feed(chunk)]
    got += [(e.data.decode(), e.id, e.event) for e in parser.finish()]
    assert got == expected(events, space)
    assert not parser.pending


@settings(max_examples=100, deadline=None, derandomize=True)
@given(data=line_text, split=st.integers(min_value=1, max_value=40))
def test_unfinished_event_is_pending(data, split) -> None:
    raw = f"data: {data}\n".encode()
    parser = SSEParser()
    assert parser.feed(raw[:split]) == [] and parser.feed(raw[split:]) == []
    assert parser.pending  # the blank line never came: a cut stream


def test_comment_only_and_empty_events_are_not_dispatched() -> None:
    parser = SSEParser()
    assert parser.feed(b": keep-alive\n\n\n\nevent: x\n\nid: 4\n\n") == []
    assert not parser.pending
    (ev,) = parser.feed(b"data\n\n")  # a field name without colon: empty data line
    assert ev.data == b"" and ev.id == "4"


def test_crlf_split_between_chunks() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n\r") == []  # "\r" then "\n": one line end, not two
    got = [e.data for e in parser.feed(b"\ndata: b\r\n\r\n")]
    assert got == [b"a", b"b"]
    assert not parser.pending


def output(start_id: int, rows: list[dict], op: str = "sink_preview_3") -> bytes:
    data = {"operator_id": op, "subtask_idx": 0, "timestamps": [1_754_000_000_000_000 + i for i in range(len(rows))],
            "start_id": start_id, "batch": json.dumps(rows)}  # fmt: skip
    return b"data: " + json.dumps(data).encode() + b"\n"


def test_output_events_decoded_with_gaps() -> None:
    parser, gaps = SSEParser(), GapTracker()
    raw = (output(0, [{"a": 1}, {"a": 2}]) + b"id: 0\n\n" + output(2, [{"a": 3}]) + b"id: 1\n\n"
           + output(10, [{"a": 4}]) + b"id: 2\n\n" + output(0, [{"b": 1}], op="sink_other_4") + b"id: 3\n\n")  # fmt: skip
    events = decode_output_events(parser.feed(raw), gaps)
    assert [e.rows for e in events] == [[{"a": 1}, {"a": 2}], [{"a": 3}], [{"a": 4}], [{"b": 1}]]
    assert [e.gap for e in events] == [0, 0, 7, 0]
    assert [e.id for e in events] == ["0", "1", "2", "3"]
    assert list(gaps.gaps) == [(3, 10)] and gaps.missing_rows == 7
    assert events[0].timestamps_dt[0].tzinfo is not None
    assert list(events[2].row_ids) == [10]


def test_connection_table_test_messages() -> None:
    body = (b'data: {"error":false,"done":false,"message":"Connecting"}\n\n'
            b'data: {"error":false,"done":true,"message":"Successfully validated connection"}')  # fmt: skip
    msgs = parse_test_messages(body)
    assert [m.message for m in msgs] == ["Connecting", "Successfully validated connection"]
    assert msgs[-1].done


rows_strategy = st.lists(
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]), st.one_of(st.integers(), st.text(max_size=5), st.none())
    ),
    max_size=4,
)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(batches=st.lists(rows_strategy, min_size=1, max_size=6), size=st.integers(min_value=1, max_value=64),
       crlf=st.booleans())  # fmt: skip
def test_bulk_region_decoding_matches_event_by_event(batches, size, crlf) -> None:
    raw, start = b"", 0
    for i, rows in enumerate(batches):
        raw += output(start, rows) + b"id: " + str(i).encode() + b"\n\n"
        start += len(rows) + (i % 2)  # every other event leaves a gap
    if crlf:
        raw = raw.replace(b"\n", b"\r\n")
    one_by_one = decode_output_events(SSEParser().feed(raw), GapTracker())
    parser, gaps, bulk = SSEParser(), GapTracker(), []
    for i in range(0, len(raw), size):
        bulk += decode_output_region(parser, parser.take(raw[i : i + size]), gaps)
    bulk += decode_output_region(parser, parser.finish_region(), gaps)
    assert bulk == one_by_one
    assert [e.rows for e in bulk] == batches


def test_a_malformed_event_is_named_even_in_bulk() -> None:
    good = output(0, [{"a": 1}]) + b"id: 0\n\n"
    two_objects = b'data: {"operator_id":"s","subtask_idx":0,"timestamps":[],"start_id":1,"batch":"[]"},{"x":1}\nid: 1\n\n'
    parser = SSEParser()
    with pytest.raises(StreamError, match=r"malformed output event \(id 1\)"):
        decode_output_region(parser, parser.take(good + two_objects), GapTracker())
    parser = SSEParser()
    bad_batch = (
        b'data: {"operator_id":"s","subtask_idx":0,"timestamps":[],"start_id":1,"batch":"[1],[2"}\nid: 7\n\n'
    )
    with pytest.raises(StreamError, match=r"id 7"):
        decode_output_region(parser, parser.take(good + bad_batch), GapTracker())
