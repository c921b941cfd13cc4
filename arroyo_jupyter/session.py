"""The session layer: a typed :class:`Session` (client, embedded server and previews under
one lock) and the default instance the ``%arroyo`` magic uses.

Each ``%arroyo`` subcommand is exactly one call of a public method here, so scripts can
do what notebooks do::

    from arroyo_jupyter import session as arroyo
    arroyo.connect()                          # $ARROYO_URL / config / localhost:5115 / embedded
    arroyo.create("SELECT ...", name="top")   # a Pipeline handle
    arroyo.wait("top", "Running")
    arroyo.errors("top")                      # a DataFrame

The module-level functions are the methods of :data:`DEFAULT`; a script that wants its
own connection makes ``Session()`` and calls the same methods on it.

User mistakes raise :class:`~arroyo_jupyter.api.SessionError` and API failures the
client's errors, all under ``ArroyoError`` (the tree is drawn in ``api/errors.py``); the
messages say what to do instead. The magic shows them without a traceback and still
fails the cell.
"""

from __future__ import annotations

import atexit
import contextlib
import difflib
import os
import re
import secrets
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pandas as pd

from . import frames, views
from .api import ArroyoError, Client, Job, NotFoundError, Pipeline, SessionError, SqlError, WaitTimeout
from .api import models as m
from .config import Settings, load_settings
from .previews import Preview
from .sql_cells import (
    RenderedSql,
    Validation,
    format_diagnostics,
    html_pre,
    parse_create_table,
    parse_interval,
    records_frame,
    render_sql,
)
from .states import TERMINAL_STATES, JobState, parse_state

if TYPE_CHECKING:
    from plotly.graph_objects import Figure

    from .local.server import LocalServer

__all__ = [
    "DEFAULT",
    "Connection",
    "Preview",
    "RenderedSql",
    "Session",
    "SessionError",
    "Shown",
    "Status",
    "Validation",
    "current",
    "format_diagnostics",
    "parse_create_table",
    "parse_interval",
    "render_sql",
]

DEFAULT_LOCAL_URL = "http://localhost:5115"
IF_EXISTS = ("fail", "replace", "keep")
QUERY_SHOWN = 60  # characters of a query shown in the pipelines/jobs tables


# --- small helpers ---------------------------------------------------------------------


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


def _answers(url: str) -> bool:
    """Whether an Arroyo API answers at ``url`` (quickly: this decides a default)."""
    with Client(url, timeout=1.0, retries=0) as client:
        try:
            return client.ping()
        except ArroyoError:
            return False


def shorten(text: str, width: int = QUERY_SHOWN) -> str:
    """One line of at most ``width`` characters (whitespace folded, "…" when cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# --- the session ---------------------------------------------------------------------------


# Every Session made in this process (weakly): the kernel's exit stops the previews of each.
_SESSIONS: weakref.WeakSet[Session] = weakref.WeakSet()


T = TypeVar("T")


@dataclass(frozen=True)
class Shown(Generic[T]):
    """What a notebook shows for one command: ``views`` (live widgets, Plotly figures)
    above the ``value`` (a DataFrame, a handle) that the cell returns."""

    value: T
    views: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Connection:
    """What :meth:`Session.connect` made: a client, its URL, and the embedded server if
    the session started one. It stays readable after the session disconnects."""

    client: Client
    url: str
    server: LocalServer | None = None  # the embedded server, when this session started it

    @property
    def local(self) -> bool:
        return self.server is not None

    def __repr__(self) -> str:
        return f"<arroyo connection {self.url}{' (embedded)' if self.local else ''}>"

    def _repr_html_(self) -> str:
        return html_pre(repr(self))


@dataclass
class _NamesCache:
    names: list[str] = field(default_factory=list)
    fetched_at: float = float("-inf")
    worker: threading.Thread | None = None

    def refresh(self, client: Client) -> None:
        try:
            self.names = sorted({p.name for p in client.iter_pipelines()})
            self.fetched_at = time.monotonic()
        except Exception:  # completion must never raise into the front-end
            pass


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
        return html_pre(str(self))


class Session:
    """A connection to Arroyo (a cluster or the embedded server it started) and the
    previews started through it, all guarded by one lock.

    ``Session()`` is not connected; :meth:`connect` makes it so. Every method below is
    one ``%arroyo`` subcommand. ``settings`` are the defaults (config files when None).
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self._lock = threading.RLock()
        self._settings = settings
        self._connection: Connection | None = None
        self._previews: dict[str, Preview] = {}
        self.names_cache = _NamesCache()  # pipeline names for completion
        _SESSIONS.add(self)  # so that the kernel's exit stops its previews too

    # --- what it is connected to

    @property
    def settings(self) -> Settings:
        """Defaults for this session (rows, refresh interval, …); the config files when unset."""
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self._settings = value

    @property
    def connected(self) -> bool:
        return self._connection is not None

    def _conn(self) -> Connection:
        connection = self._connection
        if connection is None:
            raise SessionError(
                "not connected; run `%arroyo connect` (or arroyo_jupyter.session.connect()) first"
            )
        return connection

    @property
    def connection(self) -> Connection:
        """The current connection; a SessionError telling the user to connect if none."""
        return self._conn()

    @property
    def client(self) -> Client:
        return self._conn().client

    @property
    def url(self) -> str:
        return self._conn().url

    @property
    def server(self) -> LocalServer | None:
        return self._conn().server

    @property
    def local(self) -> bool:
        return self._conn().server is not None

    @property
    def previews(self) -> dict[str, Preview]:
        """The previews started and not yet replaced, by key (a copy)."""
        with self._lock:
            return dict(self._previews)

    def __repr__(self) -> str:
        connection = self._connection
        if connection is None:
            return "<arroyo session (not connected)>"
        return f"<arroyo session {connection.url}{' (embedded)' if connection.server else ''}>"

    def _repr_html_(self) -> str:
        return html_pre(repr(self))

    # --- connect / disconnect / status

    def connect(
        self,
        url: str | None = None,
        *,
        api_key_env: str | None = None,
        local: bool = False,
        port: int | None = None,
        state_dir: str | None = None,
        settings: Settings | None = None,
    ) -> Connection:
        """Connect to Arroyo (closing the previous connection once the new one answers).

        Where to: ``url``; else ``local`` (the embedded server); else ``$ARROYO_URL``; else
        the configured url; else localhost:5115 if something answers there; else the
        embedded server. An explicit URL that does not answer is an error, never silently
        replaced.
        """
        if settings is not None:
            self.settings = settings
        settings = self.settings
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
            self.disconnect()
            return self._connect_local(port, state_dir)
        client = Client(target, api_key=key)  # checks the URL (the one place that does)
        try:
            client.ping()
        except Exception:  # a mistyped URL keeps the connection you had
            client.close()
            raise
        self.disconnect()
        return self._set(Connection(client, target.rstrip("/")))

    def _connect_local(self, port: int | None, state_dir: str | None) -> Connection:
        from . import local as local_server

        directory = state_dir or tempfile.mkdtemp(prefix="arroyo-jupyter-")
        # Its own random key (never shown) and file connectors confined to the state dir and
        # the notebook's directory: a web page or another user cannot drive it.
        key = secrets.token_urlsafe(32)
        roots = [str(directory), os.getcwd()]
        try:
            server = local_server.start(port=port or 0, state_dir=directory, api_key=key, file_roots=roots)
        except OSError as exc:  # port taken or not allowed
            raise SessionError(
                f"cannot start the embedded server on port {port}: {exc.strerror or exc}; pick another --port"
            ) from None
        return self._set(Connection(Client(server.url, api_key=key), server.url, server))

    def _set(self, connection: Connection) -> Connection:
        with self._lock:
            self._connection = connection
            self.names_cache = _NamesCache()
        return connection

    def disconnect(self) -> list[str]:
        """Stop this session's previews, close the client and the embedded server it started.

        Returns the account of what was stopped (one line each); empty when not connected.
        """
        with self._lock:
            connection, self._connection = self._connection, None
            previews, self._previews = list(self._previews.values()), {}
        if connection is None:
            return []
        account = [line for p in previews if (line := p.close("disconnect"))]
        connection.client.close()
        if connection.server is not None:
            connection.server.stop()
            account.append(f"stopped the embedded server at {connection.url}")
        return account

    def status(self) -> Status:
        """URL, whether it answers, and how many pipelines exist and run."""
        connection = self._conn()
        client = connection.client
        live_previews = sum(1 for p in self.previews.values() if not p.stopped)
        try:
            client.ping()
            jobs = client.list_jobs()
            count = sum(1 for _ in client.iter_pipelines())
        except ArroyoError as exc:
            return Status(
                connection.url, False, connection.server is not None, previews=live_previews, problem=str(exc)
            )
        running = sum(1 for j in jobs if str(j.state) == JobState.RUNNING.value)
        return Status(connection.url, True, connection.server is not None, count, running, live_previews)

    # --- naming pipelines

    def pipeline_names(self, max_age: float = 2.0, wait: float = 0.5) -> list[str]:
        """Names of the server's pipelines, for completion: never raises, never blocks long.

        The listing runs on a helper thread; if it takes longer than ``wait`` seconds (slow or
        unreachable server), the last known names are returned and the thread fills the cache.
        """
        connection = self._connection
        if connection is None:
            return []
        with self._lock:
            cache = self.names_cache
            if time.monotonic() - cache.fetched_at < max_age:
                return cache.names
            if cache.worker is None or not cache.worker.is_alive():
                cache.worker = threading.Thread(target=cache.refresh, args=(connection.client,), daemon=True)
                cache.worker.start()
            worker = cache.worker
        worker.join(wait)
        return cache.names

    def resolve(self, name_or_id: str | Pipeline) -> Pipeline:
        """The Pipeline handle named ``name_or_id`` (a name or a ``pl_…`` id, or a handle).

        Unknown names list close matches; a name shared by several pipelines is an error
        that lists their ids (use the id then).
        """
        if isinstance(name_or_id, Pipeline):
            return name_or_id
        if not isinstance(name_or_id, str):
            raise SessionError(f"expected a pipeline name or id, got {type(name_or_id).__name__}")
        client = self.client
        wanted = name_or_id.strip()
        if not wanted:
            raise SessionError("give a pipeline name or id")
        pipelines = list(client.iter_pipelines())
        by_name = [p for p in pipelines if p.name == wanted]
        if len(by_name) > 1:
            ids = ", ".join(p.id for p in by_name)
            raise SessionError(f"{len(by_name)} pipelines are named {wanted!r}: {ids}; use the id instead")
        for p in by_name or [p for p in pipelines if p.id == wanted]:
            return p
        for preview in self.previews.values():  # previews are not listed by the server
            if wanted in (preview.pipeline.id, preview.pipeline.name):
                return preview.pipeline
        try:
            return client.get_pipeline(wanted)
        except NotFoundError:
            pass
        close = difflib.get_close_matches(wanted, [p.name for p in pipelines], n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; `%arroyo pipelines` lists them"
        raise SessionError(f"no pipeline named {wanted!r}{hint}")

    # --- SQL

    def validate(self, sql: str, *, line_offset: int = 0) -> Validation:
        """Ask the server to plan ``sql``; the result prints diagnostics or the graph."""
        client = self.client
        if not sql.strip():
            raise SessionError("the cell is empty: write the SQL below the %%arroyo line")
        return Validation(sql, client.validate_query(sql), line_offset)

    @contextlib.contextmanager
    def _sql_errors_located(self, sql: str, line_offset: int) -> Iterator[None]:
        """Create/preview errors carry no positions: ask validate_query for them, show carets."""
        try:
            yield
        except SqlError as exc:
            diagnostics = list(exc.diagnostics)
            if not any(getattr(d, "line", None) for d in diagnostics):
                located = self.client.validate_query(sql).errors
                diagnostics = list(located) or diagnostics
            raise SessionError(format_diagnostics(sql, diagnostics, line_offset=line_offset)) from None

    # --- previews

    def preview(
        self,
        sql: str,
        *,
        enable_sinks: bool = False,
        ttl: float | None = None,
        key: str | None = None,
        collect: int | None = None,
        live: bool = False,
        rows: int | None = None,
        refresh_interval: float | None = None,
        line_offset: int = 0,
    ) -> Preview:
        """Start a preview of ``sql`` and return it.

        A previous preview with the same ``key`` (a cell) is stopped first; ``ttl`` seconds
        (if > 0) stops it client-side. ``collect=N``: read up to N rows into
        ``preview.frame``, then stop it. ``live``: give it live views (state and output,
        ``rows`` kept); closing one stops it. Otherwise it just runs.
        """
        client = self.client
        if not sql.strip():
            raise SessionError("the cell is empty: write the SQL below the %%arroyo line")
        if ttl is not None and ttl < 0:
            raise SessionError("--ttl must be a number of seconds >= 0")
        if collect is not None and collect < 1:
            raise SessionError("--rows must be at least 1")
        account = self.stop_previews(key) if key is not None else []
        with self._sql_errors_located(sql, line_offset):
            pipeline = client.create_preview(sql, enable_sinks=enable_sinks)
        result = Preview(pipeline, key=key, sql=sql, ttl=ttl or None, replaced=account)
        with self._lock:
            self._previews[key or pipeline.id] = result
        if collect is not None:
            result.collect(collect)
        elif live:
            result.show(
                max_rows=max(rows or self.settings.rows, 1000),
                refresh_interval=refresh_interval or self.settings.refresh_interval,
            )
        return result

    def stop_previews(self, key: str | None = None) -> list[str]:
        """Stop the previews this session started (only the one for ``key`` if given)."""
        reason = "cell re-run" if key is not None else "stop_previews()"
        with self._lock:
            keys = [key] if key is not None else list(self._previews)
            previews = [self._previews.pop(k) for k in keys if k in self._previews]
        return [line for p in previews if (line := p.close(reason))]

    def _stop_at_exit(self) -> list[str]:
        # No view closing here: the kernel is going away, and joining their threads would delay it.
        with self._lock:
            previews, self._previews = list(self._previews.values()), {}
        return [line for p in previews if (line := p.close("kernel exit", close_views=False))]

    # --- pipelines

    def create(
        self,
        sql: str,
        *,
        name: str,
        parallelism: int = 1,
        checkpoint_interval: str | None = None,
        if_exists: str = "fail",
        line_offset: int = 0,
    ) -> Pipeline:
        """Create and start a pipeline; what an existing pipeline with that name means is
        ``if_exists``: ``fail`` (default), ``replace`` (stop, delete, create) or ``keep``."""
        client = self.client
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
        existing = [p for p in client.iter_pipelines() if p.name == name]
        if existing and if_exists == "keep":
            return existing[0]
        if existing and if_exists == "fail":
            ids = ", ".join(p.id for p in existing)
            raise SessionError(
                f"a pipeline named {name!r} already exists ({ids}); "
                "use --if-exists replace (stop and delete it) or --if-exists keep"
            )
        if existing:  # replace: only once the new SQL is known to plan, so a typo loses nothing
            check = client.validate_query(sql)
            if not check.ok:
                problems = format_diagnostics(sql, list(check.errors), line_offset=line_offset)
                raise SessionError(problems + f"\n{name!r} was left as it is")
        for old in existing:
            _stop_and_delete(old, timeout=60)
        with self._sql_errors_located(sql, line_offset):
            return client.create_pipeline(
                name, sql, parallelism=parallelism, checkpoint_interval_micros=interval
            )

    def create_shown(
        self, sql: str, *, live: bool = True, refresh_interval: float | None = None, **create: Any
    ) -> Shown[Pipeline]:
        """:meth:`create` (same arguments), and (``live``) the live job state above the handle."""
        pipeline = self.create(sql, **create)
        views = (self.state_view(pipeline, refresh_interval=refresh_interval),) if live else ()
        return Shown(pipeline, views)

    def pipelines(self) -> pd.DataFrame:
        """The table a user scans: one row per (non-preview) pipeline with its job's state,
        uptime, parallelism, last checkpoint, error count and the query shortened."""
        return _overview(list(self.client.iter_pipelines()))[PIPELINE_COLUMNS]

    def jobs(self) -> pd.DataFrame:
        """The same table by job: its id, pipeline, state, run and tasks first."""
        frame = _overview(list(self.client.iter_pipelines()))
        return frame[frame["job_id"].notna()][JOB_COLUMNS].reset_index(drop=True)

    def stop(self, name: str | Pipeline, mode: str = "checkpoint") -> Pipeline:
        """Ask a pipeline to stop (checkpoint | graceful | immediate | force); returns it."""
        pipeline = self.resolve(name)
        pipeline.stop(mode=mode)  # the handle checks the mode (the one place that does)
        return pipeline

    def start(self, name: str | Pipeline) -> Pipeline:
        """Start a stopped pipeline."""
        pipeline = self.resolve(name)
        pipeline.start()
        return pipeline

    def restart(self, name: str | Pipeline, *, force: bool = False, ignore_state: bool = False) -> Pipeline:
        """Restart a pipeline (``force``: without a final checkpoint)."""
        pipeline = self.resolve(name)
        pipeline.restart(force=force, ignore_state=ignore_state)
        return pipeline

    def rescale(self, name: str | Pipeline, parallelism: int) -> Pipeline:
        """Change every operator's parallelism."""
        if parallelism < 1:
            raise SessionError("parallelism must be at least 1")
        pipeline = self.resolve(name)
        pipeline.rescale(parallelism)
        return pipeline

    def delete(self, name: str | Pipeline, *, stop: bool = False, timeout: float = 60) -> str:
        """Delete a pipeline; with ``stop`` a running one is stopped first (else an error)."""
        pipeline = self.resolve(name)
        state = parse_state(pipeline.job().state)
        if state not in TERMINAL_STATES and not stop:
            raise SessionError(f"{pipeline.name} is {state.value}; stop it first or use --stop")
        _stop_and_delete(pipeline, timeout)
        return f"deleted {pipeline.name} ({pipeline.id})"

    def wait(self, name: str | Pipeline, state: str | Iterable[str] = "Running", timeout: float = 60) -> Job:
        """Wait until the pipeline's job reaches ``state``; WaitTimeout (an ArroyoError and a
        TimeoutError) says which state it is in instead."""
        wanted = [state] if isinstance(state, str) else list(state)
        try:
            states = [parse_state(s).value for s in wanted]
        except ValueError as exc:
            raise SessionError(str(exc)) from None
        if timeout <= 0:
            raise SessionError("--timeout must be > 0 seconds")
        pipeline = self.resolve(name)
        try:
            return pipeline.wait_for(states, timeout=timeout)
        except WaitTimeout:
            now = pipeline.job().state
            raise WaitTimeout(
                f"{pipeline.name} did not reach {' or '.join(states)} within {timeout:g}s (it is {now})"
            ) from None

    def errors(self, name: str | Pipeline, *, limit: int | None = None, all: bool = False) -> pd.DataFrame:  # noqa: A002
        """The job's error log, newest first: ``limit`` rows (default 10) or ``all`` of them."""
        if limit is not None and limit < 1:
            raise SessionError("--limit must be at least 1")
        pipeline = self.resolve(name)
        if all:
            messages = list(pipeline.iter_errors())
            if limit is not None:
                messages = messages[:limit]
        else:
            messages = pipeline.errors(limit=limit).data
        return frames.errors_frame(messages)

    def checkpoint_report(
        self, name: str | Pipeline, *, epoch: int | None = None, charts: bool = True
    ) -> Shown[pd.DataFrame]:
        """The checkpoint table (or, with ``epoch``, that checkpoint's operator spans) and its
        Plotly charts (history; or the epoch's timeline and bytes), from one fetch."""
        pipeline = self.resolve(name)
        job = pipeline.job()  # the Job handle knows its id: one fetch of it, not one per call
        cps = job.checkpoints()
        if epoch is None:
            frame = frames.checkpoints_frame(cps)
            details = chosen = None
        else:
            chosen = next((c for c in cps if c.epoch == epoch), None)
            if chosen is None:
                raise SessionError(f"{pipeline.name} has no checkpoint with epoch {epoch}")
            details = job.checkpoint_details(epoch)
            frame = frames.checkpoint_spans_frame(details, chosen)
        if not charts or not cps:
            return Shown(frame)
        from . import charts as plots  # plotly: imported when a chart is wanted

        if details is None or chosen is None:
            history = plots.checkpoint_history(cps, interval_micros=pipeline.checkpoint_interval_micros)
            return Shown(frame, (history,))
        return Shown(frame, (plots.checkpoint_timeline(details, chosen), plots.checkpoint_bytes(details)))

    def checkpoints(self, name: str | Pipeline, *, epoch: int | None = None) -> pd.DataFrame:
        """The checkpoint table, or one epoch's operator spans with ``epoch``."""
        return self.checkpoint_report(name, epoch=epoch, charts=False).value

    def checkpoint_charts(self, name: str | Pipeline, *, epoch: int | None = None) -> list[Figure]:
        """Plotly figures for the checkpoints (history, or one epoch's timeline and bytes)."""
        return list(self.checkpoint_report(name, epoch=epoch).views)

    def metrics(self, name: str | Pipeline) -> pd.DataFrame:
        """Operator metrics in long form (node_id, metric, subtask, time, value)."""
        return frames.metrics_frame(self.resolve(name).metrics())

    def metrics_report(
        self, name: str | Pipeline, *, live: bool = True, refresh_interval: float | None = None
    ) -> Shown[pd.DataFrame]:
        """The metrics as a DataFrame, and (``live``) the live metrics widget above it."""
        pipeline = self.resolve(name)
        views = (self.metrics_view(pipeline, refresh_interval=refresh_interval),) if live else ()
        return Shown(frames.metrics_frame(pipeline.metrics()), views)

    def output(self, name: str | Pipeline, *, rows: int = 20, timeout: float = 10) -> pd.DataFrame:
        """Up to ``rows`` rows from a running pipeline's live output, waiting ``timeout`` s."""
        from .previews import collect_output

        if rows < 1 or timeout <= 0:
            raise SessionError("--rows must be >= 1 and --timeout > 0")
        pipeline = self.resolve(name)
        state = str(pipeline.job().state)
        if state != JobState.RUNNING.value:
            raise SessionError(f"{pipeline.name} is {state}; output can only be read from a running pipeline")
        return collect_output(pipeline, rows, timeout)

    # --- live views (widgets); each refreshes every ``refresh_interval`` s (default: settings)

    def _interval(self, refresh_interval: float | None) -> float:
        return refresh_interval or self.settings.refresh_interval

    def dashboard(self, name: str | Pipeline, *, refresh_interval: float | None = None) -> Any:
        """A Dashboard widget: state header and tabs for output, errors, checkpoints, metrics, graph."""
        return views.dashboard(self.resolve(name), refresh_interval=self._interval(refresh_interval))

    def state_view(self, name: str | Pipeline, *, refresh_interval: float | None = None) -> Any:
        """The live job state widget (Stop / Start / Restart)."""
        return views.state_view(self.resolve(name), refresh_interval=self._interval(refresh_interval))

    def metrics_view(self, name: str | Pipeline, *, refresh_interval: float | None = None) -> Any:
        """The live metrics widget."""
        return views.metrics_view(self.resolve(name), refresh_interval=self._interval(refresh_interval))

    def output_view(self, name: str | Pipeline) -> Any:
        """The live output table (follows the pipeline over runs)."""
        return views.output_table(self.resolve(name))

    # --- catalogue

    def tables(self) -> pd.DataFrame:
        """Saved connection tables."""
        return records_frame(
            self.client.iter_connection_tables(),
            ["id", "name", "connector", "table_type", "consumers", "created_at"],
        )

    def connectors(self) -> pd.DataFrame:
        """Connectors the server offers (hidden ones left out)."""
        items = [c for c in self.client.list_connectors() if not c.hidden]
        return records_frame(items, ["id", "name", "description", "source", "sink"])

    def udfs(self) -> pd.DataFrame:
        """Global UDFs."""
        return records_frame(self.client.list_udfs(), ["id", "name", "prefix", "language", "description"])

    def create_table(self, sql: str) -> m.ConnectionTable:
        """Save a connection table from ``CREATE TABLE name WITH (connector = …)``."""
        name, connector, config = parse_create_table(sql)
        return self.client.create_connection_table(name=name, connector=connector, config=config)

    def create_udf(
        self, definition: str, *, prefix: str = "", language: str = "python", description: str | None = None
    ) -> m.GlobalUdf:
        """Validate and save a global UDF from its source."""
        if not definition.strip():
            raise SessionError("the cell is empty: write the UDF's source below the %%arroyo line")
        if language not in ("python", "rust"):
            raise SessionError("--language must be python or rust")
        client = self.client
        check = client.validate_udf(definition, language=language)
        if check.errors:
            raise SessionError("invalid UDF:\n" + "\n".join(f"  * {e}" for e in check.errors))
        return client.create_udf(prefix, definition, language=language, description=description)


def _stop_and_delete(pipeline: Pipeline, timeout: float) -> None:
    job = pipeline.job()
    if parse_state(job.state) not in TERMINAL_STATES:
        pipeline.stop(mode="immediate")
        pipeline.wait_for([s.value for s in TERMINAL_STATES], timeout=timeout)
    pipeline.delete()


PIPELINE_COLUMNS = [
    "name", "id", "state", "uptime", "parallelism", "last_checkpoint", "last_checkpoint_at", "errors", "query",
]  # fmt: skip
JOB_COLUMNS = [
    "job_id", "pipeline", "state", "run_id", "tasks", "uptime", "parallelism", "last_checkpoint",
    "last_checkpoint_at", "errors", "query",
]  # fmt: skip


def _overview(pipelines: list[Pipeline]) -> pd.DataFrame:
    """One row per pipeline: what its job is doing now (as of this call)."""
    now = time.time()
    rows = []
    for p in pipelines:
        try:
            job: Job | None = p.job()
        except NotFoundError:
            job = None
        # the Job handle knows its id: no re-fetch of the job per call
        checkpoints = job.checkpoints() if job is not None else []
        finished = [c for c in checkpoints if c.finish_time]
        last = max(finished, key=lambda c: c.epoch, default=None)
        error_count = sum(1 for _ in job.iter_errors()) if job is not None else 0
        start = job.model.start_time if job is not None else None
        end = (job.model.finish_time if job is not None else None) or now * 1e6
        rows.append(
            {
                "name": p.name,
                "id": p.id,
                "state": str(job.state) if job is not None else "(no job)",
                "uptime": pd.to_timedelta(round((end - start) / 1e6), unit="s") if start else pd.NaT,
                "parallelism": p.parallelism,
                "last_checkpoint": last.epoch if last is not None else None,
                "last_checkpoint_at": pd.to_datetime(last.finish_time, unit="us", utc=True)
                if last
                else pd.NaT,
                "errors": error_count,
                "query": shorten(p.query),
                "job_id": job.id if job is not None else None,
                "pipeline": p.name,
                "run_id": job.model.run_id if job is not None else None,
                "tasks": job.model.tasks if job is not None else None,
            }
        )
    frame = pd.DataFrame(rows, columns=list(dict.fromkeys(PIPELINE_COLUMNS + JOB_COLUMNS)))
    for column in ("last_checkpoint", "run_id", "tasks"):
        frame[column] = frame[column].astype("Int64")
    frame.attrs["as_of"] = pd.Timestamp(now, unit="s", tz="UTC")
    return frame


# --- the default session: what the magic and ``session.connect()`` & co. use ------------------

DEFAULT = Session()


def current() -> Session:
    """The default session, connected; a SessionError telling the user to connect if not."""
    DEFAULT._conn()
    return DEFAULT


connect = DEFAULT.connect
disconnect = DEFAULT.disconnect
status = DEFAULT.status
pipeline_names = DEFAULT.pipeline_names
resolve = DEFAULT.resolve
validate = DEFAULT.validate
preview = DEFAULT.preview
stop_previews = DEFAULT.stop_previews
create = DEFAULT.create
pipelines = DEFAULT.pipelines
jobs = DEFAULT.jobs
stop = DEFAULT.stop
start = DEFAULT.start
restart = DEFAULT.restart
rescale = DEFAULT.rescale
delete = DEFAULT.delete
wait = DEFAULT.wait
errors = DEFAULT.errors
checkpoints = DEFAULT.checkpoints
checkpoint_charts = DEFAULT.checkpoint_charts
checkpoint_report = DEFAULT.checkpoint_report
metrics_report = DEFAULT.metrics_report
create_shown = DEFAULT.create_shown
metrics = DEFAULT.metrics
output = DEFAULT.output
dashboard = DEFAULT.dashboard
state_view = DEFAULT.state_view
metrics_view = DEFAULT.metrics_view
output_view = DEFAULT.output_view
tables = DEFAULT.tables
connectors = DEFAULT.connectors
udfs = DEFAULT.udfs
create_table = DEFAULT.create_table
create_udf = DEFAULT.create_udf


def _stop_all_at_exit() -> None:
    for each in list(_SESSIONS):
        for line in each._stop_at_exit():
            print(f"arroyo_jupyter at exit: {line}")


atexit.register(_stop_all_at_exit)
