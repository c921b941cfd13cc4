"""Rewrite one Arroyo query (a sqlglot AST) into SQL DataFusion runs per batch.

Arroyo-only syntax becomes plain columns the operators fill in:
``tumble/hop/session(...)`` → ``__window`` (a struct ``{start, end}`` assigned by the window
operator), ``row_time()`` → ``_timestamp``, ``->`` / ``->>`` → JSON UDFs. Views are inlined.
The analysis (:class:`QueryShape`) tells the planner which operator the query needs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from sqlglot import exp

if TYPE_CHECKING:  # incremental imports this module
    from .incremental import IncrementalPlan

WINDOW_COL = "__window"
TIME_COL = "_timestamp"
HIDDEN = {WINDOW_COL, TIME_COL}

_UNITS_NS = {
    "NANOSECOND": 1,
    "MICROSECOND": 1_000,
    "MILLISECOND": 1_000_000,
    "SECOND": 1_000_000_000,
    "MINUTE": 60_000_000_000,
    "HOUR": 3_600_000_000_000,
    "DAY": 86_400_000_000_000,
    "WEEK": 604_800_000_000_000,
}


def interval_ns(node: exp.Expression) -> int:
    """``INTERVAL '1' HOUR`` / ``INTERVAL '10 seconds'`` / ``'10 seconds'`` in nanoseconds."""
    if isinstance(node, exp.Literal) and node.is_string:  # Arroyo casts strings to intervals
        node = exp.Interval(this=node)
    if not isinstance(node, exp.Interval):
        raise ValueError(f"expected an interval, got '{node.sql()}'")
    text = str(node.this.this if isinstance(node.this, exp.Literal) else node.this.sql()).strip()
    unit = node.args.get("unit")
    parts = text.split()
    if unit is not None:
        parts = [text, unit.name]
    if len(parts) % 2:
        raise ValueError(f"cannot read interval '{text}'; write e.g. '10 seconds' or INTERVAL '1' MINUTE")
    total = 0.0
    for amount, name in zip(parts[::2], parts[1::2], strict=False):
        key = name.upper().rstrip("S")
        key = {
            "SEC": "SECOND",
            "MIN": "MINUTE",
            "MS": "MILLISECOND",
            "US": "MICROSECOND",
            "NS": "NANOSECOND",
            "MILLI": "MILLISECOND",
            "MICRO": "MICROSECOND",
            "H": "HOUR",
            "D": "DAY",
        }.get(key, key)
        if key not in _UNITS_NS:
            raise ValueError(f"unknown interval unit '{name}'")
        total += float(amount) * _UNITS_NS[key]
    if total <= 0:
        raise ValueError(f"window interval must be positive, got '{node.sql()}'")
    return int(total)


@dataclass(frozen=True)
class WindowSpec:
    kind: str  # "tumble" | "hop" | "session"
    width: int  # ns (the gap for sessions)
    slide: int  # ns (== width for tumble)


@dataclass
class QueryShape:
    sql: str  # DataFusion SQL
    inputs: list[str]  # table names read, in order of first use
    window: WindowSpec | None
    has_aggregate: bool
    has_join: bool
    non_inner_join: bool
    updating_join_side: str | None  # "left"/"right" when a join side is an unwindowed aggregate
    has_over: bool
    distinct: bool
    incremental: IncrementalPlan | None = None  # per-key partial aggregation
    sql_with_time: str | None = None  # sql plus a ``__ts`` column, when the query is row-wise
    key_exprs: list[str] = field(default_factory=list)  # SQL over the single input, for shuffles
    key_table: str | None = None
    output_keys: list[int] = field(default_factory=list)  # output positions of group keys
    window_alias_index: int | None = None  # output position of the window struct


def _window_of(call: exp.Expression) -> WindowSpec | None:
    name = call.name.lower() if isinstance(call, exp.Anonymous) else ""
    name = "session" if name == "session_window" else name
    if name not in ("tumble", "hop", "session"):
        return None
    args = call.expressions
    try:
        if name == "tumble" and len(args) == 1:
            w = interval_ns(args[0])
            return WindowSpec("tumble", w, w)
        if name == "hop" and len(args) == 2:
            slide, width = interval_ns(args[0]), interval_ns(args[1])
            if width % slide:
                raise ValueError(
                    f"Error during planning: hop() width {_seconds(width)} currently must be "
                    f"a multiple of slide {_seconds(slide)}"
                )
            return WindowSpec("tumble" if slide == width else "hop", width, slide)
        if name == "session" and len(args) == 1:
            g = interval_ns(args[0])
            return WindowSpec("session", g, g)
    except ValueError as err:
        raise _WindowError(str(err)) from None
    raise _WindowError(f"wrong number of arguments for {name}()")


def _seconds(ns: int) -> str:
    """A width as Arroyo's messages print it (``600s``, ``1.5s``)."""
    return f"{ns // 1_000_000_000}s" if ns % 1_000_000_000 == 0 else f"{ns / 1e9:g}s"


class _WindowError(Exception):
    pass


def _is_aggregate_select(select: exp.Select) -> bool:
    if select.args.get("group"):
        return True
    for e in select.expressions:
        for node in e.walk():
            if isinstance(node, exp.AggFunc) and not node.find_ancestor(exp.Window):
                # an aggregate of this select (not of a nested subquery)
                if node.find_ancestor(exp.Select) is select:
                    return True
    return False


def _render_types(tree: exp.Expression) -> None:
    """DataFusion spells unsigned types 'BIGINT UNSIGNED'; sqlglot says 'UBIGINT'."""
    names = {
        "UBIGINT": "BIGINT UNSIGNED",
        "UINT": "INT UNSIGNED",
        "USMALLINT": "SMALLINT UNSIGNED",
        "UTINYINT": "TINYINT UNSIGNED",
    }
    for dt in list(tree.find_all(exp.DataType)):
        name = dt.this.name if hasattr(dt.this, "name") else str(dt.this)
        if name in names:
            dt.replace(exp.Var(this=names[name]))


def _json_keys(path: exp.Expression) -> list[object] | None:
    """The keys of ``->`` / ``->>``: names and array indexes."""
    if isinstance(path, exp.JSONPath):
        keys: list[object] = []
        for p in path.expressions:
            if isinstance(p, exp.JSONPathKey):
                keys.append(str(p.this))
            elif isinstance(p, exp.JSONPathSubscript):
                keys.append(int(p.this) if str(p.this).lstrip("-").isdigit() else str(p.this))
        return keys
    if isinstance(path, exp.Literal):
        return [int(path.this)] if not path.is_string else [str(path.this)]
    return None


def _json_call(
    name: str, value: exp.Expression, keys: list[object], written: exp.Expression
) -> exp.Expression:
    call = exp.Anonymous(this=f"__{name}", expressions=[value, exp.Literal.string(json.dumps(keys))])
    if isinstance(written.parent, exp.Select) and written.arg_key == "expressions":
        name_as_written = written.sql(dialect="postgres", normalize_functions="lower")
        return exp.Alias(this=call, alias=exp.to_identifier(name_as_written, quoted=True))
    return call


class JsonArgumentError(_WindowError):  # reported like the window errors: at the statement
    pass


def rewrite_json(tree: exp.Expression) -> None:
    """``->`` / ``->>`` / ``?`` and ``json_get*(json, key, …)`` as the engine's (json, keys) functions."""
    for has_key in list(tree.find_all(exp.JSONBContainsTopKey)):  # json ? 'key'
        key = _json_keys(has_key.expression)
        if key is None:  # the engine's JSON functions take literal keys only
            raise JsonArgumentError("the right side of '?' must be a literal key, e.g. doc ? 'name'")
        has_key.replace(_json_call("json_contains", has_key.this, key, has_key))
    for node in list(tree.find_all(exp.JSONExtract, exp.JSONExtractScalar)):
        keys = _json_keys(node.expression)
        fn = "json_as_text" if isinstance(node, exp.JSONExtractScalar) else "json_get"
        if keys is None:
            raise JsonArgumentError(
                f"the right side of '{'->>' if fn == 'json_as_text' else '->'}' must be a key or an index"
            )
        node.replace(_json_call(fn, node.this, keys, cast(exp.Expression, node)))
    for call in list(tree.find_all(exp.Anonymous)):
        name = call.name.lower()
        if name in _JSON_FUNCTION_NAMES and call.expressions:
            value, *rest = call.expressions
            keys = []
            for k in rest:
                if not isinstance(k, exp.Literal):
                    raise JsonArgumentError(
                        f"the keys of '{name}' must be literal names or indexes, e.g. {name}(doc, 'key', 0)"
                    )
                keys.append(str(k.this) if k.is_string else int(k.this))
            call.replace(_json_call(name, value, keys, call))


_JSON_FUNCTION_NAMES = {
    "json_get",
    "json_as_text",
    "json_get_str",
    "json_get_int",
    "json_get_float",
    "json_get_bool",
    "json_get_json",
    "json_contains",
    "json_length",
}


def translate(
    query: exp.Expression,
    views: dict[str, exp.Expression],
    known_tables: set[str],
) -> QueryShape:
    """Inline views, replace Arroyo-only syntax, and describe what the query needs."""
    tree = query.copy()
    # inline views (repeat: a view may use another view)
    for _ in range(20):
        changed = False
        cte_names = {c.alias_or_name for c in tree.find_all(exp.CTE)}
        for table in list(tree.find_all(exp.Table)):
            name = table.name
            if name in views and name not in cte_names and not table.args.get("db"):
                alias = table.alias or name
                sub = views[name].copy()
                if isinstance(sub, exp.Subquery):
                    sub = sub.this
                table.replace(exp.Subquery(this=sub, alias=exp.TableAlias(this=exp.to_identifier(alias))))
                changed = True
        if not changed:
            break
    cte_names = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    inputs: list[str] = []
    for table in tree.find_all(exp.Table):
        if table.name in cte_names:
            continue
        if table.name not in known_tables:
            raise _UnknownTable(table.name)
        if table.name not in inputs:
            inputs.append(table.name)
        _unquote(table.this)
    for column in tree.find_all(exp.Column):  # "Nexmark".bid, as the table is named to DataFusion
        for part in ("table", "db"):  # ("Nexmark".bid.price: a struct field of a qualified column)
            qualifier = column.args.get(part)
            if isinstance(qualifier, exp.Identifier) and qualifier.name in inputs:
                _unquote(qualifier)

    # windows
    for select in tree.find_all(exp.Select):
        _check_one_window_per_group_by(select)
    windows: list[WindowSpec] = []
    for call in list(tree.find_all(exp.Anonymous)):
        spec = _window_of(call)
        if spec is not None:
            windows.append(spec)
            _check_window_context(call)
            call.replace(exp.column(WINDOW_COL))
    if len(set(windows)) > 1:
        raise _WindowError("window in group by does not match input window")
    window = windows[0] if windows else None
    if window is not None:
        _carry_window(tree)

    # row_time(), JSON operators
    for call in list(tree.find_all(exp.Anonymous)):
        if call.name.lower() == "row_time" and not call.expressions:
            as_item = isinstance(call.parent, exp.Select)  # a bare select item keeps a visible name
            call.replace(exp.alias_(exp.column(TIME_COL), "row_time") if as_item else exp.column(TIME_COL))
    rewrite_json(tree)

    selects = list(tree.find_all(exp.Select))
    agg_selects = [s for s in selects if _is_aggregate_select(s)]
    if window is not None:
        _check_windowed_aggregates(agg_selects, selects)
    joins = list(tree.find_all(exp.Join))
    if window is None:
        _check_no_semi_joins(tree)
    non_inner = any((j.side or "").upper() in ("LEFT", "RIGHT", "FULL") for j in joins)
    updating_side = None
    if window is None:
        for j in joins:
            # Arroyo looks at the left side first: both updating → "updating left side"
            parent = j.parent
            left = parent.args.get("from_") or parent.args.get("from") if parent is not None else None
            if left is not None and any(_is_aggregate_select(s) for s in left.find_all(exp.Select)):
                updating_side = updating_side or "left"
            if any(_is_aggregate_select(s) for s in j.this.find_all(exp.Select)):
                updating_side = updating_side or "right"
    shape = QueryShape(
        sql="",
        inputs=inputs,
        window=window,
        has_aggregate=bool(agg_selects),
        has_join=bool(joins),
        non_inner_join=non_inner,
        updating_join_side=updating_side,
        has_over=any(True for _ in tree.find_all(exp.Window)),
        # UNION (not ALL) removes duplicates across the whole stream: an updating query, as in Arroyo
        distinct=any(s.args.get("distinct") for s in selects)
        or any(u.args.get("distinct") for u in tree.find_all(exp.Union)),
    )
    _find_keys(tree, shape, agg_selects, joins)
    _render_types(tree)
    shape.sql = tree.sql(dialect="postgres")
    if (window is None or window.kind != "session") and not joins:
        from .incremental import plan_incremental

        shape.incremental = plan_incremental(tree, set(inputs), windowed=window is not None)
    shape.sql_with_time = _with_event_time(tree)
    return shape


def _with_event_time(tree: exp.Expression) -> str | None:
    """The query with each row's ``_timestamp`` carried along as ``__ts`` (row-wise queries)."""
    tree = tree.copy()
    top = tree.expression if isinstance(tree, exp.Insert) else tree
    branches = [top]
    while any(isinstance(b, exp.Union) for b in branches):
        branches = [
            x for b in branches for x in ((b.this, b.expression) if isinstance(b, exp.Union) else (b,))
        ]
    for b in branches:
        if not isinstance(b, exp.Select) or _is_aggregate_select(b) or b.args.get("distinct"):
            return None
        if any(e.alias_or_name == TIME_COL or isinstance(e, exp.Star) for e in b.expressions):
            continue
        b.select(exp.alias_(exp.column(TIME_COL), "__ts"), copy=False)
    return tree.sql(dialect="postgres")


def _top_selects(tree: exp.Expression) -> list[exp.Expression]:
    top = tree.expression if isinstance(tree, exp.Insert) else tree
    branches = [top]
    while any(isinstance(b, exp.Union) for b in branches):
        branches = [
            x for b in branches for x in ((b.this, b.expression) if isinstance(b, exp.Union) else (b,))
        ]
    return branches


def _carry_window(tree: exp.Expression) -> None:
    """Let a window reach the query that uses it: inner selects (subqueries, CTEs, views) pass
    the rows' window along, and ``GROUP BY window`` naming a select alias of the window means it.

    The window operator assigns each input row its window; a window named in an outer
    ``GROUP BY`` (``SELECT … FROM (SELECT …) GROUP BY tumble(…)``) or re-used further out
    (``window.start``) needs it in every select in between, as Arroyo's planner threads it.
    """
    window_sql = exp.column(WINDOW_COL).sql()
    top = {id(s) for s in _top_selects(tree)}
    ctes = {c.alias_or_name: c.this for c in tree.find_all(exp.CTE)}
    done: dict[int, bool] = {}

    def provides(node: exp.Expression) -> bool:
        """Whether the rows of ``node`` (a select, union, subquery or table) carry ``__window``."""
        if isinstance(node, exp.Subquery):
            return provides(node.this)
        if isinstance(node, exp.Union):
            return provides(node.this) and provides(node.expression)
        if isinstance(node, exp.Table):
            return provides(ctes[node.name]) if node.name in ctes else True  # inputs get a window column
        if not isinstance(node, exp.Select):
            return False
        if id(node) not in done:
            done[id(node)] = False  # (a guard against cycles)
            done[id(node)] = carry(node)
        return done[id(node)]

    def carry(select: exp.Select) -> bool:
        aliases = {
            e.alias for e in select.expressions if isinstance(e, exp.Alias) and e.this.sql() == window_sql
        }
        group = select.args.get("group")
        items = [e.unalias() for e in select.expressions]
        grouped = False
        for g in list(group.expressions) if group else []:
            if isinstance(g, exp.Column) and not g.table and g.name in aliases:
                g = g.replace(exp.column(WINDOW_COL))
            if isinstance(g, exp.Literal) and not g.is_string and 0 < int(g.this) <= len(items):
                g = items[int(g.this) - 1]
            grouped = grouped or g.sql() == window_sql
        source = select.args.get("from_") or select.args.get("from")
        sources = [source.this] if source is not None else []
        sources += [j.this for j in select.args.get("joins") or []]
        carriers = [s for s in sources if provides(s)]
        outputs = {e.sql() for e in select.expressions}
        if window_sql in outputs or (carriers and any(isinstance(e, exp.Star) for e in select.expressions)):
            return True
        if id(select) in top or not carriers or (_is_aggregate_select(select) and not grouped):
            return False  # the top's own columns are the user's; an aggregate without the window drops it
        if len(sources) > 1:  # a join (of windows): take the window of the first side that has one
            qualifier = carriers[0].alias_or_name
            select.select(exp.column(WINDOW_COL, table=qualifier), copy=False)
            select.expressions[-1].replace(exp.alias_(exp.column(WINDOW_COL, table=qualifier), WINDOW_COL))
        else:
            select.select(exp.column(WINDOW_COL), copy=False)
        return True

    for s in _top_selects(tree):
        provides(s)


def _unquote(name: exp.Expression) -> None:
    """A table name written quoted (``"Nexmark"``) as DataFusion knows it: tables are registered
    under their name folded to lower case, so the query names them unquoted too."""
    plain = isinstance(name, exp.Identifier) and re.fullmatch(r"[A-Za-z_]\w*", name.name) is not None
    if plain and name.args.get("quoted"):  # ("my-table" stays quoted: unquoted it would not parse)
        name.set("quoted", False)


def _check_one_window_per_group_by(select: exp.Select) -> None:
    """Arroyo groups by at most one window (its aggregate is computed per window)."""
    group = select.args.get("group")
    items = [e.unalias() for e in select.expressions]
    count = 0
    for g in group.expressions if group else []:
        if isinstance(g, exp.Literal) and not g.is_string and 0 < int(g.this) <= len(items):
            g = items[int(g.this) - 1]
        count += isinstance(g, exp.Anonymous) and _window_name(g) is not None
    if count > 1:
        raise _WindowError(
            f"This feature is not implemented: do not support {count} window expressions in group by"
        )


def _window_name(call: exp.Anonymous) -> str | None:
    name = call.name.lower()
    name = "session" if name == "session_window" else name
    return name if name in ("tumble", "hop", "session") else None


def _check_window_context(call: exp.Expression) -> None:
    """A window function belongs in a GROUP BY, or names the window of a select's rows
    (``SELECT tumble(…) AS window, …`` without aggregates); not in an aggregate without GROUP BY."""
    select = call.find_ancestor(exp.Select)
    misplaced, node = False, cast(exp.Expression | None, call)  # in WHERE / HAVING / ORDER BY / ON
    while node is not None and node is not select:
        misplaced = misplaced or isinstance(node, (exp.Where, exp.Having, exp.Order)) or node.arg_key == "on"
        node = cast(exp.Expression | None, node.parent)
    if not misplaced and (select is None or select.args.get("group") or not _is_aggregate_select(select)):
        return
    name = call.name.lower().replace("session_window", "session")
    raise _WindowError(
        f"Error during planning: time window function {name} is not allowed in this context. "
        "Are you missing a GROUP BY clause?"
    )


_MISSING_WINDOW = (
    "must have window in aggregate. Make sure you are calling one of the windowing functions "
    "(hop, tumble, session) or using the window field of the input"
)


def _check_windowed_aggregates(agg_selects: list[exp.Select], selects: list[exp.Select]) -> None:
    """In a windowed query every aggregate must group by the window (its own or an inner one's):
    an aggregate over windowed results without a window would be an updating query."""
    window_names = {WINDOW_COL}
    for s in selects:  # a window named in any (inner) select may be grouped by further out
        for e in s.expressions:
            if isinstance(e, exp.Alias) and e.unalias().sql() == exp.column(WINDOW_COL).sql():
                window_names.add(e.alias)
    for s in agg_selects:
        group = s.args.get("group")
        items = [e.unalias() for e in s.expressions]
        grouped = False
        for g in group.expressions if group else []:
            if isinstance(g, exp.Literal) and not g.is_string and 0 < int(g.this) <= len(items):
                g = items[int(g.this) - 1]
            if isinstance(g, exp.Column) and g.name in window_names:
                grouped = True
        if not grouped:
            raise _WindowError(f"Error during planning: {_MISSING_WINDOW}")


def _check_no_semi_joins(tree: exp.Expression) -> None:
    """``IN (SELECT …)``, ``EXISTS``, ``INTERSECT`` and ``EXCEPT`` are semi/anti joins (DataFusion
    plans them so), which Arroyo refuses without windows, as it refuses other non-inner joins."""
    found = None
    for node in tree.walk():
        if isinstance(node, exp.In) and node.args.get("query") is not None:
            found = "IN"
        elif isinstance(node, exp.Exists):
            found = "EXISTS"
        elif isinstance(node, (exp.Intersect, exp.Except)):
            found = node.key.upper()
        if found:
            what = f"'{found}' with a subquery" if found in ("IN", "EXISTS") else f"'{found}'"
            kind = "an anti-join" if found == "EXCEPT" else "a semi-join"
            raise _WindowError(
                "This feature is not implemented: can't handle non-inner joins without windows "
                f"(here {what} is {kind})"
            )


class _UnknownTable(Exception):
    pass


def _find_keys(tree: exp.Expression, shape: QueryShape, agg_selects: list[exp.Select], joins: list) -> None:
    """Shuffle keys: the GROUP BY of the one aggregate, when it reads one table directly."""
    top = tree.expression if isinstance(tree, exp.Insert) else tree
    if isinstance(top, exp.Select) and top.args.get("group"):
        group_sqls = []
        for g in top.args["group"].expressions:
            if isinstance(g, exp.Literal) and not g.is_string:
                idx = int(g.this) - 1
                if 0 <= idx < len(top.expressions):
                    group_sqls.append(top.expressions[idx].unalias().sql())
            else:
                group_sqls.append(g.sql())
        for pos, e in enumerate(top.expressions):
            if (
                isinstance(e, exp.Alias)
                and e.alias in [g for g in group_sqls]
                or e.unalias().sql() in group_sqls
            ):
                if e.unalias().sql() != exp.column(WINDOW_COL).sql():
                    shape.output_keys.append(pos)
    if isinstance(top, exp.Select):
        for pos, e in enumerate(top.expressions):
            if e.unalias().sql() == exp.column(WINDOW_COL).sql():
                shape.window_alias_index = pos
    if len(agg_selects) != 1 or joins or shape.has_over:
        return  # a window function (or a join) ranks across keys: keep the query whole
    select = agg_selects[0]
    source = select.args.get("from_") or select.args.get("from")
    if source is None or not isinstance(source.this, exp.Table):
        return
    group = select.args.get("group")
    if not group:
        return
    aliases = {e.alias: e.unalias() for e in select.expressions if isinstance(e, exp.Alias)}
    keys = []
    for g in group.expressions:
        if isinstance(g, exp.Literal) and not g.is_string:
            idx = int(g.this) - 1
            if not 0 <= idx < len(select.expressions):
                return
            g = select.expressions[idx].unalias()
        elif isinstance(g, exp.Column) and not g.table and g.name in aliases:
            g = aliases[g.name]
        if g.sql() == exp.column(WINDOW_COL).sql():
            continue
        if any(isinstance(n, (exp.AggFunc, exp.Window)) for n in g.walk()):
            return
        g = g.copy()
        qualifiers = {source.this.name, source.this.alias_or_name}
        for col in g.find_all(exp.Column):
            if col.table in qualifiers:  # `t.x` → `x`; `bid.auction` (a struct field) stays
                col.set("table", None)
        _render_types(g)
        keys.append(g.sql(dialect="postgres"))
    shape.key_exprs = keys
    shape.key_table = source.this.name
