"""OutputTable, kernel side, against a recording comm and a fake stream."""

from __future__ import annotations

import json
import threading
import time

import pyarrow as pa
import pytest
from widget_fakes import event, wait_for

from arroyo_jupyter.widgets import OutputTable
from arroyo_jupyter.widgets import output_table as ot

pytestmark = pytest.mark.usefixtures("recording_comm", "no_thread_leaks")


def rows(n, start=0, **extra):
    return [{"counter": start + i, "name": f"r{start + i}", **extra} for i in range(n)]


def decode(buf):
    """A sink payload (Arrow IPC) as plain lists: ids, seqs, ts, cols (+ keys, ops) and its metadata."""
    table = pa.ipc.open_stream(bytes(buf)).read_all()
    out = json.loads(table.schema.metadata[b"arroyo"])
    cols = [c.to_pylist() for c in table.columns]
    out.update(seqs=cols[0], ids=cols[1], ts=cols[2], cols=cols[out["nmeta"] :])
    if out["nmeta"] == 5:
        out.update(keys=cols[3], ops=cols[4])
    return out


def delta_rows(msgs):
    return sum(len(decode(b)["ids"]) for _, _, bufs in msgs for b in bufs)


class AckingFrontEnd:
    """Acknowledges every delta as soon as it is recorded, like a fast browser."""

    def __init__(self, widget):
        self.w = widget
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        seen = 0
        while not self.stop.is_set():
            deltas = self.w.comm.customs("delta") if self.w.comm else []
            for _, content, _ in deltas[seen:]:
                self.w.comm.deliver({"type": "ack", "seq": content["seq"]})
            seen = len(deltas)
            time.sleep(0.005)

    def close(self):
        self.stop.set()
        self.thread.join()


def test_rows_from_the_stream_arrive_as_binary_deltas_at_most_10_a_second(fake):
    w = OutputTable(fake)
    comm = w.comm
    front = AckingFrontEnd(w)
    wait_for(lambda: w.status == "streaming", message="stream to open")
    start = time.monotonic()
    sent = 0
    for _ in range(60):  # 30,000 rows in ~0.6 s, in events of 500
        fake.stream.push(event(rows(500, sent), start_id=sent))
        sent += 500
        time.sleep(0.01)
    wait_for(lambda: delta_rows(comm.customs("delta")) == sent, message="all rows delivered")
    elapsed = time.monotonic() - start
    deltas = comm.customs("delta")
    front.close()
    assert len(deltas) <= elapsed * ot.FLUSH_HZ + 2, (len(deltas), elapsed)
    assert len(deltas) < 60  # coalesced: fewer messages than events
    for _, content, bufs in deltas:
        assert isinstance(bufs[0], bytes)
        assert len(json.dumps(content)) < 500  # the header carries no row data
        payload = decode(bufs[0])
        assert payload["columns"] == ["counter", "name"]
        assert len(payload["cols"]) == 2 and len(payload["cols"][0]) == len(payload["ids"])
    ids = [i for _, _, bufs in deltas for i in decode(bufs[0])["ids"]]
    assert ids == list(range(sent))  # nothing lost, nothing duplicated, in order
    assert w.to_pandas()["counter"].tolist() == list(range(sent))
    w.close()


def test_a_browser_that_falls_behind_gets_coalesced_deltas_and_the_count_of_skipped_rows(fake):
    w = OutputTable(fake, max_rows=5_000)
    w.ack_timeout = 60
    comm = w.comm
    wait_for(lambda: w.status == "streaming")
    # no acks: after MAX_IN_FLIGHT deltas the kernel holds back
    for k in range(ot.MAX_IN_FLIGHT):
        fake.stream.push(event(rows(10, k * 10), start_id=k * 10))
        wait_for(lambda k=k: len(comm.customs("delta")) == k + 1)
    total = ot.MAX_IN_FLIGHT * 10
    for _ in range(20):
        fake.stream.push(event(rows(1000, total), start_id=total))
        total += 1000
    wait_for(lambda: w._buffer.stats()["sink_preview_1"]["total"] == total)
    time.sleep(0.3)  # several flush periods pass without a delta
    assert len(comm.customs("delta")) == ot.MAX_IN_FLIGHT
    skipped = w._buffer.stats()["sink_preview_1"]["skipped"]
    assert skipped == total - ot.MAX_IN_FLIGHT * 10 - 5_000
    comm.deliver({"type": "ack", "seq": ot.MAX_IN_FLIGHT})
    wait_for(lambda: len(comm.customs("delta")) == ot.MAX_IN_FLIGHT + 1)
    _, content, bufs = comm.customs("delta")[-1]
    payload = decode(bufs[0])
    assert len(payload["ids"]) == 5_000
    assert payload["ids"][-1] == total - 1  # the latest rows
    assert content["stats"]["sink_preview_1"]["skipped"] == skipped
    assert len(w.to_pandas()) == 5_000  # the kernel buffer is bounded too
    w.close()


def test_snapshot_trait_lets_a_late_view_redraw_and_hello_resets_it(fake):
    w = OutputTable(fake)
    comm = w.comm
    wait_for(lambda: w.status == "streaming")
    fake.stream.push(event(rows(500), start_id=0))
    wait_for(lambda: w.snapshot, message="a snapshot")
    (sink,) = [decode(b) for b in w.snapshot]
    assert sink["sink"] == "sink_preview_1"
    assert sink["ids"] == list(range(500 - ot.SNAPSHOT_ROWS, 500))
    assert w.stats["sink_preview_1"]["total"] == 500
    comm.deliver({"type": "hello"})
    _, content, bufs = comm.customs("reset")[-1]
    assert decode(bufs[0])["ids"] == list(range(500))
    # snapshots update about once a second, not per delta
    n_before = len(comm.updates("snapshot"))
    for k in range(10):
        fake.stream.push(event(rows(10, 500 + k * 10), start_id=500 + k * 10))
        time.sleep(0.05)
    time.sleep(0.6)
    assert len(comm.updates("snapshot")) - n_before <= 3
    w.close()


def debezium(op, before=None, after=None):
    return {"before": before, "after": after, "op": op}


def test_changelog_mode_is_chosen_from_the_data_and_applied_by_key(fake):
    w = OutputTable(fake, key=["k"])
    comm = w.comm
    wait_for(lambda: w.status == "streaming")
    fake.stream.push(
        event([debezium("c", after={"k": "a", "n": 1}), debezium("c", after={"k": "b", "n": 1})], start_id=0)
    )
    fake.stream.push(
        event(
            [
                debezium("u", before={"k": "a", "n": 1}, after={"k": "a", "n": 2}),
                debezium("d", before={"k": "b", "n": 1}),
                debezium("c", after={"k": "c", "n": 7}),
            ],
            start_id=2,
        )
    )
    wait_for(lambda: w._buffer.stats().get("sink_preview_1", {}).get("total") == 5)
    final = w.to_pandas("final")
    assert final[["k", "n"]].to_dict("records") == [{"k": "a", "n": 2}, {"k": "c", "n": 7}]
    log = w.to_pandas("changelog")
    assert log["arroyo.op"].tolist() == ["c", "c", "u", "d", "c"]
    wait_for(lambda: comm.customs("delta"))
    payloads = [decode(b) for _, _, bufs in comm.customs("delta") for b in bufs]
    assert all(p["mode"] == "changelog" for p in payloads)
    # replaying the deltas by key gives the same result as the kernel
    state = {}
    for p in payloads:
        for k in p["deletes"]:
            state.pop(k, None)
        for i, k in enumerate(p["keys"]):
            state[k] = dict(zip(p["columns"], [c[i] for c in p["cols"]], strict=True))
    assert sorted(state.values(), key=lambda r: r["k"]) == [{"k": "a", "n": 2}, {"k": "c", "n": 7}]
    wait_for(lambda: w.stats.get("sink_preview_1", {}).get("mode") == "changelog")
    w.close()


def test_mode_can_be_forced_and_bad_arguments_are_rejected(fake):
    with pytest.raises(ValueError, match="mode must be one of"):
        OutputTable(fake, mode="upsert")
    with pytest.raises(TypeError, match="pipeline handle"):
        OutputTable(object())
    w = OutputTable(fake, mode="append", autostart=False)
    w.feed(event([debezium("c", after={"k": 1})]))
    assert w.to_pandas()["op"].tolist() == ["c"]
    with pytest.raises(ValueError, match='"rows", "final" or "changelog"'):
        w.to_pandas("everything")
    w.close()


def test_one_tab_per_sink(fake):
    w = OutputTable(fake, autostart=False)
    w.feed(event(rows(3), sink="sink_a_1"))
    w.feed(event(rows(2), sink="sink_b_2"))
    wait_for(lambda: set(w.sinks) == {"sink_a_1", "sink_b_2"})
    df = w.to_pandas()
    assert df.groupby("arroyo.sink").size().to_dict() == {"sink_a_1": 3, "sink_b_2": 2}
    assert len(w.to_pandas(sink="sink_b_2")) == 2
    w.close()


def test_pause_holds_deltas_and_resume_redraws(fake):
    w = OutputTable(fake, autostart=False)
    comm = w.comm
    comm.deliver_update({"paused": True})
    assert w.paused
    w.feed(event(rows(100)))
    time.sleep(0.35)
    assert comm.customs("delta") == []
    resets_before = len(comm.customs("reset"))
    comm.deliver_update({"paused": False})
    assert len(comm.customs("reset")) == resets_before + 1
    _, _, bufs = comm.customs("reset")[-1]
    assert len(decode(bufs[0])["ids"]) == 100
    w.close()


def test_concurrent_writers_and_readers_keep_counts_consistent(fake):
    w = OutputTable(fake, autostart=False, max_rows=1_000_000)
    front = AckingFrontEnd(w)
    errors = []

    def writer(base):
        for k in range(50):
            w.feed(event(rows(100, base + k * 100), start_id=base + k * 100))

    def reader():
        try:
            for _ in range(5):
                w.to_pandas()
                w._snapshot_text()
        except Exception as exc:  # pragma: no cover - the failure is asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i * 100_000,)) for i in range(4)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(w.to_pandas()) == 4 * 50 * 100

    def accounted():  # every row was either sent once or counted as skipped
        return delta_rows(w.comm.customs("delta")) + w._buffer.stats()["sink_preview_1"]["skipped"] == 20_000

    wait_for(accounted, message="all rows sent or counted as skipped")
    ids = [i for _, _, bufs in w.comm.customs("delta") for b in bufs for i in decode(b)["ids"]]
    assert len(ids) == len(set(ids))
    front.close()
    w.close()


def test_close_ends_stream_and_threads(fake):
    w = OutputTable(fake)
    wait_for(lambda: w.status == "streaming")
    reader = w._reader
    w.close()
    assert fake.stream.closed.is_set()
    assert not reader.is_alive()
    w.close()  # idempotent


def test_waits_for_the_job_to_run_and_reports_a_job_that_never_will(fake):
    fake.state = "Scheduling"
    w = OutputTable(fake)
    wait_for(lambda: "waiting" in w.status)
    assert ("output",) not in fake.calls
    fake.state = "Running"
    wait_for(lambda: w.status == "streaming")
    w.close()
    fake.state = "Failed"
    w2 = OutputTable(fake)
    wait_for(lambda: "no output" in w2.status)
    w2.close()


def test_snapshot_mimebundle_escapes_row_data(fake):
    w = OutputTable(fake, autostart=False)
    w.feed(event([{"html": "<script>alert(1)</script>", "img": "<img src=x onerror=alert(1)>", "q": "\"'"}]))
    data, _ = w._repr_mimebundle_()
    assert "<script>" not in data["text/html"] and "&lt;script&gt;" in data["text/html"]
    assert "<img" not in data["text/html"]
    assert "1 rows received" in data["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in data
    w.close()


def test_deltas_stay_within_the_byte_budget_and_say_what_was_skipped(fake):
    w = OutputTable(fake, autostart=False, max_bytes_per_second=100_000)  # 10 kB a delta
    front = AckingFrontEnd(w)
    for k in range(10):
        w.feed(event(rows(1000, k * 1000), start_id=k * 1000))

    def accounted():
        deltas = w.comm.customs("delta")
        return deltas and delta_rows(deltas) + deltas[-1][1]["stats"]["sink_preview_1"]["skipped"] == 10_000

    wait_for(accounted, message="every row sent or counted as skipped")
    front.close()
    deltas = w.comm.customs("delta")
    assert deltas[-1][1]["stats"]["sink_preview_1"]["skipped"] > 0
    for _, _, bufs in deltas:
        assert len(bufs[0]) <= 2 * 10_000  # the first estimate of bytes per row may be off
    assert decode(deltas[-1][2][0])["ids"][-1] == 9_999  # the latest rows are the ones kept
    w.close()


# ---------------------------------------------------------------- columns, counters, close


def test_data_columns_named_like_metadata_round_trip_and_close_is_safe(fake):
    w = OutputTable(fake, autostart=False)
    data = [{"timestamp": "2026-12-08T05:00:00Z", "id": 7 + i, "sink": f"s{i}", "v": i} for i in range(3)]
    w.feed(event(data, start_id=10))
    df = w.to_pandas()
    assert df[["timestamp", "id", "sink", "v"]].to_dict("records") == data  # the data, untouched
    assert df["arroyo.row_id"].tolist() == [10, 11, 12]
    assert df["arroyo.sink"].tolist() == ["sink_preview_1"] * 3
    assert str(df["arroyo.event_time"].dtype).startswith("datetime64")
    assert "sink_preview_1" in w._snapshot_text() and "<td>s2</td>" in w._repr_mimebundle_()[0]["text/html"]
    w.close()


def test_close_stops_the_stream_even_if_the_final_snapshot_fails(fake, monkeypatch):
    w = OutputTable(fake)
    wait_for(lambda: w.status == "streaming")
    reader = w._reader

    def broken(*_a, **_k):
        raise RuntimeError("snapshot broke")

    monkeypatch.setattr(w._saved, "publish", broken)
    with pytest.raises(RuntimeError, match="snapshot broke"):
        w.close()
    assert fake.stream.closed.is_set() and not reader.is_alive()
    assert not any(p.alive for p in w._pollers)


def test_columns_are_learned_from_every_row_of_a_batch(fake):
    w = OutputTable(fake, autostart=False)
    w.feed(event([{"a": 1}, {"a": 2, "mid": "x"}, {"a": 3}]))
    df = w.to_pandas()
    assert [c for c in df.columns if not c.startswith("arroyo.")] == ["a", "mid"]
    assert df["mid"].isna().tolist() == [True, False, True] and df["mid"][1] == "x"
    w.close()


def test_values_of_mixed_types_and_nested_values_survive_the_arrow_tables(fake):
    w = OutputTable(fake, autostart=False)
    w.feed(event([{"x": 1, "s": {"a": 1}, "l": [1, 2]}, {"x": "a", "s": {"b": "q"}, "l": []}]))
    w.feed(event([{"x": 2.5, "s": None, "l": None, "new": True}], start_id=2))
    df = w.to_pandas()
    assert df["x"].tolist() == ["1", "a", "2.5"]  # one column that held int and text: text, nothing lost
    assert df["s"].tolist() == [{"a": 1, "b": None}, {"a": None, "b": "q"}, None]
    assert df["l"].tolist() == [[1, 2], [], None]
    assert df["new"].tolist()[2] is True and df["arroyo.row_id"].tolist() == [0, 1, 2]
    w.close()


def test_a_view_that_starts_over_gets_no_row_twice_and_counts_add_up(fake):
    w = OutputTable(fake, autostart=False, max_rows=50_000)
    w.ack_timeout = 60
    comm = w.comm
    w.feed(event(rows(100), start_id=0))
    wait_for(lambda: comm.customs("delta"))
    w.feed(event(rows(9000, 100), start_id=100))  # pending, not yet sent (no ack)
    comm.deliver({"type": "hello"})  # a view (re)opens: it gets the latest rows at once
    _, reset, bufs = comm.customs("reset")[-1]
    reset_ids = decode(bufs[0])["ids"]
    assert reset_ids == list(range(9100 - ot.RESET_ROWS, 9100))
    w.feed(event(rows(10, 9100), start_id=9100))
    wait_for(lambda: comm.customs("delta")[-1][1]["seq"] > reset["seq"])
    later = [i for _, c, bs in comm.customs("delta") if c["seq"] > reset["seq"] for i in decode(bs[0])["ids"]]
    assert later == list(range(9100, 9110))  # only the new rows, none of the reset's again
    st = comm.customs("delta")[-1][1]["stats"]["sink_preview_1"]
    shown = ot.RESET_ROWS + 10
    assert st["accounted"] == 9110 and st["accounted"] - shown == 9110 - shown  # received = shown + skipped
    assert isinstance(st["rate"], float) and (st["rate"] < 10 or st["rate"] == round(st["rate"]))
    w.close()


# ---------------------------------------------------------------- following the pipeline (real server)

IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\n"


@pytest.fixture
def client(arroyo_server):
    from arroyo_jupyter.api import Client

    c = Client(arroyo_server.url)
    yield c
    c.close()


def test_after_stop_and_start_the_same_table_keeps_receiving_rows(client):
    import uuid

    p = client.create_pipeline(f"grid-{uuid.uuid4().hex[:6]}", IMPULSE + "SELECT counter FROM impulse;")
    w = OutputTable(p)
    try:
        wait_for(lambda: len(w.to_pandas()) >= 20, timeout=60, message="rows of run 1")
        p.stop("checkpoint")
        wait_for(lambda: w.status.startswith("pipeline stopped"), timeout=60, message="stopped status")
        assert "started again" in w.status
        n_stopped = len(w.to_pandas())
        p.wait_for("Stopped")
        p.start()
        wait_for(lambda: len(w.to_pandas()) >= n_stopped + 20, timeout=60, message="rows of run 2")
        assert w.status.startswith("streaming")
        wait_for(lambda: [r["event"] for r in w.runs][-1:] == ["started"], message="runs trait")
        events = [(r["run"], r["event"]) for r in w.runs]
        assert [e for _, e in events[-3:]] == ["started", "stopped", "started"]
        assert events[-2][0] == 1 and events[-1][0] in (2, None)  # a start may come before the run id
        (rows_at_start_of_run_2,) = w.runs[-1]["rows"].values()
        assert rows_at_start_of_run_2 >= n_stopped  # where the boundary falls in the rows
    finally:
        w.close()
        p.stop("immediate")
    p.wait_for("Stopped")
    p.delete()


def test_a_bounded_file_preview_shows_all_its_rows(client, tmp_path):
    import orjson

    path = tmp_path / "src.json"
    path.write_bytes(b"".join(orjson.dumps({"k": i % 7, "v": i}) + b"\n" for i in range(1000)))
    src = (
        f"CREATE TABLE src (k BIGINT, v BIGINT) WITH (connector = 'single_file', path = '{path}', "
        "format = 'json', type = 'source');\n"
    )
    p = client.create_preview(src + "SELECT v FROM src;")
    p.wait_for("Finished", timeout=60)  # over before the table subscribes: the server replays it
    w = OutputTable(p)
    try:
        wait_for(lambda: len(w.to_pandas()) == 1000, timeout=60, message="all 1000 rows")
        wait_for(lambda: w.status.startswith("preview"), message="the preview's end")
        assert sorted(w.to_pandas()["v"]) == list(range(1000))
        assert "all its rows" in w.status
    finally:
        w.close()
