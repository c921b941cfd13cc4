"""``Client`` and ``AsyncClient``: two thin I/O shells over the shared ``_protocol``.

Every public method builds a Call with ``_protocol``, sends it (with retries for
idempotent requests), and parses the answer with ``_protocol.parse_response``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import httpx

from . import _protocol as ops
from . import models as m
from ._config import Retries, as_retries, redact_url, resolve_api_key, resolve_api_root
from ._protocol import Call, Page
from .errors import ArroyoConnectionError, NotFoundError
from .follow import OutputFollower
from .handles import AsyncJob, AsyncPipeline, Job, Pipeline, first_job
from .stream import AsyncOutputStream, OutputStream

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")
U = TypeVar("U")

Timeout = float | httpx.Timeout | None


class _BaseClient:
    """Configuration shared by both shells; holds no connection itself."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_root: str | None = None,
        api_key: str | None = None,
        verify: bool = True,
        timeout: Timeout = 10.0,
        retries: int | Retries | None = 3,
    ) -> None:
        self.api_root = resolve_api_root(url, api_root)
        self._api_key = resolve_api_key(api_key)
        self._retries = as_retries(retries)
        self._verify = verify
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._shown_root = redact_url(self.api_root)

    def _headers(self) -> dict[str, str]:
        headers = {"accept": "application/json", "user-agent": "arroyo-jupyter"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    def _url(self, call: Call[Any]) -> str:
        return self.api_root + call.path

    def _retry_state(self) -> ops.RetryState:
        r = self._retries
        return ops.RetryState(r.attempts, r.delay, r.statuses)

    def _stream_timeout(self) -> httpx.Timeout:
        # No keep-alives on Arroyo's output stream: a quiet job must not time out.
        return httpx.Timeout(
            self._timeout.connect, read=None, write=self._timeout.write, pool=self._timeout.pool
        )

    def _unreachable(self, exc: Exception) -> ArroyoConnectionError:
        reason = str(exc) or type(exc).__name__
        hint = "is the server running? start one with `arroyo-jupyter serve`, or set ARROYO_URL / url="
        if "SSL" in reason or "certificate" in reason.lower():
            hint = "TLS failed: check the certificate, or pass verify=False for a self-signed one"
        if isinstance(exc, httpx.TimeoutException):
            hint = "the server did not answer in time; raise timeout= or check the server"
        return ArroyoConnectionError(f"cannot reach the Arroyo API at {self._shown_root} ({reason}); {hint}")

    def _parse(self, call: Call[T], response: httpx.Response) -> T:
        return ops.parse_response(
            call, response.status_code, response.headers, response.content, self._shown_root
        )

    def __repr__(self) -> str:
        auth = "api_key=***" if self._api_key else "no api_key"
        return f"{type(self).__name__}({self._shown_root!r}, {auth})"


def _sent(exc: Exception) -> bool:
    """Whether the request may have reached the server before this error."""
    return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


class Client(_BaseClient):
    """Synchronous client of Arroyo's REST API.

    >>> client = Client("http://localhost:5115")      # or $ARROYO_URL
    >>> p = client.create_pipeline("demo", "SELECT ...")
    >>> p.wait_for("Running")
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        api_root: str | None = None,
        api_key: str | None = None,
        verify: bool = True,
        timeout: Timeout = 10.0,
        retries: int | Retries | None = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            url, api_root=api_root, api_key=api_key, verify=verify, timeout=timeout, retries=retries
        )
        self._http = httpx.Client(
            headers=self._headers(), verify=verify, timeout=self._timeout, transport=transport
        )

    # --- plumbing --------------------------------------------------------------------

    def send(self, call: Call[T]) -> T:
        """Send one request built by :mod:`._protocol` and return its parsed answer (retrying as configured)."""
        retry = self._retry_state()
        while True:
            try:
                response = self._http.request(
                    call.method,
                    self._url(call),
                    params=call.params,
                    content=call.content(),
                    headers=call.headers(),
                )
            except httpx.TransportError as exc:
                delay = retry.after_error(call, _sent(exc))
                if delay is None:
                    raise self._unreachable(exc) from None
                time.sleep(delay)
                continue
            delay = retry.after_status(call, response.status_code, response.headers)
            if delay is None:
                return self._parse(call, response)
            time.sleep(delay)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _pipeline(self, model: m.Pipeline) -> Pipeline:
        return Pipeline(self, model)

    def _job(self, pipeline_id: str, model: m.Job) -> Job:
        return Job(self, model.pipeline_id or pipeline_id, model)

    def _pages(self, fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
        return ops.iter_pages(fetch)

    # --- API -------------------------------------------------------------------------

    def ping(self) -> bool:
        """True if the API answers; raises ArroyoConnectionError otherwise."""
        return self.send(ops.ping())

    def list_pipelines(self, limit: int | None = None, starting_after: str | None = None) -> Page[Pipeline]:
        return self.send(ops.list_pipelines(limit, starting_after)).map(self._pipeline)

    def iter_pipelines(self, page_size: int = 100) -> Iterator[Pipeline]:
        """Every pipeline (newest first), fetching pages lazily."""
        return self._pages(lambda after: self.list_pipelines(page_size, after))

    def get_pipeline(self, pipeline_id: str) -> Pipeline:
        return self._pipeline(self.send(ops.get_pipeline(pipeline_id)))

    def pipeline(self, pipeline_id: str) -> Pipeline:
        """A handle on an existing pipeline (fetched now)."""
        return self.get_pipeline(pipeline_id)

    def create_pipeline(
        self,
        name: str,
        query: str,
        *,
        parallelism: int = 1,
        checkpoint_interval_micros: int | None = None,
        udfs: Any = None,
        tags: dict[str, str] | None = None,
        env_vars: dict[str, str] | None = None,
        scheduler_config: Any = None,
        pipeline_id: str | None = None,
        state_url: str | None = None,
    ) -> Pipeline:
        """Create and start a pipeline. ``pipeline_id`` picks its id (newer engines, PUT)."""
        call = ops.create_pipeline(
            name, query, parallelism=parallelism, checkpoint_interval_micros=checkpoint_interval_micros,
            udfs=udfs, tags=tags, env_vars=env_vars, scheduler_config=scheduler_config,
            state_url=state_url, pipeline_id=pipeline_id,
        )  # fmt: skip
        return self._pipeline(self.send(call))

    def create_preview(self, query: str, *, udfs: Any = None, enable_sinks: bool = False) -> Pipeline:
        return self._pipeline(self.send(ops.create_preview(query, udfs=udfs, enable_sinks=enable_sinks)))

    def validate_query(self, query: str, *, udfs: Any = None) -> m.QueryValidationResult:
        return self.send(ops.validate_query(query, udfs=udfs))

    def patch_pipeline(
        self,
        pipeline_id: str,
        *,
        stop: Any = None,
        parallelism: int | None = None,
        checkpoint_interval_micros: int | None = None,
        env_vars: dict[str, str] | None = None,
        scheduler_config: Any = None,
    ) -> Pipeline:
        call = ops.patch_pipeline(
            pipeline_id, stop=stop, parallelism=parallelism, checkpoint_interval_micros=checkpoint_interval_micros,
            env_vars=env_vars, scheduler_config=scheduler_config,
        )  # fmt: skip
        return self._pipeline(self.send(call))

    def restart_pipeline(
        self, pipeline_id: str, *, force: bool = False, ignore_state: bool = False
    ) -> Pipeline:
        return self._pipeline(
            self.send(ops.restart_pipeline(pipeline_id, force=force, ignore_state=ignore_state))
        )

    def delete_pipeline(self, pipeline_id: str) -> None:
        self.send(ops.delete_pipeline(pipeline_id))

    def get_pipeline_jobs(self, pipeline_id: str) -> list[Job]:
        return [self._job(pipeline_id, j) for j in self.send(ops.get_pipeline_jobs(pipeline_id))]

    def list_jobs(self) -> list[Job]:
        return [self._job(j.pipeline_id or "", j) for j in self.send(ops.list_jobs())]

    def get_job_errors(
        self, pipeline_id: str, job_id: str, *, limit: int | None = None, starting_after: str | None = None
    ) -> Page[m.JobLogMessage]:
        return self.send(ops.get_job_errors(pipeline_id, job_id, limit=limit, starting_after=starting_after))

    def iter_job_errors(
        self, pipeline_id: str, job_id: str, *, page_size: int = 100
    ) -> Iterator[m.JobLogMessage]:
        return self._pages(
            lambda after: self.get_job_errors(pipeline_id, job_id, limit=page_size, starting_after=after)
        )

    def get_checkpoints(self, pipeline_id: str, job_id: str) -> list[m.Checkpoint]:
        return self.send(ops.get_checkpoints(pipeline_id, job_id))

    def get_job_state_transitions(self, pipeline_id: str, job_id: str) -> list[m.StateTransition] | None:
        """Every state the job entered, with server times (oldest first); None when the
        server has no such endpoint (an Arroyo cluster: poll ``get_pipeline_jobs`` instead)."""
        try:
            return self.send(ops.get_job_state_transitions(pipeline_id, job_id))
        except NotFoundError as exc:
            if ops.no_such_route(exc):
                return None
            raise

    def get_checkpoint_details(
        self, pipeline_id: str, job_id: str, epoch: int
    ) -> list[m.OperatorCheckpointGroup]:
        return self.send(ops.get_checkpoint_details(pipeline_id, job_id, epoch))

    def get_operator_metric_groups(self, pipeline_id: str, job_id: str) -> list[m.OperatorMetricGroup]:
        return self.send(ops.get_operator_metric_groups(pipeline_id, job_id))

    def stream_output(self, pipeline_id: str, job_id: str, read_timeout: float | None = None) -> OutputStream:
        """Open the job's live output (raises at once if the server refuses).

        ``read_timeout``: seconds without a byte (keep-alives included) before the
        iterator raises StreamError; default ``STREAM_READ_TIMEOUT`` (60 s).
        """
        call: Call[None] = Call("GET", ops.output_path(pipeline_id, job_id), ops._ignore)
        request = self._http.build_request(
            "GET", self._url(call), headers={"accept": "text/event-stream"}, timeout=self._stream_timeout()
        )
        retry = self._retry_state()
        while True:
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                delay = retry.after_error(call, _sent(exc))
                if delay is None:
                    raise self._unreachable(exc) from None
                time.sleep(delay)
                continue
            if ops.is_event_stream(response.status_code, response.headers):
                return OutputStream(response, f"{pipeline_id}/{job_id}", read_timeout)
            content = response.read()
            response.close()
            delay = retry.after_status(call, response.status_code, response.headers)
            if delay is None:
                raise ops.stream_refused(
                    call, response.status_code, response.headers, content, self._shown_root
                )
            time.sleep(delay)

    def follow_output(
        self,
        pipeline_id: str,
        *,
        runs: int | None = None,
        poll_s: float = 0.5,
        wake: threading.Event | None = None,
    ) -> OutputFollower:
        """The pipeline's output over every run: OutputEvents with a RunBoundary at each
        run's start and end; reconnects after Stop → Start, Restart and Rescale.

        Ends when the job has Finished, a preview ended, the pipeline was deleted, or
        ``runs`` runs were read; ``close()`` (any thread) stops it. While the job is not
        running it is looked at every ``poll_s``, or, given ``wake``, only when that event is
        set (by a watcher that already follows the job). See OutputFollower.
        """
        return OutputFollower(self, pipeline_id, runs=runs, poll_s=poll_s, wake=wake)

    # catalogue

    def list_connectors(self) -> list[m.Connector]:
        return self.send(ops.list_connectors())

    def list_connection_profiles(self) -> list[m.ConnectionProfile]:
        return self.send(ops.list_connection_profiles())

    def create_connection_profile(self, name: str, connector: str, config: Any = None) -> m.ConnectionProfile:
        return self.send(ops.create_connection_profile(name, connector, config))

    def test_connection_profile(self, name: str, connector: str, config: Any = None) -> m.TestSourceMessage:
        return self.send(ops.test_connection_profile(name, connector, config))

    def delete_connection_profile(self, profile_id: str) -> None:
        self.send(ops.delete_connection_profile(profile_id))

    def get_connection_profile_autocomplete(self, profile_id: str) -> m.ConnectionAutocompleteResp:
        return self.send(ops.get_connection_profile_autocomplete(profile_id))

    def list_connection_tables(
        self, limit: int | None = None, starting_after: str | None = None
    ) -> Page[m.ConnectionTable]:
        return self.send(ops.list_connection_tables(limit, starting_after))

    def iter_connection_tables(self, page_size: int = 100) -> Iterator[m.ConnectionTable]:
        return self._pages(lambda after: self.list_connection_tables(page_size, after))

    def create_connection_table(
        self,
        name: str,
        connector: str,
        config: Any = None,
        *,
        connection_profile_id: str | None = None,
        schema: Any = None,
    ) -> m.ConnectionTable:
        call = ops.create_connection_table(
            name, connector, config, connection_profile_id=connection_profile_id, schema=schema
        )
        return self.send(call)

    def test_connection_table(
        self,
        name: str,
        connector: str,
        config: Any = None,
        *,
        connection_profile_id: str | None = None,
        schema: Any = None,
    ) -> list[m.TestSourceMessage]:
        call = ops.test_connection_table(
            name, connector, config, connection_profile_id=connection_profile_id, schema=schema
        )
        return self.send(call)

    def test_schema(self, schema: dict[str, Any]) -> None:
        """Raises BadRequestError if the server finds the schema invalid."""
        self.send(ops.test_schema(schema))

    def delete_connection_table(self, table_id: str) -> None:
        self.send(ops.delete_connection_table(table_id))

    def list_udfs(self) -> list[m.GlobalUdf]:
        return self.send(ops.list_udfs())

    def create_udf(
        self, prefix: str, definition: str, *, language: str = "python", description: str | None = None
    ) -> m.GlobalUdf:
        return self.send(ops.create_udf(prefix, definition, language=language, description=description))

    def validate_udf(self, definition: str, *, language: str = "python") -> m.UdfValidationResult:
        return self.send(ops.validate_udf(definition, language=language))

    def delete_udf(self, udf_id: str) -> None:
        self.send(ops.delete_udf(udf_id))

    # handle helpers

    def current_job(self, pipeline_id: str) -> Job:
        """The pipeline's job (newest first; Arroyo has one job per pipeline)."""
        return first_job(pipeline_id, self.get_pipeline_jobs(pipeline_id))


class AsyncClient(_BaseClient):
    """Asynchronous client: the same methods as :class:`Client`, as coroutines."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_root: str | None = None,
        api_key: str | None = None,
        verify: bool = True,
        timeout: Timeout = 10.0,
        retries: int | Retries | None = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            url, api_root=api_root, api_key=api_key, verify=verify, timeout=timeout, retries=retries
        )
        self._http = httpx.AsyncClient(
            headers=self._headers(), verify=verify, timeout=self._timeout, transport=transport
        )

    async def send(self, call: Call[T]) -> T:
        """Send one request built by :mod:`._protocol` and return its parsed answer."""
        retry = self._retry_state()
        while True:
            try:
                response = await self._http.request(
                    call.method,
                    self._url(call),
                    params=call.params,
                    content=call.content(),
                    headers=call.headers(),
                )
            except httpx.TransportError as exc:
                delay = retry.after_error(call, _sent(exc))
                if delay is None:
                    raise self._unreachable(exc) from None
                await asyncio.sleep(delay)
                continue
            delay = retry.after_status(call, response.status_code, response.headers)
            if delay is None:
                return self._parse(call, response)
            await asyncio.sleep(delay)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    def _pipeline(self, model: m.Pipeline) -> AsyncPipeline:
        return AsyncPipeline(self, model)

    def _job(self, pipeline_id: str, model: m.Job) -> AsyncJob:
        return AsyncJob(self, model.pipeline_id or pipeline_id, model)

    def _pages(self, fetch: Callable[[str | None], Any]) -> AsyncIterator[Any]:
        return ops.aiter_pages(fetch)

    async def ping(self) -> bool:
        return await self.send(ops.ping())

    async def list_pipelines(
        self, limit: int | None = None, starting_after: str | None = None
    ) -> Page[AsyncPipeline]:
        return (await self.send(ops.list_pipelines(limit, starting_after))).map(self._pipeline)

    def iter_pipelines(self, page_size: int = 100) -> AsyncIterator[AsyncPipeline]:
        return self._pages(lambda after: self.list_pipelines(page_size, after))

    async def get_pipeline(self, pipeline_id: str) -> AsyncPipeline:
        return self._pipeline(await self.send(ops.get_pipeline(pipeline_id)))

    async def pipeline(self, pipeline_id: str) -> AsyncPipeline:
        return await self.get_pipeline(pipeline_id)

    async def create_pipeline(
        self,
        name: str,
        query: str,
        *,
        parallelism: int = 1,
        checkpoint_interval_micros: int | None = None,
        udfs: Any = None,
        tags: dict[str, str] | None = None,
        env_vars: dict[str, str] | None = None,
        scheduler_config: Any = None,
        pipeline_id: str | None = None,
        state_url: str | None = None,
    ) -> AsyncPipeline:
        call = ops.create_pipeline(
            name, query, parallelism=parallelism, checkpoint_interval_micros=checkpoint_interval_micros,
            udfs=udfs, tags=tags, env_vars=env_vars, scheduler_config=scheduler_config,
            state_url=state_url, pipeline_id=pipeline_id,
        )  # fmt: skip
        return self._pipeline(await self.send(call))

    async def create_preview(
        self, query: str, *, udfs: Any = None, enable_sinks: bool = False
    ) -> AsyncPipeline:
        return self._pipeline(
            await self.send(ops.create_preview(query, udfs=udfs, enable_sinks=enable_sinks))
        )

    async def validate_query(self, query: str, *, udfs: Any = None) -> m.QueryValidationResult:
        return await self.send(ops.validate_query(query, udfs=udfs))

    async def patch_pipeline(
        self,
        pipeline_id: str,
        *,
        stop: Any = None,
        parallelism: int | None = None,
        checkpoint_interval_micros: int | None = None,
        env_vars: dict[str, str] | None = None,
        scheduler_config: Any = None,
    ) -> AsyncPipeline:
        call = ops.patch_pipeline(
            pipeline_id, stop=stop, parallelism=parallelism, checkpoint_interval_micros=checkpoint_interval_micros,
            env_vars=env_vars, scheduler_config=scheduler_config,
        )  # fmt: skip
        return self._pipeline(await self.send(call))

    async def restart_pipeline(
        self, pipeline_id: str, *, force: bool = False, ignore_state: bool = False
    ) -> AsyncPipeline:
        call = ops.restart_pipeline(pipeline_id, force=force, ignore_state=ignore_state)
        return self._pipeline(await self.send(call))

    async def delete_pipeline(self, pipeline_id: str) -> None:
        await self.send(ops.delete_pipeline(pipeline_id))

    async def get_pipeline_jobs(self, pipeline_id: str) -> list[AsyncJob]:
        return [self._job(pipeline_id, j) for j in await self.send(ops.get_pipeline_jobs(pipeline_id))]

    async def list_jobs(self) -> list[AsyncJob]:
        return [self._job(j.pipeline_id or "", j) for j in await self.send(ops.list_jobs())]

    async def get_job_errors(
        self, pipeline_id: str, job_id: str, *, limit: int | None = None, starting_after: str | None = None
    ) -> Page[m.JobLogMessage]:
        return await self.send(
            ops.get_job_errors(pipeline_id, job_id, limit=limit, starting_after=starting_after)
        )

    def iter_job_errors(
        self, pipeline_id: str, job_id: str, *, page_size: int = 100
    ) -> AsyncIterator[m.JobLogMessage]:
        return self._pages(
            lambda after: self.get_job_errors(pipeline_id, job_id, limit=page_size, starting_after=after)
        )

    async def get_checkpoints(self, pipeline_id: str, job_id: str) -> list[m.Checkpoint]:
        return await self.send(ops.get_checkpoints(pipeline_id, job_id))

    async def get_job_state_transitions(
        self, pipeline_id: str, job_id: str
    ) -> list[m.StateTransition] | None:
        """See Client.get_job_state_transitions."""
        try:
            return await self.send(ops.get_job_state_transitions(pipeline_id, job_id))
        except NotFoundError as exc:
            if ops.no_such_route(exc):
                return None
            raise

    async def get_checkpoint_details(
        self, pipeline_id: str, job_id: str, epoch: int
    ) -> list[m.OperatorCheckpointGroup]:
        return await self.send(ops.get_checkpoint_details(pipeline_id, job_id, epoch))

    async def get_operator_metric_groups(self, pipeline_id: str, job_id: str) -> list[m.OperatorMetricGroup]:
        return await self.send(ops.get_operator_metric_groups(pipeline_id, job_id))

    async def stream_output(
        self, pipeline_id: str, job_id: str, read_timeout: float | None = None
    ) -> AsyncOutputStream:
        call: Call[None] = Call("GET", ops.output_path(pipeline_id, job_id), ops._ignore)
        request = self._http.build_request(
            "GET", self._url(call), headers={"accept": "text/event-stream"}, timeout=self._stream_timeout()
        )
        retry = self._retry_state()
        while True:
            try:
                response = await self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                delay = retry.after_error(call, _sent(exc))
                if delay is None:
                    raise self._unreachable(exc) from None
                await asyncio.sleep(delay)
                continue
            if ops.is_event_stream(response.status_code, response.headers):
                return AsyncOutputStream(response, f"{pipeline_id}/{job_id}", read_timeout)
            content = await response.aread()
            await response.aclose()
            delay = retry.after_status(call, response.status_code, response.headers)
            if delay is None:
                raise ops.stream_refused(
                    call, response.status_code, response.headers, content, self._shown_root
                )
            await asyncio.sleep(delay)

    async def list_connectors(self) -> list[m.Connector]:
        return await self.send(ops.list_connectors())

    async def list_connection_profiles(self) -> list[m.ConnectionProfile]:
        return await self.send(ops.list_connection_profiles())

    async def create_connection_profile(
        self, name: str, connector: str, config: Any = None
    ) -> m.ConnectionProfile:
        return await self.send(ops.create_connection_profile(name, connector, config))

    async def test_connection_profile(
        self, name: str, connector: str, config: Any = None
    ) -> m.TestSourceMessage:
        return await self.send(ops.test_connection_profile(name, connector, config))

    async def delete_connection_profile(self, profile_id: str) -> None:
        await self.send(ops.delete_connection_profile(profile_id))

    async def get_connection_profile_autocomplete(self, profile_id: str) -> m.ConnectionAutocompleteResp:
        return await self.send(ops.get_connection_profile_autocomplete(profile_id))

    async def list_connection_tables(
        self, limit: int | None = None, starting_after: str | None = None
    ) -> Page[m.ConnectionTable]:
        return await self.send(ops.list_connection_tables(limit, starting_after))

    def iter_connection_tables(self, page_size: int = 100) -> AsyncIterator[m.ConnectionTable]:
        return self._pages(lambda after: self.list_connection_tables(page_size, after))

    async def create_connection_table(
        self,
        name: str,
        connector: str,
        config: Any = None,
        *,
        connection_profile_id: str | None = None,
        schema: Any = None,
    ) -> m.ConnectionTable:
        call = ops.create_connection_table(
            name, connector, config, connection_profile_id=connection_profile_id, schema=schema
        )
        return await self.send(call)

    async def test_connection_table(
        self,
        name: str,
        connector: str,
        config: Any = None,
        *,
        connection_profile_id: str | None = None,
        schema: Any = None,
    ) -> list[m.TestSourceMessage]:
        call = ops.test_connection_table(
            name, connector, config, connection_profile_id=connection_profile_id, schema=schema
        )
        return await self.send(call)

    async def test_schema(self, schema: dict[str, Any]) -> None:
        await self.send(ops.test_schema(schema))

    async def delete_connection_table(self, table_id: str) -> None:
        await self.send(ops.delete_connection_table(table_id))

    async def list_udfs(self) -> list[m.GlobalUdf]:
        return await self.send(ops.list_udfs())

    async def create_udf(
        self, prefix: str, definition: str, *, language: str = "python", description: str | None = None
    ) -> m.GlobalUdf:
        return await self.send(ops.create_udf(prefix, definition, language=language, description=description))

    async def validate_udf(self, definition: str, *, language: str = "python") -> m.UdfValidationResult:
        return await self.send(ops.validate_udf(definition, language=language))

    async def delete_udf(self, udf_id: str) -> None:
        await self.send(ops.delete_udf(udf_id))

    async def current_job(self, pipeline_id: str) -> AsyncJob:
        return first_job(pipeline_id, await self.get_pipeline_jobs(pipeline_id))
