"""Store rows → the API's JSON shapes (newer engine shapes, API.md §12)."""

from __future__ import annotations

from typing import Any

from ..states import get_action

CHECKPOINT_BACKEND = "parquet"


def pipeline_json(p: dict[str, Any], job: dict[str, Any] | None) -> dict[str, Any]:
    state = job["state"] if job else "Created"
    stop = job["stop"] if job else "none"
    action = get_action(state, stop == "none")
    return {
        "id": p["id"],
        "name": p["name"],
        "query": p["query"],
        "udfs": p["udfs"],
        "checkpoint_interval_micros": p["checkpoint_interval_micros"],
        "stop": stop,
        "created_at": p["created_at"],
        "action": action.stop.value if action.stop is not None else None,
        "action_text": action.text,
        "action_in_progress": action.in_progress,
        "graph": p["graph"],
        "preview": bool(p["preview"]),
        "state_url": p["state_url"],
        "tags": p["tags"],
    }


def job_json(j: dict[str, Any]) -> dict[str, Any]:
    failure = None
    if j["failure_message"]:
        failure = {"error": j["failure_message"], "domain": j["failure_domain"] or "internal"}
    return {
        "id": j["id"],
        "pipeline_id": j["pipeline_id"],
        "running_desired": j["stop"] == "none",
        "state": j["state"],
        "run_id": j["run_id"],
        "start_time": j["start_time"],
        "finish_time": j["finish_time"],
        "tasks": j["tasks"],
        "failure_reason": failure,
        "created_at": j["created_at"],
        "scheduler_config": j["scheduler_config"],
        "env_vars": j["env_vars"],
    }


def transition_json(t: dict[str, Any]) -> dict[str, Any]:
    """One entry of ``…/jobs/{job}/state_transitions`` (additive; not in Arroyo's API)."""
    return {"state": t["state"], "time": t["at"], "run_id": t["run_id"] if t["run_id"] is not None else 0}


def log_json(m: dict[str, Any]) -> dict[str, Any]:
    return {
        k: m[k]
        for k in (
            "id",
            "created_at",
            "operator_id",
            "task_index",
            "level",
            "message",
            "details",
            "error_domain",
        )
    }


def _span(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": s["event"],
        "description": s["description"],
        "start_time": s["start_time"],
        "finish_time": s["finish_time"] or 0,
    }


def checkpoint_json(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "epoch": c["epoch"],
        "backend": CHECKPOINT_BACKEND,
        "checkpoint_type": "stopping" if c["stopping"] else "scheduled",
        "start_time": c["start_time"],
        "finish_time": c["finish_time"],
        "events": [_span(s) for s in c["events"]],
    }


def checkpoint_groups_json(c: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "operator_id": op["operator_id"],
            "bytes": op["bytes"],
            "started_metadata_write": op["started_metadata_write"],
            "finish_time": op["finish_time"],
            "subtasks": [
                {"index": st["index"], "bytes": st["bytes"], "event_spans": [_span(s) for s in st["spans"]]}
                for st in op["subtasks"]
            ],
        }
        for op in c["operators"]
    ]


def profile_json(p: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": p["id"],
        "name": p["name"],
        "connector": p["connector"],
        "config": p["config"],
        "description": p["description"],
    }


def udf_json(u: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": u["id"],
        "prefix": u["prefix"],
        "name": u["name"],
        "language": u["language"],
        "created_at": u["created_at"],
        "updated_at": u["updated_at"],
        "definition": u["definition"],
        "description": u["description"],
        "dylib_url": None,
    }
