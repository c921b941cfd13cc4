"""The session layer: one current connection and the functions every magic calls.

Each ``%arroyo`` subcommand is exactly one call of a public function here, so scripts can
do what notebooks do::

    from arroyo_jupyter import session as arroyo
    arroyo.connect()                          # $ARROYO_URL / config / localhost:5115 / embedded
    arroyo.create("SELECT ...", name="top")   # a Pipeline handle
    arroyo.wait("top", "Running")
    arroyo.errors("top")                      # a DataFrame

User mistakes and API failures raise :class:`SessionError` (or the client's
``ArroyoError``) with a short message that names the fix; the magics show that message
without a traceback and still fail the cell.
"""

from __future__ import annotations

import atexit
import contextlib
import difflib
import html
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pandas as pd

from .config import Settings, load_settings
from .states import STOP_MODES, TERMINAL_STATES, JobState, parse_state

DEFAULT_LOCAL_URL = "http://localhost:5115"
IF_EXISTS = ("fail", "replace", "keep")


class SessionError(Exception):
    """A user mistake or an unusable answer: the message says what to do instead."""


# --- small helpers ---------------------------------------------------------------------

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m|h|d)?\s*$")
_UNIT_MICROS = {
    "us": 1,
    "µs": 1,
    "ms": 1_000,
    "s": 1_000_000,
    "m": 60_000_000,
    "h": 3_600_000_000,
    "d": 86_400_000_000,
}


def parse_interval(text: str) -> int:
    """``"10s"``/``"500ms"``/``"2m"``/``"1h"``/``"1d"`` (plain numbers are seconds) → µs."""
    match = _INTERVAL.match(str(text))
    if not match:
        raise SessionError(f"cannot read interval {text!r}; write it like 10s, 500ms, 2m or 1h")
    number, unit = match.groups()
    return int(float(number) * _UNIT_MICROS[unit or "s"])


_VARIABLE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_DOTTED_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@dataclass(frozen=True)
class RenderedSql:
    """SQL after ``{{ name }}`` substitution, remembering what was substituted."""

    sql: str
    variables: tuple[str, ...]

    def __str__(self) -> str:
        return self.sql


def render_sql(sql: str, namespace: Mapping[str, Any]) -> RenderedSql:
    """Replace each ``{{ name }}`` (or ``{{ obj.attr }}``) with ``str()`` of its Python value.

    Nothing else in the SQL changes. An unknown name or an expression that is not a
    (dotted) name is an error rather than a guess.
    """
    used: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        expr = match.group(1)
        if not _DOTTED_NAME.match(expr):
            raise SessionError(f"{{{{ {expr} }}}}: only variable names (or name.attr) can be used in SQL")
        head, *attrs = expr.split(".")
        if head not in namespace:
            raise SessionError(
                f"{{{{ {expr} }}}}: no Python variable {head!r}; define it before running the cell"
            )
        value = namespace[head]
        for attr in attrs:
            try:
                value = getattr(value, attr)
            except AttributeError:
                raise SessionError(f"{{{{ {expr} }}}}: {head} has no attribute {attr!r}") from None
        used.append(expr)
        return str(value)

    rendered = _VARIABLE.sub(substitute, sql)
    return RenderedSql(rendered, tuple(dict.fromkeys(used)))


def _records_frame(items: Iterable[Any], columns: list[str]) -> pd.DataFrame:
    """A DataFrame of chosen attributes of API models (missing attributes become None)."""
    rows = [{col: getattr(item, col, None) for col in columns} for item in items]
    return pd.DataFrame(rows, columns=columns)


def _frame(kind: str, items: list[Any], *extra: Any) -> pd.DataFrame:
    """``frames.<kind>_frame(items)``; a flat generic frame if frames.py is not there."""
    try:
        from . import frames
    except ImportError:
        rows = [msgspec.to_builtins(getattr(item, "model", item)) for item in items]
        return pd.json_normalize(rows) if rows else pd.DataFrame()
    return getattr(frames, f"{kind}_frame")(items, *extra)


def _html_pre(text: str) -> str:
    return f"<pre class='arroyo-text'>{html.escape(text)}</pre>"


# --- the connection --------------------------------------------------------------------


@dataclass
class Session:
    """The current connection: a client, and the embedded server if this session started it."""

    client: Any
    url: str
    settings: Settings
    server: Any = None  # the embedded server object (``.url``, ``.stop()``) when --local
    previews: dict[str, Preview] = field(default_factory=dict)
    names_cache: _NamesCache = field(default_factory=lambda: _NamesCache(), repr=False)

    @property
    def local(self) -> bool:
        return self.server is not None

    def __repr__(self) -> str:
        return f"<arroyo session {self.url}{' (embedded)' if self.local else ''}>"

    def _repr_html_(self) -> str:
        return _html_pre(repr(self))


_lock = threading.RLock()
_current: Session | None = None


def current() -> Session:
    """The current session; a SessionError telling the user to connect if there is none."""
    if _current is None:
        raise SessionError("not connected; run `%arroyo connect` (or arroyo_jupyter.session.connect()) first")
    return _current


def _make_client(url: str, api_key: str | None, timeout: float = 10.0):
    from .api import Client

    return Client(url, api_key=api_key, timeout=timeout)


def _answers(url: str) -> bool:
    """Whether an Arroyo API answers at ``url`` (quickly: this decides a default)."""
    from .api import ArroyoError, Client

    client = Client(url, timeout=1.0, retries=0)
    try:
        return bool(client.ping())
    except ArroyoError:
        return False
    finally:
        _close(client)


def _close(obj: Any) -> None:
    closer = getattr(obj, "close", None)
    if callable(closer):
        closer()


def _api_key(api_key_env: str) -> str | None:
    if not api_key_env:
        return None
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", api_key_env):
        raise SessionError(
            "--api-key-env takes the NAME of an environment variable (like ARROYO_API_KEY), not a key"
        )
    key = os.environ.get(api_key_env)
    if not key:
        # Echo the name only if it looks like one: a key pasted here by mistake stays unshown.
        shown = api_key_env if re.fullmatch(r"[A-Z_][A-Z0-9_]*", api_key_env) else "named by --api-key-env"
        raise SessionError(f"environment variable {shown} is not set; export the API key there first")
    return key


def _check_url(url: str) -> str:
    if not re.match(r"^https?://[^\s/]+", url):
        raise SessionError(f"URL must look like http://host:5115, got {url!r}")
    return url.rstrip("/")


def connect(
    url: str | None = None,
    *,
    api_key_env: str | None = None,
    local: bool = False,
    port: int | None = None,
    state_dir: str | None = None,
    settings: Settings | None = None,
) -> Session:
    """Connect to Arroyo and make it the current session (closing the previous one once
    the new one answers).

    Where to: ``url``; else ``--local`` (the embedded server); else ``$ARROYO_URL``; else
    the configured url; else localhost:5115 if something answers there; else the embedded
    server. An explicit URL that does not answer is an error, never silently replaced.
    """
    settings = settings or load_settings()
    if url and local:
        raise SessionError("give either a URL or --local, not both")
    if port is not None and not (0 <= port <= 65535):
        raise SessionError(f"--port must be between 0 and 65535, got {port}")
    if port is not None and not local:
        raise SessionError(
            "--port is for the embedded server: add --local (for a cluster, put the port in the URL)"
        )
    key = _api_key(api_key_env if api_key_env is not None else settings.api_key_env)
    target = url or (None if local else (os.environ.get("ARROYO_URL") or settings.url or None))
    if target is None and not local and port is None and _answers(DEFAULT_LOCAL_URL):
        target = DEFAULT_LOCAL_URL
    if target is None:
        disconnect()
        return _connect_local(port, state_dir, settings)
    target = _check_url(target)
    client = _make_client(target, key)
    try:
        client.ping()
    except Exception:  # a mistyped URL keeps the connection you had
        _close(client)
        raise
    disconnect()
    return _set_current(Session(client=client, url=target, settings=settings))


def _connect_local(port: int | None, state_dir: str | None, settings: Settings) -> Session:
    from . import local as local_server

    start = getattr(local_server, "start", None)
    if start is None:
        raise SessionError("this build has no embedded server; give a URL to connect to a cluster")
    directory = state_dir or tempfile.mkdtemp(prefix="arroyo-jupyter-")
    # Its own random key (never shown) and file connectors confined to the state dir and
    # the notebook's directory: a web page or another user cannot drive it.
    key = secrets.token_urlsafe(32)
    roots = [str(directory), os.getcwd()]
    try:
        server = start(port=port or 0, state_dir=directory, api_key=key, file_roots=roots)
    except OSError as exc:  # port taken or not allowed
        raise SessionError(
            f"cannot start the embedded server on port {port}: {exc.strerror or exc}; pick another --port"
        ) from None
    client = _make_client(server.url, key)
    return _set_current(Session(client=client, url=server.url, settings=settings, server=server))


def _set_current(session: Session) -> Session:
    global _current
    with _lock:
        _current = session
    return session


def disconnect() -> list[str]:
    """Stop this session's previews, close the client and the embedded server it started.

    Returns the account of what was stopped (one line each); empty when not connected.
    """
    global _current
    with _lock:
        session, _current = _current, None
    if session is None:
        return []
    account = _stop_previews(session, list(session.previews), "disconnect")
    _close(session.client)
    if session.server is not None:
        session.server.stop()
        account.append(f"stopped the embedded server at {session.url}")
    return account


@dataclass(frozen=True)
class Status:
    url: str
    reachable: bool
    embedded: bool
    pipelines: int | None = None
    running: int | None = None
    previews: int = 0
    problem: str = ""

    def __str__(self) -> str:
        if not self.reachable:
            return f"{self.url}: NOT reachable ({self.problem})"
        where = "embedded server" if self.embedded else "Arroyo"
        return (
            f"{where} at {self.url}: reachable; {self.pipelines} pipelines, "
            f"{self.running} running; {self.previews} previews from this session"
        )

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return _html_pre(str(self))


def status() -> Status:
    """URL, whether it answers, and how many pipelines exist and run."""
    from .api import ArroyoError

    session = current()
    live_previews = sum(1 for p in session.previews.values() if not p.stopped)
    try:
        session.client.ping()
        jobs = session.client.list_jobs()
        count = sum(1 for _ in session.client.iter_pipelines())
    except ArroyoError as exc:
        return Status(session.url, False, session.local, previews=live_previews, problem=str(exc))
    running = sum(1 for j in jobs if str(j.state) == JobState.RUNNING.value)
    return Status(session.url, True, session.local, count, running, live_previews)


# --- naming pipelines --------------------------------------------------------------------


def _all_pipelines(session: Session) -> list[Any]:
    return list(session.client.iter_pipelines())


def pipeline_names(max_age: float = 2.0, wait: float = 0.5) -> list[str]:
    """Names of the server's pipelines, for completion: never raises, never blocks long.

    The listing runs on a helper thread; if it takes longer than ``wait`` seconds (slow or
    unreachable server), the last known names are returned and the thread fills the cache.
    """
    session = _current
    if session is None:
        return []
    cache = session.names_cache
    if time.monotonic() - cache.fetched_at < max_age:
        return cache.names
    with _lock:
        if cache.worker is None or not cache.worker.is_alive():
            cache.worker = threading.Thread(target=cache.refresh, args=(session,), daemon=True)
            cache.worker.start()
        worker = cache.worker
    worker.join(wait)
    return cache.names


@dataclass
class _NamesCache:
    names: list[str] = field(default_factory=list)
    fetched_at: float = float("-inf")
    worker: threading.Thread | None = None

    def refresh(self, session: Session) -> None:
        try:
            self.names = sorted({p.name for p in _all_pipelines(session)})
            self.fetched_at = time.monotonic()
        except Exception:  # completion must never raise into the front-end
            pass


def resolve(name_or_id: Any) -> Any:
    """The Pipeline handle named ``name_or_id`` (a name or a ``pl_…`` id, or a handle).

    Unknown names list close matches; a name shared by several pipelines is an error
    that lists their ids (use the id then).
    """
    from .api import NotFoundError

    if not isinstance(name_or_id, str):
        if hasattr(name_or_id, "id") and hasattr(name_or_id, "name"):
            return name_or_id
        raise SessionError(f"expected a pipeline name or id, got {type(name_or_id).__name__}")
    session = current()
    wanted = name_or_id.strip()
    if not wanted:
        raise SessionError("give a pipeline name or id")
    pipelines = _all_pipelines(session)
    by_name = [p for p in pipelines if p.name == wanted]
    if len(by_name) > 1:
        ids = ", ".join(p.id for p in by_name)
        raise SessionError(f"{len(by_name)} pipelines are named {wanted!r}: {ids}; use the id instead")
    for p in by_name or [p for p in pipelines if p.id == wanted]:
        return p
    for preview in session.previews.values():  # previews are not listed by the server
        if wanted in (preview.pipeline.id, preview.pipeline.name):
            return preview.pipeline
    try:
        return session.client.get_pipeline(wanted)
    except NotFoundError:
        pass
    close = difflib.get_close_matches(wanted, [p.name for p in pipelines], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `%arroyo pipelines` lists them"
    raise SessionError(f"no pipeline named {wanted!r}{hint}")


# --- validate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Validation:
    """validate_query's verdict, printable: each problem with its line and a caret."""

    sql: str
    result: Any

    @property
    def ok(self) -> bool:
        return bool(self.result.ok)

    @property
    def diagnostics(self) -> list[Any]:
        return list(self.result.errors)

    def graph_frame(self) -> pd.DataFrame:
        graph = self.result.graph
        nodes = graph.nodes if graph is not None else []
        return _records_frame(nodes, ["node_id", "operator", "description", "parallelism"])

    def __str__(self) -> str:
        if self.ok:
            return "valid SQL\n" + format_graph(self.result.graph)
        return format_diagnostics(self.sql, self.diagnostics)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return _html_pre(str(self))


def format_diagnostics(sql: str, diagnostics: list[Any]) -> str:
    """Each diagnostic, with the offending SQL line and a caret under its column."""
    lines = sql.splitlines()
    out = [f"invalid SQL ({len(diagnostics)} problem{'s' if len(diagnostics) != 1 else ''})"]
    for diag in diagnostics:
        line, column = getattr(diag, "line", None), getattr(diag, "column", None)
        message = str(diag.message).replace("\n", "\n    ")  # keep continuation lines indented
        if line is None or not 1 <= line <= len(lines):
            out.append(f"  {message}")
            continue
        out.append(f"  line {line}, column {column}: {message}")
        text = lines[line - 1].expandtabs(1)
        out.append(f"  {line:>4} | {text}")
        width = (
            max(1, (getattr(diag, "end_column", None) or 0) - (column or 1))
            if getattr(diag, "end_line", None) == line
            else 1
        )
        out.append(f"       | {' ' * max(0, (column or 1) - 1)}{'^' * width}")
    return "\n".join(out)


def format_graph(graph: Any) -> str:
    """The pipeline graph as text: one line per node, then the edges."""
    if graph is None:
        return "(no graph)"
    out = [
        f"  [{n.node_id}] {n.description or n.operator} (parallelism {n.parallelism})" for n in graph.nodes
    ]
    out += [f"  {e.src_id} -> {e.dest_id} ({e.edge_type})" for e in graph.edges]
    return "\n".join(out)


def validate(sql: str) -> Validation:
    """Ask the server to plan ``sql``; the result prints diagnostics or the graph."""
    session = current()
    if not sql.strip():
        raise SessionError("the cell is empty: write the SQL below the %%arroyo line")
    return Validation(sql, session.client.validate_query(sql))


@contextlib.contextmanager
def _sql_errors_located(session: Session, sql: str) -> Iterator[None]:
    """Create/preview errors carry no positions: ask validate_query for them, show carets."""
    from .api import SqlError

    try:
        yield
    except SqlError as exc:
        diagnostics = list(exc.diagnostics)
        if not any(getattr(d, "line", None) for d in diagnostics):
            located = session.client.validate_query(sql).errors
            diagnostics = list(located) or diagnostics
        raise SessionError(format_diagnostics(sql, diagnostics)) from None


# --- previews ----------------------------------------------------------------------------


@dataclass
class Preview:
    """A preview started by this session: its pipeline handle and how it ends."""

    pipeline: Any
    key: str | None
    sql: str
    ttl: float | None = None
    stopped: bool = False
    stop_reason: str = ""
    widgets: list[Any] = field(default_factory=list)  # live views showing it (closing one stops it)
    replaced: list[str] = field(default_factory=list)  # account of the previews this one replaced
    _timer: threading.Timer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def stop(self, reason: str = "on request") -> str | None:
        """Stop the preview (immediately) once; returns the account line, or None if done."""
        with self._lock:  # the TTL timer, a widget and the cell may all ask at once
            if self.stopped:
                return None
            self.stopped, self.stop_reason = True, reason
        if self._timer is not None:
            self._timer.cancel()
        try:
            self.pipeline.stop(mode="immediate")
        except Exception as exc:  # already gone (TTL cleanup, server down): say so, don't raise
            return f"preview {self.pipeline.id} could not be stopped ({reason}): {exc}"
        return f"stopped preview {self.pipeline.id} ({reason})"

    def collect(self, rows: int, timeout: float) -> pd.DataFrame:
        """Up to ``rows`` output rows, waiting at most ``timeout`` seconds overall."""
        return _collect_output(self.pipeline, rows, timeout)

    def __repr__(self) -> str:
        state = f"stopped: {self.stop_reason}" if self.stopped else "running"
        return f"<arroyo preview {self.pipeline.id} ({state})>"

    def _repr_html_(self) -> str:
        return _html_pre(repr(self))


def _collect_output(pipeline: Any, rows: int, timeout: float) -> pd.DataFrame:
    """Read the live output until ``rows`` rows, the end of the stream, or the deadline."""
    from .api import ArroyoError, RunBoundary

    events: list[Any] = []
    count = 0
    # One run, subscribed as early as the server allows (the embedded server replays a
    # preview that ended before this; a cluster serves it once Running). The follower
    # blocks between events: a timer closes it at the deadline (close is thread-safe).
    follower = pipeline.follow_output(runs=1)
    timer = threading.Timer(timeout, follower.close)
    timer.daemon = True
    timer.start()
    try:
        for item in follower:
            if isinstance(item, RunBoundary):
                if item.reason == "failed" and not count:
                    raise SessionError(f"{pipeline.name} failed: {item.failure or 'no reason given'}")
                continue
            events.append(item)
            count += len(item.rows)
            if count >= rows:
                break
    except ArroyoError:
        pass  # cut by the deadline or the end of the preview: keep what arrived
    finally:
        timer.cancel()
        follower.close()
    return _rows_frame(events).head(rows)


def _rows_frame(events: list[Any]) -> pd.DataFrame:
    try:
        from .frames import output_frame
    except ImportError:  # frames not built yet: the rows alone
        return pd.DataFrame([row for e in events for row in e.rows])
    return output_frame(events)


def preview(
    sql: str,
    *,
    enable_sinks: bool = False,
    ttl: float | None = None,
    key: str | None = None,
) -> Preview:
    """Start a preview of ``sql``. A previous preview with the same ``key`` (a cell) is
    stopped first; ``ttl`` seconds (if > 0) stops it client-side."""
    session = current()
    if not sql.strip():
        raise SessionError("the cell is empty: write the SQL below the %%arroyo line")
    if ttl is not None and ttl < 0:
        raise SessionError("--ttl must be a number of seconds >= 0")
    account = stop_previews(key) if key is not None else []
    with _sql_errors_located(session, sql):
        pipeline = session.client.create_preview(sql, enable_sinks=enable_sinks)
    result = Preview(pipeline=pipeline, key=key, sql=sql, ttl=ttl or None, replaced=account)
    if ttl:
        timer = threading.Timer(ttl, result.stop, kwargs={"reason": f"--ttl {ttl:g}s"})
        timer.daemon = True
        timer.start()
        result._timer = timer
    session.previews[key or pipeline.id] = result
    return result


def stop_previews(key: str | None = None) -> list[str]:
    """Stop the previews this session started (only the one for ``key`` if given)."""
    session = _current
    if session is None:
        return []
    keys = [key] if key is not None else list(session.previews)
    reason = "cell re-run" if key is not None else "stop_previews()"
    return _stop_previews(session, [k for k in keys if k in session.previews], reason)


def _stop_previews(session: Session, keys: list[str], reason: str, close_widgets: bool = True) -> list[str]:
    account = []
    for k in keys:
        preview = session.previews.pop(k)
        line = preview.stop(reason)
        if line:
            account.append(line)
        if close_widgets:  # their pollers and streams would otherwise keep watching a dead preview
            for widget in preview.widgets:
                try:
                    widget.close()
                except Exception:  # a widget that cannot close must not hide the account
                    pass
    return account


def _stop_all_at_exit() -> None:
    session = _current
    if session is None:
        return
    # No widget closing here: the kernel is going away, and joining their threads would delay it.
    for line in _stop_previews(session, list(session.previews), "kernel exit", close_widgets=False):
        print(f"arroyo_jupyter at exit: {line}")


atexit.register(_stop_all_at_exit)


# --- pipelines ---------------------------------------------------------------------------


def create(
    sql: str,
    *,
    name: str,
    parallelism: int = 1,
    checkpoint_interval: str | None = None,
    if_exists: str = "fail",
) -> Any:
    """Create and start a pipeline; what an existing pipeline with that name means is
    ``if_exists``: ``fail`` (default), ``replace`` (stop, delete, create) or ``keep``."""
    session = current()
    name = name.strip()
    if not name:
        raise SessionError("--name must not be empty")
    if not sql.strip():
        raise SessionError("the cell is empty: write the SQL below the %%arroyo line")
    if parallelism < 1:
        raise SessionError("--parallelism must be at least 1")
    if if_exists not in IF_EXISTS:
        raise SessionError(f"--if-exists must be one of {', '.join(IF_EXISTS)}")
    interval = parse_interval(checkpoint_interval) if checkpoint_interval else None
    existing = [p for p in _all_pipelines(session) if p.name == name]
    if existing and if_exists == "keep":
        return existing[0]
    if existing and if_exists == "fail":
        ids = ", ".join(p.id for p in existing)
        raise SessionError(
            f"a pipeline named {name!r} already exists ({ids}); "
            "use --if-exists replace (stop and delete it) or --if-exists keep"
        )
    if existing:  # replace: only once the new SQL is known to plan, so a typo loses nothing
        check = session.client.validate_query(sql)
        if not check.ok:
            raise SessionError(format_diagnostics(sql, list(check.errors)) + f"\n{name!r} was left as it is")
    for old in existing:
        _stop_and_delete(old, timeout=60)
    with _sql_errors_located(session, sql):
        return session.client.create_pipeline(
            name, sql, parallelism=parallelism, checkpoint_interval_micros=interval
        )


def _stop_and_delete(pipeline: Any, timeout: float) -> None:
    job = pipeline.job()
    if parse_state(job.state) not in TERMINAL_STATES:
        pipeline.stop(mode="immediate")
        pipeline.wait_for([s.value for s in TERMINAL_STATES], timeout=timeout)
    pipeline.delete()


def pipelines() -> pd.DataFrame:
    """Every (non-preview) pipeline as a DataFrame."""
    return _frame("pipelines", _all_pipelines(current()))


def jobs() -> pd.DataFrame:
    """Every (non-preview) job as a DataFrame."""
    return _frame("jobs", current().client.list_jobs())


def stop(name: str, mode: str = "checkpoint") -> Any:
    """Ask a pipeline to stop (checkpoint | graceful | immediate | force); returns it."""
    modes = [m.value for m in STOP_MODES]
    if mode not in modes:
        raise SessionError(f"--mode must be one of {', '.join(modes)}")
    pipeline = resolve(name)
    pipeline.stop(mode=mode)
    return pipeline


def start(name: str) -> Any:
    """Start a stopped pipeline."""
    pipeline = resolve(name)
    pipeline.start()
    return pipeline


def restart(name: str, *, force: bool = False, ignore_state: bool = False) -> Any:
    """Restart a pipeline (``force``: without a final checkpoint)."""
    pipeline = resolve(name)
    pipeline.restart(force=force, ignore_state=ignore_state)
    return pipeline


def rescale(name: str, parallelism: int) -> Any:
    """Change every operator's parallelism."""
    if parallelism < 1:
        raise SessionError("parallelism must be at least 1")
    pipeline = resolve(name)
    pipeline.rescale(parallelism)
    return pipeline


def delete(name: str, *, stop: bool = False, timeout: float = 60) -> str:
    """Delete a pipeline; with ``stop`` a running one is stopped first (else an error)."""
    pipeline = resolve(name)
    state = parse_state(pipeline.job().state)
    if state not in TERMINAL_STATES and not stop:
        raise SessionError(f"{pipeline.name} is {state.value}; stop it first or use --stop")
    _stop_and_delete(pipeline, timeout)
    return f"deleted {pipeline.name} ({pipeline.id})"


def wait(name: str, state: str | Iterable[str] = "Running", timeout: float = 60) -> Any:
    """Wait until the pipeline's job reaches ``state``; a clear error on timeout."""
    wanted = [state] if isinstance(state, str) else list(state)
    try:
        states = [parse_state(s).value for s in wanted]
    except ValueError as exc:
        raise SessionError(str(exc)) from None
    if timeout <= 0:
        raise SessionError("--timeout must be > 0 seconds")
    pipeline = resolve(name)
    try:
        return pipeline.wait_for(states, timeout=timeout)
    except TimeoutError:
        now = pipeline.job().state
        raise SessionError(
            f"{pipeline.name} did not reach {' or '.join(states)} within {timeout:g}s (it is {now})"
        ) from None


def errors(name: str, *, limit: int | None = None, all: bool = False) -> pd.DataFrame:  # noqa: A002
    """The job's error log, newest first: ``limit`` rows (default 10) or ``all`` of them."""
    if limit is not None and limit < 1:
        raise SessionError("--limit must be at least 1")
    pipeline = resolve(name)
    if all:
        job = pipeline.job()
        messages = list(current().client.iter_job_errors(pipeline.id, job.id))
        if limit is not None:
            messages = messages[:limit]
    else:
        messages = pipeline.errors(limit=limit).data
    return _frame("errors", messages)


def checkpoints(name: str, *, epoch: int | None = None) -> pd.DataFrame:
    """The checkpoint table, or one epoch's operator spans with ``epoch``."""
    pipeline = resolve(name)
    if epoch is None:
        return _frame("checkpoints", pipeline.checkpoints())
    found = [c for c in pipeline.checkpoints() if c.epoch == epoch]
    if not found:
        raise SessionError(f"{pipeline.name} has no checkpoint with epoch {epoch}")
    return _frame("checkpoint_spans", pipeline.checkpoint_details(epoch), found[0])


def checkpoint_charts(name: str, *, epoch: int | None = None) -> list[Any]:
    """Plotly figures for the checkpoints (history, or one epoch's timeline and bytes)."""
    try:
        from . import charts
    except ImportError:
        return []
    pipeline = resolve(name)
    cps = pipeline.checkpoints()
    if not cps:
        return []
    if epoch is None:
        return [charts.checkpoint_history(cps, interval_micros=pipeline.checkpoint_interval_micros)]
    found = [c for c in cps if c.epoch == epoch]
    if not found:
        return []
    details = pipeline.checkpoint_details(epoch)
    return [charts.checkpoint_timeline(details, found[0]), charts.checkpoint_bytes(details)]


def metrics(name: str) -> pd.DataFrame:
    """Operator metrics in long form (node_id, metric, subtask, time, value)."""
    return _frame("metrics", resolve(name).metrics())


def output(name: str, *, rows: int = 20, timeout: float = 10) -> pd.DataFrame:
    """Up to ``rows`` rows from a running pipeline's live output, waiting ``timeout`` s."""
    if rows < 1 or timeout <= 0:
        raise SessionError("--rows must be >= 1 and --timeout > 0")
    pipeline = resolve(name)
    state = str(pipeline.job().state)
    if state != JobState.RUNNING.value:
        raise SessionError(f"{pipeline.name} is {state}; output can only be read from a running pipeline")
    return _collect_output(pipeline, rows, timeout)


# --- catalogue ---------------------------------------------------------------------------


def tables() -> pd.DataFrame:
    """Saved connection tables."""
    client = current().client
    return _records_frame(
        client.iter_connection_tables(), ["id", "name", "connector", "table_type", "consumers", "created_at"]
    )


def connectors() -> pd.DataFrame:
    """Connectors the server offers (hidden ones left out)."""
    items = [c for c in current().client.list_connectors() if not c.hidden]
    return _records_frame(items, ["id", "name", "description", "source", "sink"])


def udfs() -> pd.DataFrame:
    """Global UDFs."""
    return _records_frame(current().client.list_udfs(), ["id", "name", "prefix", "language", "description"])


_CREATE_TABLE = re.compile(
    r"^\s*CREATE\s+TABLE\s+(?P<name>[A-Za-z_]\w*)\s*(?P<columns>\(.*?\))?\s*WITH\s*\((?P<opts>.*)\)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_OPTION = re.compile(r"\s*'?(?P<key>[A-Za-z_][\w.]*)'?\s*=\s*(?P<value>'(?:[^']|'')*'|[^,]+?)\s*(?:,|$)")


def parse_create_table(sql: str) -> tuple[str, str, dict[str, Any]]:
    """``CREATE TABLE name WITH (connector = 'x', k = 'v', …)`` → (name, connector, config)."""
    match = _CREATE_TABLE.match(sql)
    if not match:
        raise SessionError(
            "write one statement: CREATE TABLE name WITH (connector = '...', key = 'value', ...)"
        )
    if match.group("columns"):
        raise SessionError("saved tables take their schema from the connector; leave out the column list")
    opts, pos, config = match.group("opts"), 0, {}
    while pos < len(opts.rstrip()):
        option = _OPTION.match(opts, pos)
        if not option or option.end() == pos:
            raise SessionError(
                f"cannot read the WITH options near {opts[pos : pos + 30]!r}; write key = 'value'"
            )
        raw = option.group("value")
        value: Any = raw[1:-1].replace("''", "'") if raw.startswith("'") else raw
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value) and not raw.startswith("'"):
            value = int(value)
        config[option.group("key")] = value
        pos = option.end()
    connector = config.pop("connector", None)
    if not connector:
        raise SessionError("the WITH options need connector = '...'")
    return match.group("name"), str(connector), config


def create_table(sql: str) -> Any:
    """Save a connection table from ``CREATE TABLE name WITH (connector = …)``."""
    name, connector, config = parse_create_table(sql)
    return current().client.create_connection_table(name=name, connector=connector, config=config)


def create_udf(
    definition: str, *, prefix: str = "", language: str = "python", description: str | None = None
) -> Any:
    """Validate and save a global UDF from its source."""
    if not definition.strip():
        raise SessionError("the cell is empty: write the UDF's source below the %%arroyo line")
    if language not in ("python", "rust"):
        raise SessionError("--language must be python or rust")
    client = current().client
    check = client.validate_udf(definition, language=language)
    if check.errors:
        raise SessionError("invalid UDF:\n" + "\n".join(f"  * {e}" for e in check.errors))
    return client.create_udf(prefix, definition, language=language, description=description)
