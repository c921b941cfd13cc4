"""Planning SQL with everything the server knows: global UDFs and connection tables."""

from __future__ import annotations

from typing import Any

from .store import Store


def engine_entry(name: str) -> Any:
    """``plan_query`` / ``start_job`` from the engine package (its planner module as fallback)."""
    from . import engine

    found = getattr(engine, name, None)
    if found is None:
        from .engine import planner

        found = getattr(planner, name)
    return found


def python_udfs(store: Store, local_udfs: list[dict[str, Any]] | None) -> list[str]:
    """Definitions handed to the engine: the pipeline's own, then the global ones."""
    defs = [u["definition"] for u in local_udfs or [] if (u.get("language") or "python") == "python"]
    defs += [u["definition"] for u in store.list_udfs() if u["language"] == "python"]
    return defs


def connection_tables(store: Store) -> dict[str, dict[str, Any]]:
    """Saved connection tables by name, as the engine's ``tables`` argument."""
    out = {}
    for t in store.all_tables():
        profile = store.get_profile(t["profile_id"]) if t["profile_id"] else None
        out[t["name"]] = {
            "connector": t["connector"],
            "config": t["config"],
            "schema": t["schema"],
            "table_type": t["table_type"],
            "profile": profile["config"] if profile else None,
        }
    return out


def plan(
    store: Store,
    query: str,
    *,
    parallelism: int = 1,
    preview: bool = False,
    enable_sinks: bool = False,
    udfs: list[dict[str, Any]] | None = None,
) -> Any:
    """``engine.plan_query`` with the catalogue filled in; raises ``PlanError``."""
    plan_query = engine_entry("plan_query")
    return plan_query(
        query,
        parallelism=parallelism,
        preview=preview,
        enable_sinks=enable_sinks,
        udfs=python_udfs(store, udfs),
        tables=connection_tables(store),
    )


def used_tables(store: Store, query: str) -> list[str]:
    """Ids of saved connection tables the query mentions (for ``consumers``)."""
    import re

    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query)}
    return [t["id"] for t in store.all_tables() if t["name"].lower() in words]
