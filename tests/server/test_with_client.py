"""The same Arroyo integration sequence through the package's own client and handles,
against the embedded server: the two layers agree on the wire."""

from __future__ import annotations

import time

import pytest

from arroyo_jupyter.api import Client, NotFoundError

QUERY = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter FROM impulse;"


@pytest.fixture
def client(fresh_server):
    c = Client(fresh_server.url)
    yield c
    c.close()


def _wait_run_id(pipeline, run_id: int, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        job = pipeline.job()
        if str(job.state) == "Running" and job.run_id == run_id:
            return job
        assert time.monotonic() < deadline, f"still {job.state} run {job.run_id}"
        time.sleep(0.05)


def test_integration_sequence_through_the_client(client, fresh_server):
    assert client.ping() is True
    p = client.create_pipeline("via_client", QUERY, parallelism=1, checkpoint_interval_micros=1_000_000)
    job = p.wait_for("Running", timeout=30)
    assert job.run_id == 1
    p.stop("checkpoint")
    p.wait_for("Stopped", timeout=30)
    p.start()
    _wait_run_id(p, 2)
    p.rescale(2)
    _wait_run_id(p, 3)
    p.restart()
    _wait_run_id(p, 4)
    p.stop("immediate")
    p.wait_for("Stopped", timeout=30)
    history = fresh_server.store.state_history(job.id)
    for state in ["CheckpointStopping", "Rescaling", "Restarting", "Stopping"]:
        assert state in history
    p.delete()
    with pytest.raises(NotFoundError):
        client.get_pipeline(p.id)


def test_client_output_stream_has_no_gaps(client):
    query = (
        "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '100000', message_count = '100000');\n"
        "SELECT counter FROM impulse;"
    )
    p = client.create_preview(query)
    p.wait_for("Running", timeout=30)
    rows = 0
    with p.output() as stream:
        for event in stream:
            rows += len(event.rows)
            assert [r["counter"] for r in event.rows] == list(
                range(event.start_id, event.start_id + len(event.rows))
            )
        assert stream.gaps == []
    assert rows > 0
    p.wait_for("Finished", timeout=30)
