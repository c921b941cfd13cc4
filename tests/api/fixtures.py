"""Response bodies in the newer engine's shapes (API.md §4, §12), checked against NEWER."""

from __future__ import annotations

from typing import Any

from .spec import NEWER

T0 = 1_754_000_000_000_000  # µs


def pipeline(pid: str = "pl_W2UjDI6Iud", stop: str = "none", **extra: Any) -> dict[str, Any]:
    body = {
        "id": pid,
        "name": "top_auctions",
        "query": "SELECT 1",
        "udfs": [],
        "checkpoint_interval_micros": 10_000_000,
        "stop": stop,
        "created_at": T0,
        "action_text": "Stop",
        "action": "checkpoint",
        "action_in_progress": False,
        "graph": {
            "nodes": [
                {"node_id": 1, "operator": "impulse", "description": "Impulse<10 eps>", "parallelism": 2},
                {"node_id": 2, "operator": "preview", "description": "PreviewSink", "parallelism": 1},
            ],
            "edges": [
                {"src_id": 1, "dest_id": 2, "key_type": "()", "value_type": "()", "edge_type": "Forward"}
            ],
        },
        "preview": False,
        "state_url": None,
        "tags": {"team": "data"},
    }
    body.update(extra)
    NEWER.validate(NEWER.component("Pipeline"), body)
    return body


def job(
    state: str = "Running", jid: str = "job_Tqkow4Uc4x", pid: str = "pl_W2UjDI6Iud", **extra: Any
) -> dict[str, Any]:
    body = {
        "id": jid,
        "pipeline_id": pid,
        "running_desired": state not in ("Stopped", "CheckpointStopping"),
        "state": state,
        "run_id": 1,
        "start_time": T0 + 1_000_000,
        "finish_time": None,
        "tasks": 3,
        "failure_reason": None,
        "created_at": T0,
        "scheduler_config": {},
        "env_vars": {},
    }
    body.update(extra)
    NEWER.validate(NEWER.component("Job"), body)
    return body


def jobs(*items: dict[str, Any]) -> dict[str, Any]:
    body = {"data": list(items)}
    NEWER.validate(NEWER.component("JobCollection"), body)
    return body
