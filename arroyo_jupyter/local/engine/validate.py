"""Arroyo's refusals: SQL that Arroyo's planner rejects is rejected here with its reason.

The planner calls :func:`check_program` once the tables, views and queries of a script are
known, and :func:`check_query` for each query once it is translated. Messages are Arroyo's
(``crates/arroyo-planner``) where it has one; positions are in the user's own text.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from sqlglot import exp

from .catalog import TableDef
from .dialect import Statement
from .translate import QueryShape

Pending = tuple[Statement, str | None, exp.Expression]  # (statement, INSERT target or None, query)


def check_program(
    pending: Sequence[Pending], catalog: dict[str, TableDef], views: dict[str, exp.Expression]
) -> None:
    """Memory tables: written by exactly one INSERT, read only when something writes them;
    sinks are never read."""
    writers: dict[str, Statement] = {}
    for stmt, target, _ in pending:
        table = catalog.get(target) if target is not None else None
        if target is None or table is None or table.kind != "memory":
            continue
        if target in writers:
            raise stmt.error_at("Can only insert into a memory table once", target)
        writers[target] = stmt
    for stmt, _, query in pending:
        for name in _tables_read(query, views):
            table = catalog.get(name)
            if table is None:
                continue
            if table.kind == "sink":
                raise stmt.error_at_read(f"attempted to read from table '{name}', but it is a sink", name)
            if table.kind == "memory" and name not in writers:
                raise stmt.error_at_read(
                    f"Can't query from memory table {name} without first inserting into it.", name
                )


def check_view(
    stmt: Statement, query: exp.Expression, catalog: dict[str, TableDef], views: dict[str, exp.Expression]
) -> None:
    """A view reads tables and views defined before it (Arroyo plans a view where it is created):
    an unknown name is reported at the view, not at the query that uses it."""
    for name in _tables_read(query, views):
        if name not in catalog and name not in views:
            raise stmt.error_at_read(f"table '{name}' not found", name)


def _tables_read(query: exp.Expression, views: dict[str, exp.Expression]) -> list[str]:
    """Table names a query reads, through views (CTE names excluded)."""
    seen: list[str] = []
    todo = [query]
    while todo:
        q = todo.pop()
        ctes = {c.alias_or_name for c in q.find_all(exp.CTE)}
        for t in q.find_all(exp.Table):
            name = t.name
            if name in ctes or name in seen:
                continue
            seen.append(name)
            if name in views:
                todo.append(views[name])
    return seen


def check_query(
    stmt: Statement, query: exp.Expression, shape: QueryShape, catalog: dict[str, TableDef]
) -> None:
    """Refusals that need the query's shape: joins and window functions without windows."""
    if shape.window is None:
        for join in query.find_all(exp.Join):
            if not _has_equijoin(join):
                on = join.args.get("on")
                raise stmt.error_at("Updating joins must include an equijoin condition", on or join.this)
        if shape.has_over and not any(_has_window_column(catalog[name]) for name in shape.inputs):
            over = next(query.find_all(exp.Window))
            raise stmt.error_at(
                "Error during planning: window functions require already windowed input; "
                "PARTITION BY a window (tumble, hop or session) of an inner aggregate",
                over.this,
            )


def _has_equijoin(join: exp.Join) -> bool:
    if join.args.get("using"):
        return True
    on = join.args.get("on")
    if on is None:
        return False
    conjuncts = list(on.flatten()) if isinstance(on, exp.And) else [on]
    for c in conjuncts:
        if isinstance(c, exp.EQ) and c.this.find(exp.Column) and c.expression.find(exp.Column):
            return True
    return False


def _has_window_column(table: TableDef) -> bool:
    """A table holding window structs (a memory table written by a windowed query)."""
    for f in table.schema or []:
        if pa.types.is_struct(f.type) and {"start", "end"} <= {c.name for c in f.type}:
            return True
    return False


SETTINGS = ("updating_ttl",)


def read_set(stmt: Statement) -> dict[str, str]:
    """``SET updating_ttl = '1 hour'``: Arroyo's one pipeline setting (how long updating state is
    kept). The value must be an interval; it is returned as written."""
    from .translate import interval_ns

    items = stmt.ast.expressions if isinstance(stmt.ast, exp.Set) else []
    out: dict[str, str] = {}
    for item in items:
        eq = item.this if isinstance(item, exp.SetItem) else None
        if not isinstance(eq, exp.EQ) or not isinstance(eq.this, exp.Column):
            raise stmt.error_at("SET needs a name and a value: SET updating_ttl = '1 hour'", item)
        name = eq.this.name.lower()
        if name not in SETTINGS:
            raise stmt.error_at(
                f"unknown setting '{name}'; the only one is updating_ttl (SET updating_ttl = '1 hour')",
                eq.this,
            )
        value = eq.expression
        try:
            interval_ns(value if isinstance(value, exp.Interval) else exp.Literal.string(value.name))
        except ValueError:
            raise stmt.error_at(
                f"updating_ttl must be an interval such as '1 hour', not {value.sql()}", value
            ) from None
        out[name] = value.name if not isinstance(value, exp.Interval) else value.this.name
    return out
