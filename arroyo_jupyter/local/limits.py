"""What a query may ask of the server: its size and nesting, connector values, file paths.

Checked before planning (size, nesting: refused in microseconds) and on the planned
program (connector options, file paths), so nonsense never reaches the engine.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from .config import ServerConfig

_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\w+|[^\s\w]")
MAX_EVENT_RATE = 1e9  # events per second; the benchmarks' "unthrottled" rate
MAX_COUNT = 2**63 - 1


class LimitError(ValueError):
    """A query or option beyond what the server accepts; the message names the fix."""


def check_query_size(query: str, config: ServerConfig) -> None:
    size = len(query.encode())
    if size > config.max_query_bytes:
        raise LimitError(
            f"the query is too large ({size} bytes; at most {config.max_query_bytes}); "
            "shorten it or raise the server's max_query_bytes"
        )
    if "\x00" in query:
        raise LimitError("the query contains a NUL character; remove it")
    tokens = 0
    depth = deepest = 0
    for m in _TOKEN.finditer(query):
        tokens += 1
        word = m.group(0)
        if word == "(" or word.upper() == "CASE":
            depth += 1
            deepest = max(deepest, depth)
        elif word == ")" or word.upper() == "END":
            depth = max(0, depth - 1)
    if tokens > config.max_query_tokens:
        raise LimitError(
            f"the query is too long to plan ({tokens} SQL tokens; at most {config.max_query_tokens}); "
            "split it into smaller queries or views"
        )
    if deepest > config.max_nesting:
        raise LimitError(
            f"the query is nested too deeply ({deepest} levels of parentheses/CASE; at most "
            f"{config.max_nesting}); flatten it, e.g. with views"
        )


def _number(opts: dict[str, str], key: str) -> float | None:
    if key not in opts:
        return None
    try:
        value = float(opts[key])
    except ValueError:
        raise LimitError(f"option {key} must be a number, got '{opts[key]}'") from None
    if not math.isfinite(value):
        raise LimitError(f"option {key} must be a finite number, got '{opts[key]}'")
    return value


def check_connector_options(connector: str | None, opts: dict[str, Any], config: ServerConfig) -> None:
    """Refuse values that would run without rows, spin a core or touch files outside the roots."""
    opts = {str(k).lower(): str(v) for k, v in opts.items()}
    for key, value in opts.items():
        if "\x00" in key or "\x00" in value:
            raise LimitError(f"option {key!r} contains a NUL character")
    rate = _number(opts, "event_rate")
    if rate is not None and not 0 < rate <= MAX_EVENT_RATE:
        raise LimitError(
            f"event_rate must be more than 0 and at most {MAX_EVENT_RATE:.0e} events per second, got {opts['event_rate']}"
        )
    for key in ("message_count", "event_time_interval"):
        value = _number(opts, key)
        if value is not None and (value < 0 or value != int(value) or value > MAX_COUNT):
            raise LimitError(f"{key} must be a whole number of at least 0, got {opts[key]}")
    runtime = _number(opts, "runtime")
    if runtime is not None and not 0 < runtime <= MAX_COUNT:
        raise LimitError(f"runtime must be a positive number of seconds, got {opts['runtime']}")
    if connector == "single_file" and "path" in opts:
        check_path(opts["path"], config)
    if connector in ("filesystem", "delta") and "path" in opts:  # object-store URIs fail at start: local only
        path = opts["path"].removeprefix("file://")
        if "://" not in path:
            check_path(path, config)


def check_path(path: str, config: ServerConfig) -> None:
    """A file connector's path must lie under one of ``config.file_roots`` (if set)."""
    if config.file_roots is None:
        return
    target = Path(os.path.expanduser(path))
    if not target.is_absolute():
        target = Path.cwd() / target  # the engine opens it relative to the server's cwd
    target = target.resolve()  # symlinks and .. resolved: no way out of the root
    roots = [Path(r).expanduser().resolve() for r in config.file_roots]
    if not any(target == r or target.is_relative_to(r) for r in roots):
        allowed = ", ".join(str(r) for r in roots) or "none"
        raise LimitError(
            f"file path {path} is outside the directories this server may read and write ({allowed}); "
            "use a path under one of them, or start the server with another --file-roots"
        )


def check_program(program: Any, config: ServerConfig) -> None:
    for table in getattr(program, "tables", {}).values():
        if table.connector is not None:
            check_connector_options(table.connector, table.options, config)
