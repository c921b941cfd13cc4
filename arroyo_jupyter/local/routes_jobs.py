"""A job's data: errors, checkpoints, metric groups and the live output stream (SSE)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .context import Context, ctx
from .http import MAX_U32, ErrorAnswer, PlainError, endpoint, not_found, page, pagination
from .views import checkpoint_groups_json, checkpoint_json, log_json, transition_json


def _job(c: Context, request: Request) -> dict[str, Any]:
    job = c.store.get_job(request.path_params["job_id"])
    if job is None or job["pipeline_id"] != request.path_params["pipeline_id"]:
        raise not_found("Job")
    return job


@endpoint()
def job_errors(request: Request, _body: None) -> Any:
    c = ctx(request)
    job = _job(c, request)
    limit, after = pagination(request)
    rows, more = c.store.list_errors(job["id"], limit, after)
    return page([log_json(m) for m in rows], more)


@endpoint()
def job_checkpoints(request: Request, _body: None) -> Any:
    c = ctx(request)
    job = _job(c, request)
    # bounded by the store's retention; ?limit=N keeps only the newest N
    limit = pagination(request)[0] if request.query_params.get("limit") else None
    return {"data": [checkpoint_json(cp) for cp in c.store.checkpoints(job["id"], limit)]}


@endpoint()
def checkpoint_details(request: Request, _body: None) -> Any:
    c = ctx(request)
    job = _job(c, request)
    raw = request.path_params["epoch"]
    try:
        epoch = int(raw)
        if not 0 <= epoch <= MAX_U32:
            raise ValueError
    except ValueError:
        raise PlainError(f"Invalid URL: Cannot parse `{raw}` to a `u32`") from None
    cp = c.store.checkpoint(job["id"], epoch)
    if cp is None:
        raise not_found(f"Checkpoint with epoch {epoch} for job '{job['id']}'")
    return {"data": checkpoint_groups_json(cp)}


@endpoint()
def job_transitions(request: Request, _body: None) -> Any:
    """Not in Arroyo's API (additive): every state the job entered, with server times."""
    c = ctx(request)
    job = _job(c, request)
    return {"data": [transition_json(t) for t in c.store.state_transitions(job["id"])]}


@endpoint()
def metric_groups(request: Request, _body: None) -> Any:
    c = ctx(request)
    job = _job(c, request)
    return {"data": c.controller.metrics(job["id"])}


# A preview subscribed to in these states waits for its run (and gets it from the first row).
_BEFORE_RUN = {"Created", "Compiling", "Scheduling"}


def _open_output(c: Context, request: Request) -> tuple[Any, bool]:
    """Preconditions of Arroyo's output endpoint; returns the job's hub and whether the
    subscriber may wait for the run to start.

    A preview is more lenient than Arroyo (its replay buffer makes that useful): it can be
    subscribed to before it runs, and after its run ended for as long as the server keeps
    its output. Anything else must be Running, as in Arroyo.
    """
    pipeline = c.store.get_pipeline(request.path_params["pipeline_id"])
    job = c.store.get_job(request.path_params["job_id"])
    if pipeline is None:
        raise not_found("Pipeline")
    if job is None or job["pipeline_id"] != pipeline["id"]:
        raise not_found("Job")
    if not any("preview" in n["operator"] for n in pipeline["graph"]["nodes"]):
        raise ErrorAnswer(400, "Job does not have a preview sink")
    hub = c.controller.machine(job["id"]).hub
    if job["state"] == "Running":
        return hub, False
    if pipeline["preview"] and job["state"] in _BEFORE_RUN and job["stop"] == "none":
        return hub, True
    if pipeline["preview"] and hub.has_replay:
        return hub, False
    raise ErrorAnswer(400, "Job must be running to read output")


async def job_output(request: Request) -> Response:
    c = ctx(request)
    try:
        hub, wait = await run_in_threadpool(_open_output, c, request)
    except ErrorAnswer as e:
        return e.response()
    sub = hub.subscribe(asyncio.get_running_loop(), wait_for_run=wait)
    keepalive = c.config.sse_keepalive_s

    async def stream() -> AsyncIterator[bytes]:
        try:
            async for chunk in sub.chunks(keepalive):
                yield chunk
        finally:
            hub.unsubscribe(sub)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


_J = "/pipelines/{pipeline_id}/jobs/{job_id}"
ROUTES = [
    Route(_J + "/errors", job_errors, methods=["GET"]),
    Route(_J + "/checkpoints", job_checkpoints, methods=["GET"]),
    Route(_J + "/checkpoints/{epoch}/operator_checkpoint_groups", checkpoint_details, methods=["GET"]),
    Route(_J + "/operator_metric_groups", metric_groups, methods=["GET"]),
    Route(_J + "/state_transitions", job_transitions, methods=["GET"]),
    Route(_J + "/output", job_output, methods=["GET"]),
]
