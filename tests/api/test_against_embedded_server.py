"""The client against the embedded Arroyo-compatible server: a real lifecycle end to end."""

from __future__ import annotations

from typing import Any

import pytest

from arroyo_jupyter.api import AsyncClient, Client, NotFoundError, SqlError
from arroyo_jupyter.states import JobState

SQL = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '200');\nSELECT counter FROM impulse;"


def test_lifecycle_output_and_errors(arroyo_server: Any) -> None:
    with Client(arroyo_server.url, retries=0) as client:
        assert client.ping()
        assert client.validate_query(SQL).ok
        with pytest.raises(SqlError) as info:
            client.create_pipeline("bad", "SELECT nope FROM nowhere")
        assert info.value.diagnostics and info.value.diagnostics[0].message

        p = client.create_pipeline("api_lifecycle", SQL, tags={"test": "api"})
        try:
            job = p.wait_for("Running", timeout=60)
            assert job.state is JobState.RUNNING and job.pipeline_id == p.id
            with p.output() as stream:
                ids: list[int] = []
                for event in stream:
                    ids += list(event.row_ids)
                    if len(ids) >= 20:
                        break
            assert ids == sorted(ids)  # row ids only grow
            assert stream.closed
            p.stop()
            assert p.wait_for("Stopped", timeout=60).running_desired is False
        finally:
            p.stop("immediate")
            p.wait_for({"Stopped", "Failed", "Finished"}, timeout=60)
            p.delete()
        with pytest.raises(NotFoundError):
            client.get_pipeline(p.id)


async def test_async_client_on_the_embedded_server(arroyo_server: Any) -> None:
    async with AsyncClient(arroyo_server.url, retries=0) as client:
        assert await client.ping()
        result = await client.validate_query("SELECT nope FROM nowhere")
        assert not result.ok and result.errors
        assert isinstance(await client.list_jobs(), list)
