"""SQL as a notebook cell holds it: ``{{ var }}`` rendering, intervals, ``CREATE TABLE``
options, and validation results printed with the offending line and a caret.

Pure text work: no connection, no IPython. :mod:`arroyo_jupyter.session` uses it and
re-exports the public names.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .api import SessionError
from .api import models as m

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


def records_frame(items: Iterable[Any], columns: list[str]) -> pd.DataFrame:
    """A DataFrame of chosen attributes of API models (missing attributes become None)."""
    rows = [{col: getattr(item, col, None) for col in columns} for item in items]
    return pd.DataFrame(rows, columns=columns)


def html_pre(text: str) -> str:
    return f"<pre class='arroyo-text'>{html.escape(text)}</pre>"


# --- validate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Validation:
    """validate_query's verdict, printable: each problem with its line and a caret.

    ``line_offset``: lines above the SQL in what the user sees (1 under a ``%%arroyo``
    line), so line numbers match the cell.
    """

    sql: str
    result: m.QueryValidationResult
    line_offset: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.result.ok)

    @property
    def diagnostics(self) -> list[Any]:
        return list(self.result.errors)

    def graph_frame(self) -> pd.DataFrame:
        graph = self.result.graph
        nodes = graph.nodes if graph is not None else []
        return records_frame(nodes, ["node_id", "operator", "description", "parallelism"])

    def __str__(self) -> str:
        if self.ok:
            return "valid SQL\n" + format_graph(self.result.graph)
        return format_diagnostics(self.sql, self.diagnostics, line_offset=self.line_offset)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        return html_pre(str(self))


def format_diagnostics(sql: str, diagnostics: list[Any], *, line_offset: int = 0) -> str:
    """Each diagnostic, with the offending SQL line and a caret under its column.

    Line numbers are the SQL's plus ``line_offset`` (the lines above it in the cell).
    """
    lines = sql.splitlines()
    out = [f"invalid SQL ({len(diagnostics)} problem{'s' if len(diagnostics) != 1 else ''})"]
    for diag in diagnostics:
        line, column = getattr(diag, "line", None), getattr(diag, "column", None)
        message = str(diag.message).replace("\n", "\n    ")  # keep continuation lines indented
        if line is None or not 1 <= line <= len(lines):
            out.append(f"  {message}")
            continue
        shown = line + line_offset
        out.append(f"  line {shown}, column {column}: {message}")
        text = lines[line - 1].expandtabs(1)
        out.append(f"  {shown:>4} | {text}")
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
