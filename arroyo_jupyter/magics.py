"""``%arroyo`` / ``%%arroyo``: a thin notebook front on :mod:`arroyo_jupyter.session`.

Every subcommand parses its arguments (argparse, so ``%arroyo?`` and ``-h`` print real
help and unknown flags are rejected), renders ``{{ name }}`` variables, makes exactly one
call of the default :class:`~arroyo_jupyter.session.Session` and displays what it
returns. User mistakes and API errors (every ``ArroyoError``) become one-line
``UsageError``s (no traceback, the cell still fails); ``--verbose`` or
``%config ArroyoMagic.short_errors = False`` shows the full trace.
"""

from __future__ import annotations

import argparse
import html
import math
import sys
import time
from collections.abc import Callable
from typing import Any

from IPython.core.completer import CompletionContext, SimpleCompletion, context_matcher
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.display import display
from IPython.utils.process import arg_split
from traitlets import Bool, Float, Int, TraitError, Unicode, default, validate

from . import session
from .api import ArroyoError, SessionError
from .config import ConfigError, Settings, check_setting, load_settings
from .session import Session
from .states import STOP_MODE_NAMES, JobState

# --- the argument grammar ------------------------------------------------------------------


class _HelpShown(Exception):
    """``-h`` printed help: the magic returns quietly instead of exiting the kernel."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports mistakes as a short UsageError and never exits the process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)  # unknown or shortened flags are mistakes
        kwargs.setdefault("add_help", True)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see `{self.prog} -h`)")

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        if message:
            print(message, file=sys.stderr)
        raise _HelpShown()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _port(text: str) -> int:
    value = _non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {value}")
    return value


def _identifier(text: str) -> str:
    if not text.isidentifier():
        raise argparse.ArgumentTypeError(f"{text!r} is not a Python variable name")
    return text


def _state(text: str) -> str:
    try:
        return JobState(text).value
    except ValueError:
        names = ", ".join(s.value for s in JobState)
        raise argparse.ArgumentTypeError(f"unknown state {text!r}; one of {names}") from None


# Subcommands whose input is the cell body; all others are line commands.
CELL_COMMANDS = ("validate", "preview", "create", "table", "udf")
# Lines above the SQL in a %%arroyo cell: diagnostics count them, as the user sees the cell.
MAGIC_LINES = 1


def build_parser() -> _Parser:
    """The whole ``%arroyo`` grammar: one subparser per subcommand; every flag has help."""
    common = _Parser(add_help=False)
    common.add_argument("--verbose", action="store_true", help="show the full traceback on errors")
    sql = _Parser(add_help=False)
    sql.add_argument(
        "--dry-run", action="store_true", help="show the SQL after {{ var }} rendering; run nothing"
    )
    widget = _Parser(add_help=False)
    widget.add_argument(
        "--no-widget", action="store_true", help="plain text/DataFrames instead of live widgets"
    )
    name_help = "pipeline name or id"

    parser = _Parser(prog="%arroyo", description="Work with Arroyo pipelines from a notebook.")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", parser_class=_Parser, required=True)

    def add(name: str, help_text: str, *parents: _Parser) -> _Parser:
        return sub.add_parser(name, help=help_text, description=help_text, parents=[common, *parents])

    p = add("connect", "connect to a cluster (URL, $ARROYO_URL, config) or the embedded server")
    p.add_argument("url", nargs="?", help="e.g. http://localhost:5115")
    p.add_argument("--api-key-env", metavar="VAR", help="name of the env var holding the API key")
    p.add_argument("--local", action="store_true", help="start the embedded Arroyo-compatible server")
    p.add_argument("--port", type=_port, help="port for --local (default: any free port)")
    add("disconnect", "stop this session's previews and disconnect")
    add("status", "URL, whether it answers, pipelines running")

    add("validate", "(cell) check the SQL: problems with a caret under the column, or the graph", sql)
    p = add("preview", "(cell) run the SQL as a preview and show its state and rows", sql, widget)
    p.add_argument("--enable-sinks", action="store_true", help="keep the query's real sinks")
    p.add_argument("--rows", type=_positive_int, help="rows to show/collect (default: ArroyoMagic.rows)")
    p.add_argument("--ttl", type=_seconds, help="stop the preview client-side after S seconds")
    p.add_argument(
        "--save", type=_identifier, metavar="VAR", help="bind the collected rows to VAR as a DataFrame"
    )
    p = add("create", "(cell) create and start a pipeline from the SQL", sql, widget)
    p.add_argument("--name", required=True, help="the pipeline's name (required)")
    p.add_argument("--parallelism", type=_positive_int, default=1, help="subtasks per operator (default 1)")
    p.add_argument("--checkpoint-interval", metavar="INTERVAL", help="e.g. 10s, 500ms, 2m")
    p.add_argument(
        "--if-exists", choices=session.IF_EXISTS, default="fail", help="when the name is taken (default fail)"
    )
    add("table", "(cell) save a connection table: CREATE TABLE name WITH (connector = ...)", sql)
    p = add("udf", "(cell) save a global UDF from its source")
    p.add_argument("--language", choices=("python", "rust"), default="python", help="the UDF's language")
    p.add_argument("--prefix", default="", help="prefix of the UDF's name in SQL")
    p.add_argument("--description", help="shown in `%%arroyo udfs`")

    add("pipelines", "pipelines: state, uptime, parallelism, last checkpoint, errors, query")
    add("jobs", "the same table by job")
    p = add("stop", "stop a pipeline")
    p.add_argument("name", help=name_help)
    p.add_argument("--mode", choices=STOP_MODE_NAMES, default="checkpoint", help="how (default checkpoint)")
    add("start", "start a stopped pipeline").add_argument("name", help=name_help)
    p = add("restart", "restart a pipeline")
    p.add_argument("name", help=name_help)
    p.add_argument("--force", action="store_true", help="no final checkpoint")
    p.add_argument("--ignore-state", action="store_true", help="start without the saved state")
    p = add("rescale", "change a pipeline's parallelism")
    p.add_argument("name", help=name_help)
    p.add_argument("parallelism", type=_positive_int, help="the new parallelism (>= 1)")
    p = add("delete", "delete a pipeline")
    p.add_argument("name", help=name_help)
    p.add_argument("--stop", action="store_true", help="stop it first if it runs")
    p = add("wait", "wait until a pipeline's job reaches a state")
    p.add_argument("name", help=name_help)
    p.add_argument("--state", type=_state, default="Running", help="e.g. Running, Stopped")
    p.add_argument("--timeout", type=_seconds, default=60.0, help="seconds to wait (default 60)")
    p = add("errors", "the job's error log as a DataFrame")
    p.add_argument("name", help=name_help)
    p.add_argument("--limit", type=_positive_int, help="rows (default: ArroyoMagic.rows)")
    p.add_argument("--all", action="store_true", help="every page")
    p = add("checkpoints", "checkpoint table and charts", widget)
    p.add_argument("name", help=name_help)
    p.add_argument("--epoch", type=_non_negative_int, help="one checkpoint's operator spans")
    add("metrics", "operator metrics", widget).add_argument("name", help=name_help)
    p = add("output", "attach to a running pipeline's live output", widget)
    p.add_argument("name", help=name_help)
    p.add_argument("--rows", type=_positive_int, help="rows to collect without widgets")
    p.add_argument("--timeout", type=_seconds, default=10.0, help="seconds to collect without widgets")
    add("dashboard", "one pipeline's live state, output, errors, checkpoints, metrics, graph").add_argument(
        "name", help=name_help
    )
    add("tables", "saved connection tables")
    add("connectors", "available connectors")
    add("udfs", "global UDFs")
    return parser


PARSER = build_parser()
SUBPARSERS: dict[str, _Parser] = next(
    a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)
).choices  # type: ignore[assignment]


def short_help() -> str:
    """What ``%arroyo?`` shows: one line per subcommand, fits one screen."""
    helps = {a.dest: a.help for a in PARSER._subparsers._group_actions[0]._choices_actions}  # type: ignore[union-attr]
    width = max(map(len, SUBPARSERS))
    lines = ["%arroyo SUBCOMMAND [flags]   /   %%arroyo SUBCOMMAND [flags] + a SQL cell", ""]
    lines += [f"  {name:<{width}}  {helps.get(name, '')}" for name in SUBPARSERS]
    lines += ["", "`%arroyo CMD -h` for more; `%config ArroyoMagic` lists the settings."]
    return "\n".join(lines)


def full_help() -> str:
    """Every subcommand with its flags (``%arroyo CMD -h`` shows one of these)."""
    parts = [PARSER.format_help(), "Subcommands in detail:"]
    for sub in SUBPARSERS.values():
        parts.append(sub.format_help().replace("usage: ", "", 1))
    return "\n".join(parts)


def flags_of(command: str) -> list[str]:
    sub = SUBPARSERS.get(command)
    if sub is None:
        return []
    return sorted(opt for action in sub._actions for opt in action.option_strings if opt.startswith("--"))


# --- errors ------------------------------------------------------------------------------


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if isinstance(exc, SessionError) else f"{type(exc).__name__}: {text}"


def _checked(name: str, value: Any) -> Any:
    try:
        check_setting(name, value)
    except ConfigError as exc:
        raise TraitError(str(exc)) from None
    return value


# --- the magic ---------------------------------------------------------------------------


@magics_class
class ArroyoMagic(Magics):
    """Settings of ``%arroyo``; change them with ``%config ArroyoMagic.<name> = …``.

    Their defaults come from the config files (see :mod:`arroyo_jupyter.config`); the
    same rules check both (``rows >= 1``, ``refresh_interval > 0``, ``preview_ttl >= 0``).
    """

    url = Unicode(help="Arroyo URL for `%arroyo connect` (empty: $ARROYO_URL, localhost, embedded)").tag(
        config=True
    )
    api_key_env = Unicode(help="NAME of the environment variable holding the API key").tag(config=True)
    # (built-in defaults given here too: traitlets validates only values that differ from them)
    rows = Int(Settings.rows, help="rows shown and collected by default (>= 1)").tag(config=True)
    refresh_interval = Float(
        Settings.refresh_interval, help="seconds between live widget refreshes (> 0)"
    ).tag(config=True)
    preview_ttl = Float(
        Settings.preview_ttl, help="seconds after which previews are stopped client-side (0: server TTL)"
    ).tag(config=True)
    short_errors = Bool(help="one-line errors instead of tracebacks").tag(config=True)
    widgets = Bool(help="live widgets (False: plain text and DataFrames)").tag(config=True)

    def __init__(self, shell: Any = None, *, arroyo_session: Session | None = None, **kwargs: Any) -> None:
        self._file_settings = _file_settings()
        super().__init__(shell=shell, **kwargs)
        self.session: Session = arroyo_session or session.DEFAULT
        self._cell_id: str | None = None

    # Defaults come from the config files; %config and IPython profiles override them.
    @default("url")
    def _default_url(self) -> str:
        return self._file_settings.url

    @default("api_key_env")
    def _default_api_key_env(self) -> str:
        return self._file_settings.api_key_env

    @default("rows")
    def _default_rows(self) -> int:
        return self._file_settings.rows

    @default("refresh_interval")
    def _default_refresh(self) -> float:
        return self._file_settings.refresh_interval

    @default("preview_ttl")
    def _default_ttl(self) -> float:
        return self._file_settings.preview_ttl

    @default("short_errors")
    def _default_short(self) -> bool:
        return self._file_settings.short_errors

    @default("widgets")
    def _default_widgets(self) -> bool:
        return self._file_settings.widgets

    @validate("rows", "refresh_interval", "preview_ttl")
    def _valid_number(self, proposal: Any) -> Any:
        return _checked(proposal["trait"].name, proposal["value"])

    def settings(self) -> Settings:
        return Settings(
            url=self.url,
            api_key_env=self.api_key_env,
            rows=self.rows,
            refresh_interval=self.refresh_interval,
            preview_ttl=self.preview_ttl,
            short_errors=self.short_errors,
            widgets=self.widgets,
        )

    def remember_cell(self, info: Any) -> None:
        """pre_run_cell hook: the front-end's cell id keys previews to their cell."""
        self._cell_id = getattr(info, "cell_id", None)

    @no_var_expand
    @line_cell_magic
    def arroyo(self, line: str, cell: str | None = None) -> Any:
        verbose = "--verbose" in line.split()
        try:
            return self._dispatch(line, cell)
        except _HelpShown:
            return None
        except ArroyoError as exc:  # every user mistake and API failure (see api/errors.py)
            if verbose or not self.short_errors:
                raise
            raise UsageError(_short(exc)) from None

    @property
    def _ns(self) -> dict[str, Any]:
        return self.shell.user_ns if self.shell is not None else {}

    def _dispatch(self, line: str, cell: str | None) -> Any:
        try:
            argv = arg_split(session.render_sql(line, self._ns).sql, posix=True, strict=False)
        except ValueError as exc:
            raise UsageError(f"%arroyo: cannot split the arguments: {exc}") from None
        if not argv:
            raise UsageError("%arroyo: give a subcommand; `%arroyo?` lists them")
        if argv[0] in CELL_COMMANDS and cell is None and not {"-h", "--help"} & set(argv):
            raise UsageError(f"`{argv[0]}` reads the cell: write `%%arroyo {argv[0]}` with the SQL below it")
        args, unknown = PARSER.parse_known_args(argv)
        if unknown:  # report it from the subcommand's parser: its usage is the helpful one
            SUBPARSERS[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
        if args.command not in CELL_COMMANDS and cell is not None and cell.strip():
            raise UsageError(f"`{args.command}` takes no cell body; use `%arroyo {line.strip()}` on one line")
        # session settings follow %config (the one place the magic's settings live)
        self.session.settings = self.settings()
        handler: Callable[[argparse.Namespace, str], Any] = getattr(self, f"_cmd_{args.command}")
        return handler(args, cell or "")

    # --- helpers for the handlers

    def _render(self, args: argparse.Namespace, cell: str) -> str | None:
        """The cell's SQL after {{ var }} rendering; None (after printing it) on --dry-run."""
        rendered = session.render_sql(cell, self._ns)
        if getattr(args, "dry_run", False):
            print(rendered.sql)
            return None
        if rendered.variables:  # never rewrite SQL silently
            print(f"rendered {{{{ }}}}: {', '.join(rendered.variables)} (see the SQL with --dry-run)")
        return rendered.sql

    def _live(self, args: argparse.Namespace) -> bool:
        return self.widgets and not getattr(args, "no_widget", False)

    def _show(self, *objects: Any) -> None:
        for obj in objects:
            if type(obj).__name__ == "Figure" and hasattr(obj, "to_plotly_json"):
                from .charts import figure_mimebundle  # saved notebooks show the chart too

                display(figure_mimebundle(obj), raw=True)
            else:
                display(obj)

    # --- connection

    def _cmd_connect(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.connect(
            args.url,  # no URL: the session looks at $ARROYO_URL, then self.url (via settings)
            api_key_env=args.api_key_env,
            local=args.local,
            port=args.port,
        )

    def _cmd_disconnect(self, args: argparse.Namespace, cell: str) -> None:
        account = self.session.disconnect()
        print("\n".join(account) if account else "disconnected")

    def _cmd_status(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.status()

    # --- SQL cells

    def _cmd_validate(self, args: argparse.Namespace, cell: str) -> Any:
        sql = self._render(args, cell)
        if sql is None:
            return None
        result = self.session.validate(sql, line_offset=MAGIC_LINES)
        if not result.ok:  # the whole account, with carets: it is the error message
            raise UsageError(str(result))
        return result

    def _cmd_preview(self, args: argparse.Namespace, cell: str) -> Any:
        sql = self._render(args, cell)
        if sql is None:
            return None
        live = self._live(args) and not args.save
        preview = self.session.preview(
            sql,
            enable_sinks=args.enable_sinks,
            ttl=args.ttl or (self.preview_ttl or None),
            key=self._cell_key(args, cell),
            collect=None if live else (args.rows or self.rows),
            live=live,
            rows=args.rows,
            line_offset=MAGIC_LINES,
        )
        if args.save:
            self._ns[args.save] = preview.frame
            rows = 0 if preview.frame is None else len(preview.frame)
            print(f"{args.save} = DataFrame of {rows} rows from preview {preview.pipeline.id}")
        for note in preview.account:
            print(note)
        return preview if live else preview.frame

    def _cell_key(self, args: argparse.Namespace, cell: str) -> str:
        # Front-ends send a cell id; without one (nbclient, papermill) the whole cell's text
        # identifies it: its flags too, so two cells previewing the same SQL stay apart.
        flags = sorted((k, str(v)) for k, v in vars(args).items())
        return self._cell_id or f"text:{hash((tuple(flags), cell))}"

    def _cmd_create(self, args: argparse.Namespace, cell: str) -> Any:
        sql = self._render(args, cell)
        if sql is None:
            return None
        # the live state view says what is true now; the handle (only data) is the result
        shown = self.session.create_shown(
            sql,
            live=self._live(args),
            name=args.name,
            parallelism=args.parallelism,
            checkpoint_interval=args.checkpoint_interval,
            if_exists=args.if_exists,
            line_offset=MAGIC_LINES,
        )
        self._show(*shown.views)
        return shown.value

    def _cmd_table(self, args: argparse.Namespace, cell: str) -> Any:
        sql = self._render(args, cell)
        return None if sql is None else self.session.create_table(sql)

    def _cmd_udf(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.create_udf(
            cell, prefix=args.prefix, language=args.language, description=args.description
        )

    # --- lists and pipeline commands

    def _cmd_pipelines(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.pipelines()

    def _cmd_jobs(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.jobs()

    def _cmd_stop(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.stop(args.name, mode=args.mode)

    def _cmd_start(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.start(args.name)

    def _cmd_restart(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.restart(args.name, force=args.force, ignore_state=args.ignore_state)

    def _cmd_rescale(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.rescale(args.name, args.parallelism)

    def _cmd_delete(self, args: argparse.Namespace, cell: str) -> None:
        print(self.session.delete(args.name, stop=args.stop))

    def _cmd_wait(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.wait(args.name, args.state, timeout=args.timeout)

    def _cmd_errors(self, args: argparse.Namespace, cell: str) -> Any:
        limit = args.limit or (None if args.all else self.rows)
        return self.session.errors(args.name, limit=limit, all=args.all)

    def _cmd_checkpoints(self, args: argparse.Namespace, cell: str) -> Any:
        shown = self.session.checkpoint_report(args.name, epoch=args.epoch, charts=not args.no_widget)
        self._show(*shown.views)
        return shown.value

    def _cmd_metrics(self, args: argparse.Namespace, cell: str) -> Any:
        shown = self.session.metrics_report(args.name, live=self._live(args))  # the view, and the numbers
        self._show(*shown.views)
        return shown.value

    def _cmd_output(self, args: argparse.Namespace, cell: str) -> Any:
        if self._live(args):
            return self.session.output_view(args.name)
        return self.session.output(args.name, rows=args.rows or self.rows, timeout=args.timeout)

    def _cmd_dashboard(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.dashboard(args.name)

    def _cmd_tables(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.tables()

    def _cmd_connectors(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.connectors()

    def _cmd_udfs(self, args: argparse.Namespace, cell: str) -> Any:
        return self.session.udfs()


ArroyoMagic.arroyo.__doc__ = short_help()


def _file_settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:  # a broken config file must not break the extension
        print(f"arroyo_jupyter: ignoring config: {exc}", file=sys.stderr)
        return Settings()


# --- completion (IPython matcher API v2: works in every front-end) -------------------------


@context_matcher()
def arroyo_matcher(context: CompletionContext) -> dict[str, Any]:
    """Subcommands, their flags and pipeline names after ``%arroyo`` / ``%%arroyo``."""
    none: dict[str, Any] = {"completions": [], "suppress": False}
    line = context.line_with_cursor
    if context.cursor_line != 0 and line.lstrip().startswith("%%"):
        return none
    stripped = line.lstrip()
    for prefix in ("%%arroyo", "%arroyo"):
        if stripped.startswith(prefix + " "):
            break
    else:
        return none
    words = stripped[len(prefix) :].split()
    token = context.token
    done = words[:-1] if token and words and words[-1].endswith(token) else words
    options = completion_options(done)
    matches = [SimpleCompletion(text=o, type="arroyo") for o in options if o.startswith(token)]
    return {"completions": matches, "suppress": bool(matches)}


NAME_COMMANDS = (
    "stop",
    "start",
    "restart",
    "rescale",
    "delete",
    "wait",
    "errors",
    "checkpoints",
    "metrics",
    "output",
)


def completion_options(words: list[str]) -> list[str]:
    """What may come next after the ``%arroyo`` words already typed."""
    if not words:
        return sorted(SUBPARSERS)
    command = words[0]
    if command not in SUBPARSERS:
        return []
    last = words[-1]
    if last == "--mode":
        return list(STOP_MODE_NAMES)
    if last == "--state":
        return [s.value for s in JobState]
    if last == "--if-exists":
        return list(session.IF_EXISTS)
    if last == "--language":
        return ["python", "rust"]
    flags = [f for f in flags_of(command) if f not in words]
    positional = [w for w in words[1:] if not w.startswith("-")]
    if command in NAME_COMMANDS and not positional:
        return session.pipeline_names() + flags
    return flags


# --- HTML for the client's handles and models (they carry a text repr only) ----------------
# Only data: no methods (a handle's `stop` is one), and what changes while the pipeline runs
# (state, action text) is either left out or shown with the time it was true.

_HTML_FIELDS: dict[str, tuple[str, ...]] = {
    "Pipeline": ("id", "name", "preview", "parallelism", "checkpoint_interval_micros", "created_at_dt"),
    "Job": ("id", "pipeline_id", "state", "running_desired", "run_id", "tasks", "failure"),
    "ConnectionTable": ("id", "name", "connector", "table_type", "consumers"),
    "GlobalUdf": ("id", "name", "prefix", "language", "description"),
}
# Types whose fields are a snapshot of a changing state: their caption says when.
_SNAPSHOTS = {"Job"}


def _field(obj: Any, name: str) -> str:
    model = getattr(obj, "model", obj)  # a handle's own attributes include its methods
    value = getattr(model, name, getattr(obj, name, ""))
    return "" if callable(value) else str(value)


def summary_html(obj: Any) -> str:
    """A small escaped key/value table of an API object's data fields."""
    kind = type(obj).__name__
    fields = _HTML_FIELDS.get(kind, ())
    rows = "".join(
        f"<tr><th style='text-align:left'>{html.escape(f)}</th><td>{html.escape(_field(obj, f))}</td></tr>"
        for f in fields
    )
    caption = kind
    if kind in _SNAPSHOTS:  # when the server said so (a handle knows), else now
        at = time.localtime(getattr(obj, "fetched_at", None) or time.time())
        caption += f" as of {time.strftime('%H:%M:%S', at)} (not live)"
    return f"<table class='arroyo-summary'><caption>{html.escape(caption)}</caption>{rows}</table>"


def _html_types() -> list[type]:
    from .api import Job, Pipeline
    from .api.models import ConnectionTable, GlobalUdf

    return [Pipeline, Job, ConnectionTable, GlobalUdf]


# --- extension entry points -----------------------------------------------------------------


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext arroyo_jupyter``: register the magic, its config and completion."""
    magic = ArroyoMagic(shell=ipython)
    ipython.register_magics(magic)
    if magic not in ipython.configurables:
        ipython.configurables.append(magic)
    ipython.events.register("pre_run_cell", magic.remember_cell)
    if arroyo_matcher not in ipython.Completer.custom_matchers:
        ipython.Completer.custom_matchers.append(arroyo_matcher)
    html_formatter = ipython.display_formatter.formatters["text/html"]
    for cls in _html_types():
        html_formatter.for_type(cls, summary_html)
    ipython._arroyo_magic = magic


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext arroyo_jupyter``: remove all of the above (the connection stays)."""
    magic = getattr(ipython, "_arroyo_magic", None)
    for kind in ("line", "cell"):
        ipython.magics_manager.magics[kind].pop("arroyo", None)
    if magic is not None:
        if magic in ipython.configurables:
            ipython.configurables.remove(magic)
        try:
            ipython.events.unregister("pre_run_cell", magic.remember_cell)
        except ValueError:
            pass
        del ipython._arroyo_magic
    if arroyo_matcher in ipython.Completer.custom_matchers:
        ipython.Completer.custom_matchers.remove(arroyo_matcher)
    html_formatter = ipython.display_formatter.formatters["text/html"]
    for cls in _html_types():
        html_formatter.pop(cls, None)
