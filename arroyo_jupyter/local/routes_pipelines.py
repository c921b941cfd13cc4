"""``/v1/pipelines`` and ``/v1/jobs``: create, preview, validate, patch, restart, delete."""

from __future__ import annotations

import shutil
import time
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.routing import Route

from ..states import TERMINAL_STATES, JobState
from . import bodies
from .config import MAX_CHECKPOINT_INTERVAL_MICROS, MIN_CHECKPOINT_INTERVAL_MICROS
from .context import Context, ctx
from .controller import PREVIEW_CHECKPOINT_INTERVAL_MICROS
from .http import ErrorAnswer, bad_request, empty_ok, endpoint, not_found, page, pagination
from .ids import new_id, now_micros
from .planning import plan, used_tables
from .store import DuplicateError
from .udfs import inspect_python_udf
from .views import job_json, pipeline_json


def _pipeline_out(c: Context, p: dict[str, Any]) -> dict[str, Any]:
    jobs = c.store.jobs_of(p["id"])
    return pipeline_json(p, jobs[0] if jobs else None)


def _check_interval(micros: int | None, name: str) -> None:
    if micros is not None and not (
        MIN_CHECKPOINT_INTERVAL_MICROS <= micros <= MAX_CHECKPOINT_INTERVAL_MICROS
    ):
        raise bad_request(f"{name} must be between 1 second and 1 day.")


def _check_parallelism(c: Context, n: int) -> None:
    if n < 1:
        raise bad_request("parallelism must be at least 1")
    if n > c.config.max_parallelism:
        raise bad_request(
            f"Your plan allows you to run pipelines up to parallelism {c.config.max_parallelism}; "
            "lower the parallelism or raise the server's max_parallelism"
        )


def _local_udfs(udfs: list[bodies.UdfIn] | None) -> list[dict[str, str]]:
    out = []
    for u in udfs or []:
        language = u.language or "python"
        if language != "python":
            raise bad_request(
                "invalid UDF: the embedded engine runs Python UDFs only; set language to 'python'"
            )
        _name, errors = inspect_python_udf(u.definition)
        if errors:
            raise bad_request("invalid Python UDF: " + "; ".join(errors))
        out.append({"definition": u.definition, "language": language})
    return out


def _plan_or_400(c: Context, query: str, **kw: Any) -> Any:
    from .engine.interface import PlanError

    try:
        return plan(c.store, query, **kw)
    except PlanError as e:
        raise bad_request(e.arroyo_message()) from None


def _check_running_limit(c: Context) -> None:
    """Rejects when already at the limit (``>=``, unlike Arroyo's off-by-one ``>``)."""
    limit = c.config.max_running_jobs
    if c.store.count_running_jobs() >= limit:
        raise bad_request(
            f"You have exceeded the maximum number of running jobs ({limit}). "
            "Stop an existing job or raise the server's max_running_jobs"
        )


def _insert(
    c: Context,
    *,
    pipeline_id: str,
    name: str,
    query: str,
    parallelism: int,
    interval: int,
    graph: Any,
    udfs: list,
    preview: bool,
    enable_sinks: bool = False,
    tags: dict | None = None,
    state_url: str | None = None,
    env_vars: dict | None = None,
    scheduler_config: Any = None,
) -> dict[str, Any]:
    now = now_micros()
    pipeline = {
        "id": pipeline_id,
        "name": name,
        "query": query,
        "udfs": udfs,
        "parallelism": parallelism,
        "checkpoint_interval_micros": interval,
        "graph": graph,
        "preview": int(preview),
        "enable_sinks": int(enable_sinks),
        "tags": tags or {},
        "state_url": state_url,
        "created_at": now,
        "updated_at": now,
    }
    job = {
        "id": new_id("job"),
        "pipeline_id": pipeline_id,
        "created_at": now,
        "stop": "none",
        "state": JobState.CREATED.value,
        "env_vars": env_vars or {},
        "scheduler_config": scheduler_config if scheduler_config is not None else {},
        "ttl_micros": int(c.config.preview_ttl_s * 1e6) if preview else None,
    }
    with c.create_lock:
        _check_running_limit(c)
        try:
            c.store.create_pipeline(pipeline, job)
        except DuplicateError:
            raise bad_request("A record already exists with that name or id") from None
    if not preview:
        c.store.link_tables(pipeline_id, used_tables(c.store, query))
    c.controller.notify(job["id"])
    return _pipeline_out(c, _get(c, pipeline_id))


def _create(c: Context, body: bodies.PipelinePost, pipeline_id: str) -> dict[str, Any]:
    if not body.name:
        raise bad_request("Field name must be set")
    _check_parallelism(c, body.parallelism)
    _check_interval(body.checkpoint_interval_micros, "Checkpoint_interval_micros")
    udfs = _local_udfs(body.udfs)
    _check_running_limit(c)  # cheap early answer; re-checked atomically at insert
    program = _plan_or_400(c, body.query, parallelism=body.parallelism, udfs=udfs)
    return _insert(
        c,
        pipeline_id=pipeline_id,
        name=body.name,
        query=body.query,
        parallelism=body.parallelism,
        interval=body.checkpoint_interval_micros or c.config.default_checkpoint_interval_micros,
        graph=program.graph,
        udfs=udfs,
        preview=False,
        tags=body.tags,
        state_url=body.state_url,
        env_vars=body.env_vars,
        scheduler_config=body.scheduler_config,
    )


@endpoint(bodies.PipelinePost)
def create_pipeline(request: Request, body: bodies.PipelinePost) -> Any:
    return _create(ctx(request), body, new_id("pl"))


@endpoint(bodies.PipelinePost)
def put_pipeline(request: Request, body: bodies.PipelinePost) -> Any:
    return _create(ctx(request), body, request.path_params["id"])


@endpoint(bodies.PreviewPost)
def create_preview(request: Request, body: bodies.PreviewPost) -> Any:
    c = ctx(request)
    udfs = _local_udfs(body.udfs)
    _check_running_limit(c)
    program = _plan_or_400(
        c, body.query, parallelism=1, preview=True, enable_sinks=bool(body.enable_sinks), udfs=udfs
    )
    return _insert(
        c,
        pipeline_id=new_id("pl"),
        name=f"preview_{int(time.time() * 1000)}",
        query=body.query,
        parallelism=1,
        interval=PREVIEW_CHECKPOINT_INTERVAL_MICROS,
        graph=program.graph,
        udfs=udfs,
        preview=True,
        enable_sinks=bool(body.enable_sinks),
    )


@endpoint(bodies.ValidateQueryPost)
def validate_query(request: Request, body: bodies.ValidateQueryPost) -> Any:
    from .engine.interface import PlanError

    c = ctx(request)
    udfs = _local_udfs(body.udfs)
    try:
        program = plan(c.store, body.query, parallelism=1, udfs=udfs)
    except PlanError as e:
        return {"graph": None, "errors": [d.to_json() for d in e.diagnostics]}
    return {"graph": program.graph, "errors": []}


@endpoint()
def list_pipelines(request: Request, _body: None) -> Any:
    c = ctx(request)
    limit, after = pagination(request)
    rows, more = c.store.list_pipelines(limit, after)
    return page([_pipeline_out(c, p) for p in rows], more)


def _get(c: Context, pipeline_id: str) -> dict[str, Any]:
    p = c.store.get_pipeline(pipeline_id)
    if p is None:
        raise not_found("Pipeline")
    return p


@endpoint()
def get_pipeline(request: Request, _body: None) -> Any:
    c = ctx(request)
    return _pipeline_out(c, _get(c, request.path_params["id"]))


def _conflict(message: str) -> ErrorAnswer:
    """409, as Arroyo answers a lifecycle call the job's state does not allow."""
    return ErrorAnswer(409, message)


def _check_preview_start(p: dict[str, Any], job: dict[str, Any]) -> None:
    """Previews never run again once stopped or ended (Arroyo's controller ignores the
    start, leaving a "Starting" spinner forever): say so instead."""
    if p["preview"] and (job["stop"] != "none" or JobState(job["state"]) in TERMINAL_STATES):
        raise _conflict(
            f"this preview has ended ({job['state']}) and previews do not run again; "
            "start a new preview (re-run the preview cell)"
        )


@endpoint(bodies.PipelinePatch)
def patch_pipeline(request: Request, body: bodies.PipelinePatch) -> Any:
    c = ctx(request)
    p = _get(c, request.path_params["id"])
    jobs = c.store.jobs_of(p["id"])
    if not jobs:
        raise not_found("Job for pipeline")
    job = jobs[0]
    if body.stop == "none":
        _check_preview_start(p, job)
        if job["state"] == JobState.FINISHED.value and job["stop"] != "none":
            raise _conflict("cannot start a Finished job: its sources have ended; create the pipeline again")
    if body.parallelism is not None and p["preview"]:
        raise bad_request("previews run at parallelism 1; create a pipeline to choose its parallelism")
    _check_interval(body.checkpoint_interval_micros, "checkpoint_interval_micros")
    if body.parallelism is not None:
        _check_parallelism(c, body.parallelism)
    fields: dict[str, Any] = {}
    if body.stop is not None:
        fields["stop"] = body.stop
    if body.stop == "none" and job["state"] == JobState.FAILED.value and job["stop"] != "none":
        # "Start" on a Failed job that was not desired running (the action table offers it):
        # Arroyo's controller leaves Failed only on a restart, so this start is one
        fields["restart_nonce"] = job["restart_nonce"] + 1
    if body.parallelism is not None and not p["preview"]:
        fields["parallelism_override"] = body.parallelism
    if body.env_vars is not None:
        fields["env_vars"] = body.env_vars
    if body.scheduler_config is not msgspec.UNSET:
        fields["scheduler_config"] = body.scheduler_config if body.scheduler_config is not None else {}
    updates: dict[str, Any] = {}
    if "parallelism_override" in fields:
        # the graph shows the new parallelism at once (Arroyo applies its overrides to every
        # node it returns), planned exactly as the next run will be
        updates["graph"] = _plan_or_400(c, p["query"], parallelism=body.parallelism, udfs=p["udfs"]).graph
    if fields:
        c.store.update_job(job["id"], **fields)
    if body.checkpoint_interval_micros is not None and not p["preview"]:
        updates["checkpoint_interval_micros"] = body.checkpoint_interval_micros
    c.store.update_pipeline(p["id"], **updates)
    c.controller.notify(job["id"])
    return _pipeline_out(c, _get(c, p["id"]))


@endpoint(bodies.PipelineRestart)
def restart_pipeline(request: Request, body: bodies.PipelineRestart) -> Any:
    c = ctx(request)
    pipeline_id = request.path_params["id"]
    jobs = c.store.jobs_of(pipeline_id)
    if not jobs:
        raise bad_request("No jobs for pipeline")
    job = jobs[0]
    state = JobState(job["state"])
    _check_restart(c.store.get_pipeline(pipeline_id) or {"preview": 0}, job, state)
    ignore_before = None
    if body.ignore_state:
        ignore_before = (c.store.max_epoch(job["id"]) or 0) + 1
    fields: dict[str, Any] = {
        "restart_nonce": job["restart_nonce"] + 1,
        "restart_mode": "force" if body.force else "safe",
        "ignore_state_before_epoch": ignore_before,
    }
    if state in (JobState.STOPPED, JobState.FAILED):
        # A restart of a job that is not running starts it (the console's "Start without
        # state" sends exactly this on a Stopped job); Arroyo's controller would leave a
        # Stopped job as it is and answer 200.
        fields["stop"] = "none"
    c.store.update_job(job["id"], **fields)
    c.controller.notify(job["id"])
    return _pipeline_out(c, _get(c, pipeline_id))


# Restart is honoured in these states (Running → Restarting; Stopped / Failed → a new
# run; on the way to Running the restart happens once it runs) ...
_RESTARTABLE = frozenset(
    {
        JobState.RUNNING,
        JobState.STOPPED,
        JobState.FAILED,
        JobState.CREATED,
        JobState.COMPILING,
        JobState.SCHEDULING,
        JobState.RESCALING,
        JobState.RESTARTING,
        JobState.RECOVERING,
    }
)


def _check_restart(p: dict[str, Any], job: dict[str, Any], state: JobState) -> None:
    """... and refused with a reason where it would do nothing."""
    if state is JobState.FAILED and p["preview"]:
        return  # a failed preview may be restarted (Failed → Compiling), as in Arroyo
    if p["preview"] and (state is JobState.STOPPED or state is JobState.FINISHED):
        _check_preview_start(p, job)
    if state is JobState.FINISHED:
        raise _conflict(
            "cannot restart a Finished job: its sources have ended; create the pipeline again to rerun it"
        )
    if state not in _RESTARTABLE or (state not in TERMINAL_STATES and job["stop"] != "none"):
        raise _conflict(
            f"cannot restart the job while it is {state.value} (on its way to stopping); "
            "wait until it is Stopped, then start or restart it"
        )


@endpoint()
def delete_pipeline(request: Request, _body: None) -> Any:
    c = ctx(request)
    p = _get(c, request.path_params["id"])
    jobs = c.store.jobs_of(p["id"])
    if any(JobState(j["state"]) not in TERMINAL_STATES for j in jobs):
        raise bad_request(
            "Pipeline's jobs must be in a terminal state (stopped, finished, or failed) before it can be deleted"
        )
    c.store.delete_pipeline(p["id"])
    for j in jobs:
        c.controller.forget(j["id"])
        shutil.rmtree(c.state_dir / "jobs" / j["id"], ignore_errors=True)
    return empty_ok()


@endpoint()
def pipeline_jobs(request: Request, _body: None) -> Any:
    c = ctx(request)
    p = _get(c, request.path_params["id"])
    return {"data": [job_json(j) for j in c.store.jobs_of(p["id"])]}


@endpoint()
def list_jobs(request: Request, _body: None) -> Any:
    return {"data": [job_json(j) for j in ctx(request).store.all_jobs()]}


ROUTES = [
    Route("/pipelines", list_pipelines, methods=["GET"]),
    Route("/pipelines", create_pipeline, methods=["POST"]),
    Route("/pipelines/preview", create_preview, methods=["POST"]),
    Route("/pipelines/validate_query", validate_query, methods=["POST"]),
    Route("/pipelines/{id}", get_pipeline, methods=["GET"]),
    Route("/pipelines/{id}", put_pipeline, methods=["PUT"]),
    Route("/pipelines/{id}", patch_pipeline, methods=["PATCH"]),
    Route("/pipelines/{id}", delete_pipeline, methods=["DELETE"]),
    Route("/pipelines/{id}/restart", restart_pipeline, methods=["POST"]),
    Route("/pipelines/{id}/jobs", pipeline_jobs, methods=["GET"]),
    Route("/jobs", list_jobs, methods=["GET"]),
]
