"""Every client operation, sync and async, against Prism mocking the official spec.

A validating transport checks each request the client sends against the spec (and,
for bodies, against the newer engine's schemas with unknown fields forbidden) and
each response it parses against the spec; Prism itself logs a ``Violation`` for any
request that breaks the spec, and we assert there are none.
"""

from __future__ import annotations

import json
from itertools import islice
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from arroyo_jupyter.api import (
    ApiError,
    AsyncClient,
    AsyncJob,
    AsyncPipeline,
    Client,
    Job,
    Page,
    Pipeline,
    models,
)

from .spec import NEWER, SPEC


class Recorder:
    def __init__(self) -> None:
        self.operations: set[str] = set()
        self.problems: list[str] = []

    def request(self, request: httpx.Request) -> None:
        path = urlsplit(str(request.url)).path
        body = json.loads(request.content) if request.content else None
        if request.method == "PUT":  # newer engines only; not in the docs spec
            NEWER.check_request(request.method, path, body)
            return
        self.operations.add(SPEC.check_request(request.method, path, body))
        NEWER.check_request(request.method, path, body)

    def response(self, request: httpx.Request, status: int, headers: httpx.Headers, content: bytes) -> None:
        if "sl-violations" in headers:
            self.problems.append(f"{request.method} {request.url}: {headers['sl-violations']}")
        if request.method == "PUT":
            return
        path = urlsplit(str(request.url)).path
        ctype = headers.get("content-type", "")
        body = json.loads(content) if content and "json" in ctype else None
        SPEC.check_response(request.method, path, status, body)


class Validating(httpx.BaseTransport):
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.rec.request(request)
        response = self.inner.handle_request(request)
        content = response.read()
        self.rec.response(request, response.status_code, response.headers, content)
        return httpx.Response(response.status_code, headers=response.headers, content=content)


class AsyncValidating(httpx.AsyncBaseTransport):
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.rec.request(request)
        response = await self.inner.handle_async_request(request)
        content = await response.aread()
        self.rec.response(request, response.status_code, response.headers, content)
        return httpx.Response(response.status_code, headers=response.headers, content=content)


UDF = "from arroyo_udf import udf\n@udf\ndef double(x: int) -> int:\n    return x * 2\n"
QUERY = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '10');\nSELECT counter FROM impulse;"
SCHEMA = {
    "format": {"type": "json", "unstructured": False},
    "fields": [{"name": "a", "type": "int64", "required": True}],
}


def exercise(client: Client) -> list[Any]:
    """Call every operation of the spec (and the handle methods on top of them)."""
    out: list[Any] = [
        client.ping(),
        client.list_pipelines(),
        client.list_pipelines(limit=5, starting_after="pl_abcdefghij"),
        list(islice(client.iter_pipelines(page_size=1), 2)),
        client.get_pipeline("pl_abcdefghij"),
        client.create_pipeline(
            "demo",
            QUERY,
            parallelism=2,
            checkpoint_interval_micros=5_000_000,
            udfs=[UDF],
            tags={"team": "data"},
            env_vars={"A": "1"},
            scheduler_config={"k": 1},
        ),  # fmt: skip
        client.create_preview(QUERY, udfs=[models.Udf(UDF, "python")], enable_sinks=True),
        client.validate_query(QUERY, udfs=[{"definition": UDF, "language": "python"}]),
        client.patch_pipeline(
            "pl_abcdefghij", stop="checkpoint", parallelism=3, checkpoint_interval_micros=2_000_000
        ),
        client.patch_pipeline("pl_abcdefghij", env_vars={"B": "2"}, scheduler_config={}),
        client.restart_pipeline("pl_abcdefghij", force=True, ignore_state=True),
        client.restart_pipeline("pl_abcdefghij"),
        client.delete_pipeline("pl_abcdefghij"),
        client.get_pipeline_jobs("pl_abcdefghij"),
        client.list_jobs(),
        client.get_job_errors("pl_abcdefghij", "job_abcdefghij", limit=3, starting_after="jlm_abcdefghij"),
        list(islice(client.iter_job_errors("pl_abcdefghij", "job_abcdefghij", page_size=2), 2)),
        client.get_checkpoints("pl_abcdefghij", "job_abcdefghij"),
        client.get_checkpoint_details("pl_abcdefghij", "job_abcdefghij", 3),
        client.get_operator_metric_groups("pl_abcdefghij", "job_abcdefghij"),
        list(client.stream_output("pl_abcdefghij", "job_abcdefghij")),
        client.list_connectors(),
        client.list_connection_profiles(),
        client.create_connection_profile("local-kafka", "kafka", {"bootstrap_servers": "localhost:9092"}),
        client.test_connection_profile("local-kafka", "kafka", {"bootstrap_servers": "localhost:9092"}),
        client.delete_connection_profile("cp_abcdefghij"),
        client.get_connection_profile_autocomplete("cp_abcdefghij"),
        client.list_connection_tables(limit=10),
        list(islice(client.iter_connection_tables(page_size=1), 2)),
        client.create_connection_table("src", "impulse", {"event_rate": 10}, schema=SCHEMA),
        client.test_connection_table(
            "src", "impulse", {"event_rate": 10}, connection_profile_id="cp_abcdefghij"
        ),
        client.test_schema(SCHEMA),
        client.delete_connection_table("ct_abcdefghij"),
        client.list_udfs(),
        client.create_udf("my_udfs", UDF, description="doubles"),
        client.validate_udf(UDF, language="python"),
        client.delete_udf("udf_abcdefghij"),
    ]
    p = client.pipeline("pl_abcdefghij")
    p.refresh().stop("immediate").start(ignore_state=True).restart(force=True).rescale(4)
    job = p.job()
    out += [
        p,
        job,
        p.errors(limit=2),
        p.checkpoints(),
        p.checkpoint_details(1),
        p.metrics(),
        list(p.output()),
    ]
    job.stop().start().restart()
    out += [job.errors(), job.checkpoints(), job.checkpoint_details(2), job.metrics(), list(job.output())]
    p.delete()
    return out


async def exercise_async(client: AsyncClient) -> list[Any]:
    out: list[Any] = [
        await client.ping(),
        await client.list_pipelines(limit=5, starting_after="pl_abcdefghij"),
        [p async for p in islice_async(client.iter_pipelines(page_size=1), 2)],
        await client.get_pipeline("pl_abcdefghij"),
        await client.create_pipeline("demo", QUERY, parallelism=2, udfs=[UDF], tags={"a": "b"}),
        await client.create_preview(QUERY),
        await client.validate_query(QUERY),
        await client.patch_pipeline("pl_abcdefghij", stop="none"),
        await client.restart_pipeline("pl_abcdefghij", ignore_state=True),
        await client.delete_pipeline("pl_abcdefghij"),
        await client.get_pipeline_jobs("pl_abcdefghij"),
        await client.list_jobs(),
        await client.get_job_errors("pl_abcdefghij", "job_abcdefghij"),
        [e async for e in islice_async(client.iter_job_errors("pl_abcdefghij", "job_abcdefghij"), 2)],
        await client.get_checkpoints("pl_abcdefghij", "job_abcdefghij"),
        await client.get_checkpoint_details("pl_abcdefghij", "job_abcdefghij", 1),
        await client.get_operator_metric_groups("pl_abcdefghij", "job_abcdefghij"),
        [e async for e in await client.stream_output("pl_abcdefghij", "job_abcdefghij")],
        await client.list_connectors(),
        await client.list_connection_profiles(),
        await client.create_connection_profile("k", "kafka", {}),
        await client.test_connection_profile("k", "kafka", {}),
        await client.delete_connection_profile("cp_abcdefghij"),
        await client.get_connection_profile_autocomplete("cp_abcdefghij"),
        await client.list_connection_tables(),
        [t async for t in islice_async(client.iter_connection_tables(page_size=1), 2)],
        await client.create_connection_table("src", "impulse", {"event_rate": 10}),
        await client.test_connection_table("src", "impulse", {"event_rate": 10}),
        await client.test_schema(SCHEMA),
        await client.delete_connection_table("ct_abcdefghij"),
        await client.list_udfs(),
        await client.create_udf("my_udfs", UDF),
        await client.validate_udf(UDF),
        await client.delete_udf("udf_abcdefghij"),
    ]
    p = await client.pipeline("pl_abcdefghij")
    await (await (await p.refresh()).stop("graceful")).start(ignore_state=True)
    await p.restart()
    await p.rescale(2)
    job = await p.job()
    out += [p, job, await p.errors(), await p.checkpoints(), await p.checkpoint_details(1), await p.metrics()]
    out += [[e async for e in await p.output()]]
    await job.stop("force")
    out += [await job.errors(limit=1), await job.checkpoints(), await job.metrics()]
    await p.delete()
    return out


async def islice_async(it: Any, n: int) -> Any:
    count = 0
    async for item in it:
        yield item
        count += 1
        if count >= n:
            return


def test_every_operation_sync_conforms_to_the_spec(prism: Any) -> None:
    rec = Recorder()
    with Client(api_root=prism.root + "/v1", transport=Validating(rec), retries=0) as client:
        out = exercise(client)
    assert rec.operations == SPEC.operation_ids()
    assert rec.problems == []
    assert prism.violations() == []
    # the answers were parsed into the documented types
    assert out[0] is True
    assert isinstance(out[1], Page) and all(isinstance(p, Pipeline) for p in out[1])
    assert isinstance(out[5], Pipeline) and isinstance(out[5].model, models.Pipeline)
    assert isinstance(out[7], models.QueryValidationResult)
    assert all(isinstance(j, Job) for j in out[13])
    assert all(isinstance(c, models.Checkpoint) for c in out[17])


async def test_every_operation_async_conforms_to_the_spec(prism: Any) -> None:
    rec = Recorder()
    async with AsyncClient(api_root=prism.root + "/v1", transport=AsyncValidating(rec), retries=0) as client:
        out = await exercise_async(client)
    assert rec.operations == SPEC.operation_ids()
    assert rec.problems == []
    assert prism.violations() == []
    assert out[0] is True
    assert isinstance(out[3], AsyncPipeline)
    assert all(isinstance(j, AsyncJob) for j in out[10])


def test_prism_validation_string_errors_become_diagnostics(prism: Any) -> None:
    with Client(api_root=prism.root + "/v1", retries=0) as client:
        result = client.validate_query("SELECT 1")
    # the docs spec types errors as strings; they arrive as position-less diagnostics
    assert result.errors and all(isinstance(d.message, str) and d.line is None for d in result.errors)


def test_put_on_an_older_server_says_so(prism: Any) -> None:
    with Client(api_root=prism.root + "/v1", retries=0) as client:
        with pytest.raises(ApiError) as info:
            client.create_pipeline("demo", QUERY, pipeline_id="pl_chosen")
    assert info.value.status == 405
    assert "older Arroyo" in str(info.value)


def test_a_request_that_breaks_the_spec_is_caught_by_prism(prism: Any) -> None:
    """The safety net works: Prism flags a body missing required fields."""
    response = httpx.post(prism.root + "/v1/pipelines", json={"name": "x"}, timeout=10)
    assert response.status_code in (400, 422)
    assert "sl-violations" in response.headers
