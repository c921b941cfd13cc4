"""Planning SQL with everything the server knows: global UDFs and connection tables.

Planning is bounded: the query's size and nesting are checked first, the plan runs under
a deadline (``planning_timeout_s``; a plan that outlives it is interrupted), and the
planned connectors' options are checked. Every refusal is a ``PlanError`` whose message
says what to change, so routes answer 400 and a job fails with a reason.
"""

from __future__ import annotations

import ctypes
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .config import ServerConfig
from .limits import LimitError, check_program, check_query_size
from .store import Store


def engine_entry(name: str) -> Any:
    """``plan_query`` / ``start_job`` from the engine package (its planner module as fallback)."""
    from . import engine

    found = getattr(engine, name, None)
    if found is None:
        from .engine import planner

        found = getattr(planner, name)
    return found


def _words(query: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", query)}


def python_udfs(store: Store, local_udfs: list[dict[str, Any]] | None, query: str | None = None) -> list[str]:
    """Definitions handed to the engine: the pipeline's own, then the global ones it names.

    Only global UDFs whose name appears in the query are loaded, so one saved UDF can
    never break a pipeline that does not call it.
    """
    defs = [u["definition"] for u in local_udfs or [] if (u.get("language") or "python") == "python"]
    words = _words(query) if query is not None else None
    defs += [
        u["definition"]
        for u in store.list_udfs()
        if u["language"] == "python" and (words is None or str(u["name"]).lower() in words)
    ]
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


# Set by the HTTP layer for the request being handled: set when its client went away.
CLIENT_GONE: ContextVar[threading.Event | None] = ContextVar("CLIENT_GONE", default=None)


class _Interrupted(BaseException):
    """Raised inside a planning thread at its deadline (BaseException: no ``except Exception`` eats it)."""


@contextmanager
def deadline(seconds: float, cancel: threading.Event | None = None) -> Iterator[None]:
    """Interrupt the Python code of this thread after ``seconds``, or soon after ``cancel``
    is set (raises ``_Interrupted``).

    A watcher sets an asynchronous exception in this thread; it lands at the next bytecode,
    so pure-Python planning (sqlglot) stops at once. Armed and disarmed under a lock so
    it can never hit code after the block.
    """
    tid = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}
    finished = threading.Event()

    def watch() -> None:
        end = time.monotonic() + seconds
        while not finished.wait(min(0.2, max(0.0, end - time.monotonic()))):
            if time.monotonic() >= end or (cancel is not None and cancel.is_set()):
                break
        # Again and again until the block ends: an exception that lands in a finalizer or
        # a gc callback is swallowed there, and the plan would run on.
        while True:
            with lock:
                if state["done"]:
                    return
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(tid), ctypes.py_object(_Interrupted)
                )
            if finished.wait(0.1):
                return

    threading.Thread(target=watch, name="arroyo-plan-deadline", daemon=True).start()
    try:
        yield
    finally:
        finished.set()
        with lock:
            state["done"] = True
            if state["fired"]:  # not yet delivered: take it back
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), None)


def _plan_error(message: str) -> Exception:
    from .engine.interface import Diagnostic, PlanError

    return PlanError([Diagnostic(message)])


def plan(
    store: Store,
    query: str,
    *,
    parallelism: int = 1,
    preview: bool = False,
    enable_sinks: bool = False,
    udfs: list[dict[str, Any]] | None = None,
) -> Any:
    """``engine.plan_query`` with the catalogue filled in, bounded; raises ``PlanError``."""
    config: ServerConfig = getattr(store, "config", None) or ServerConfig()
    try:
        check_query_size(query, config)
    except LimitError as e:
        raise _plan_error(str(e)) from None
    plan_query = engine_entry("plan_query")
    definitions = python_udfs(store, udfs, query)
    tables = connection_tables(store)
    gone = CLIENT_GONE.get()
    try:
        with deadline(config.planning_timeout_s, gone):
            program = plan_query(
                query,
                parallelism=parallelism,
                preview=preview,
                enable_sinks=enable_sinks,
                udfs=definitions,
                tables=tables,
            )
    except _Interrupted:
        if gone is not None and gone.is_set():
            raise _plan_error("planning was stopped: the client went away") from None
        raise _plan_error(
            f"planning took longer than {config.planning_timeout_s:g} s and was stopped; "
            "simplify the query (fewer terms, less nesting) or raise the server's planning_timeout_s"
        ) from None
    except RecursionError:
        raise _plan_error(
            "the query is nested too deeply to plan; flatten it (fewer nested parentheses, "
            "function calls, CASEs or subqueries), e.g. with views"
        ) from None
    try:
        check_program(program, config)
    except LimitError as e:
        raise _plan_error(str(e)) from None
    return program


def used_tables(store: Store, query: str) -> list[str]:
    """Ids of saved connection tables the query mentions (for ``consumers``)."""
    words = _words(query)
    return [t["id"] for t in store.all_tables() if t["name"].lower() in words]
