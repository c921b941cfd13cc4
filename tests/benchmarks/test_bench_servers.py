"""The benchmark's helper servers speak Arroyo's output SSE correctly."""

from __future__ import annotations

import pytest

from arroyo_jupyter.api import Client
from benchmarks._harness import Background
from benchmarks._profile import profile_call
from benchmarks._sse_server import encode_body


def test_bare_server_sends_every_row_once_in_order():
    with Background("_sse_server", ["--rows-per-event", "7", "--total-rows", "100"]) as server:
        assert int(server.info[0]) == len(encode_body(7, 100))
        client = Client(f"http://127.0.0.1:{server.port}", retries=0)
        with client.stream_output("p", "j") as stream:
            events = list(stream)
    ids = [i for ev in events for i in ev.row_ids]
    assert ids == list(range(100))
    assert [len(ev.rows) for ev in events] == [7] * 14 + [2]
    assert events[0].rows[0]["channel"] == "Google" and len(events[0].timestamps) == 7
    assert stream.missing_rows == 0


@pytest.mark.timeout(60)
def test_paced_looping_server_keeps_row_ids_increasing_across_laps():
    args = ["--rows-per-event", "10", "--total-rows", "30", "--rate", "2000", "--loop", "--shape", "impulse"]
    with Background("_sse_server", args) as server:
        client = Client(f"http://127.0.0.1:{server.port}", retries=0)
        starts = []
        with client.stream_output("p", "j") as stream:
            for ev in stream:
                starts.append(ev.start_id)
                if len(starts) == 10:  # more than three laps of 3 events
                    break
            assert stream.missing_rows == 0
    assert starts == list(range(0, 100, 10))


def test_profile_summary_names_our_functions():
    from arroyo_jupyter.charts import checkpoint_history
    from benchmarks.charts import history_input

    cps = history_input(50)
    summary = profile_call(lambda: checkpoint_history(cps))
    assert summary.startswith("own time by layer: ")
    assert "charts.py:" in summary
