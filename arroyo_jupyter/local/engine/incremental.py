"""Incremental updating aggregates: per-key partial state instead of keeping every input row.

A query of the shape ``SELECT keys…, f(aggs…) FROM t [WHERE …] GROUP BY keys [HAVING …]``
with COUNT / SUM / MIN / MAX / AVG and COUNT(DISTINCT x) is split into three SQL statements:

    partial  per batch:    SELECT k0.., COUNT(x) AS a0, SUM(y) AS a1 … FROM t WHERE … GROUP BY k0..
    merge    per flush:    SELECT k0.., SUM(a0) AS a0, SUM(a1) AS a1 … FROM __merge_in GROUP BY k0..
    final    output rows:  SELECT <the select list over k*/a*> FROM __merged WHERE <having>

so the state is one row per key, and a flush only touches the keys that changed. COUNT(DISTINCT x)
keeps each key's distinct values as a list (partial ``array_agg(DISTINCT x)``, merged with
``array_distinct(flatten(…))``): state proportional to keys × distinct values, not to rows.
Other updating queries keep their input and re-run (``UpdatingOp``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlglot import exp

_MERGE = {exp.Count: "SUM", exp.Sum: "SUM", exp.Min: "MIN", exp.Max: "MAX"}


@dataclass(frozen=True)
class IncrementalPlan:
    keys: list[str]  # k0, k1, … state key columns
    partial_sql: str  # over the input table
    merge_sql: str  # over __merge_in
    final_sql: str  # over __merged
    window_key: str | None = None  # the key column holding the ``__window`` struct (windowed)
    # windowed: the partial step as a row-wise projection (keys but the window, aggregate
    # arguments, ``__t`` event time) and pyarrow hash aggregates (partial column, function)
    rows_sql: str | None = None
    arrow_aggs: tuple[tuple[str, str], ...] = ()


def _sql(node: exp.Expression | exp.AggFunc) -> str:
    return node.sql(dialect="postgres")


def plan_incremental(
    tree: exp.Expression, table_names: set[str], windowed: bool = False
) -> IncrementalPlan | None:
    """The split form of ``tree``, or None. ``windowed``: a tumble/hop aggregate whose input rows
    carry ``__window``, which must be one of the GROUP BY keys (partials are then per window);
    the aggregate may sit in subqueries under plain projections (Arroyo's usual
    ``SELECT window.start, … FROM (SELECT tumble(…) AS window, count(*) … GROUP BY …)``), whose
    final statement is then the whole query over the finalized aggregate."""
    top = tree.expression if isinstance(tree, exp.Insert) else tree
    if not windowed:
        return _plan_select(top, table_names, windowed, named=False)
    outer = top.copy()
    inner = outer
    while isinstance(inner, exp.Select) and _projection_of_subquery(inner):
        inner = (inner.args.get("from_") or inner.args["from"]).this.this
    if inner is outer:
        return _plan_select(outer, table_names, windowed, named=False)
    plan = _plan_select(inner, table_names, windowed, named=True)
    if plan is None:
        return None
    inner.replace(exp.maybe_parse(plan.final_sql, dialect="postgres"))
    return replace(plan, final_sql=_sql(outer))


def _projection_of_subquery(select: exp.Select) -> bool:
    """``SELECT <row-wise expressions> FROM (subquery) [alias] [WHERE …]``: rows in, rows out."""
    source = select.args.get("from_") or select.args.get("from")
    if (
        source is None
        or not isinstance(source.this, exp.Subquery)
        or not isinstance(source.this.this, exp.Select)
    ):
        return False
    if any(
        select.args.get(k)
        for k in ("distinct", "group", "having", "order", "limit", "offset", "joins", "qualify", "windows")
    ):
        return False
    return not any(
        e.find(exp.AggFunc, exp.Window, exp.Subquery, exp.Unnest, exp.Explode) for e in select.expressions
    )


def _plan_select(
    top: exp.Expression, table_names: set[str], windowed: bool, named: bool
) -> IncrementalPlan | None:
    """``named``: the final statement's columns keep the select list's names (it is read by
    an enclosing query); otherwise they are o0, o1, …"""
    if not isinstance(top, exp.Select) or top.args.get("distinct"):
        return None
    if any(top.args.get(k) for k in ("order", "limit", "offset", "joins", "qualify", "windows")):
        return None
    source = top.args.get("from_") or top.args.get("from")
    if source is None or not isinstance(source.this, exp.Table) or source.this.name not in table_names:
        return None
    if any(e.find(exp.Window, exp.Subquery, exp.Select) for e in top.expressions):
        return None
    if "__window" in _sql(top) and not windowed:
        return None
    items = [e.unalias() for e in top.expressions]
    aliases = {e.alias: e.unalias() for e in top.expressions if isinstance(e, exp.Alias)}

    group = top.args.get("group")
    key_nodes: list[exp.Expression] = []
    for g in group.expressions if group else []:
        if isinstance(g, exp.Literal) and not g.is_string:
            idx = int(g.this) - 1
            if not 0 <= idx < len(items):
                return None
            g = items[idx]
        elif isinstance(g, exp.Column) and not g.table and g.name in aliases:
            g = aliases[g.name]
        if any(isinstance(n, exp.AggFunc) for n in g.walk()):
            return None
        key_nodes.append(g)
    key_sql = [_sql(k) for k in key_nodes]
    keys = [f"k{i}" for i in range(len(key_nodes))]
    window_sql = _sql(exp.column("__window"))
    if windowed and window_sql not in key_sql:
        return None

    aggs: dict[
        str, tuple[str, list[tuple[str, str, str]]]
    ] = {}  # agg sql → (final expr, [(col, partial, merge)])
    arrow: dict[str, tuple[str, str | None]] = {}  # partial column → (pyarrow aggregate, argument sql)

    def register(agg: exp.AggFunc) -> str | None:
        text = _sql(agg)
        if text in aggs:
            return aggs[text][0]
        arg = agg.this
        i = len(aggs)
        if isinstance(agg, exp.Count) and isinstance(arg, exp.Distinct) and len(arg.expressions) == 1:
            # COUNT(DISTINCT x): the state is each key's set of distinct values (bounded by
            # the distinct values, not by the input rows)
            x = arg.expressions[0]
            if any(isinstance(n, exp.AggFunc) for n in x.walk()):
                return None
            x_sql = _sql(x)
            cols = [
                (
                    f"a{i}",
                    f"array_agg(DISTINCT {x_sql}) FILTER (WHERE {x_sql} IS NOT NULL)",
                    f"array_distinct(flatten(array_agg(a{i})))",
                )
            ]
            aggs[text] = (f"COALESCE(CAST(cardinality(a{i}) AS BIGINT), 0)", cols)
            arrow[f"a{i}"] = ("distinct", x_sql)
            return aggs[text][0]
        if isinstance(arg, exp.Distinct) or any(
            isinstance(n, exp.AggFunc) for n in arg.walk() if n is not agg
        ):
            return None
        arg_sql = "*" if isinstance(arg, exp.Star) else _sql(arg)
        if type(agg) in _MERGE:
            name = type(agg).__name__.upper()
            cols = [(f"a{i}", f"{name}({arg_sql})", f"{_MERGE[type(agg)]}(a{i})")]
            final = f"a{i}"
            star = isinstance(agg, exp.Count) and isinstance(arg, exp.Star)
            arrow[f"a{i}"] = ("count_all", None) if star else (name.lower(), arg_sql)
        elif isinstance(agg, exp.Avg):
            cols = [
                (f"a{i}s", f"SUM({arg_sql})", f"SUM(a{i}s)"),
                (f"a{i}c", f"COUNT({arg_sql})", f"SUM(a{i}c)"),
            ]
            final = f"(CASE WHEN a{i}c = 0 THEN NULL ELSE CAST(a{i}s AS DOUBLE) / a{i}c END)"
            arrow[f"a{i}s"], arrow[f"a{i}c"] = ("sum", arg_sql), ("count", arg_sql)
        else:
            return None
        aggs[text] = (final, cols)
        return final

    def rewrite(node: exp.Expression) -> exp.Expression | None:
        """Key expressions → k*, aggregate calls → their final form; None if not incremental."""
        node = node.copy()
        text = _sql(node)
        if text in key_sql:
            return exp.column(keys[key_sql.index(text)])
        failed = False

        def swap(n: exp.Expression) -> exp.Expression:
            nonlocal failed
            t = _sql(n)
            if t in key_sql:
                return exp.column(keys[key_sql.index(t)])
            if isinstance(n, exp.AggFunc):
                final = register(n)
                if final is None:
                    failed = True
                    return n
                return exp.maybe_parse(final, dialect="postgres")
            return n

        out = node.transform(swap)
        if failed:
            return None
        state_columns = set(keys) | {c for _, cs in aggs.values() for c, _, _ in cs}
        if any(c.name not in state_columns or c.table for c in out.find_all(exp.Column)):
            return None  # a column outside both the keys and the aggregates
        return out

    selects: list[Any] = []
    seen_keys: set[str] = set()
    for e in top.expressions:
        r: Any = rewrite(e.unalias())
        if r is None:
            return None
        if named and isinstance(r, exp.Column) and r.name in keys:
            if r.name in seen_keys:
                # a key named twice (``__window AS window, __window``): DataFusion 55's
                # push_down_leaf_projections fails on two plain references under field access
                r = exp.func("COALESCE", r, exp.null())
            else:
                seen_keys.add(r.name)
        name = e.alias if isinstance(e, exp.Alias) else e.name if isinstance(e, exp.Column) else None
        if named and not name:
            return None  # an enclosing query could not name this column
        selects.append(exp.alias_(r, name if named else f"o{len(selects)}", quoted=named))
    having = top.args.get("having")
    having_sql = ""
    if having is not None:
        cond = having.this.copy()
        cond = cond.transform(
            lambda n: (
                aliases[n.name].copy()
                if isinstance(n, exp.Column) and not n.table and n.name in aliases
                else n
            )
        )
        r = rewrite(cond)
        if r is None:
            return None
        having_sql = f" WHERE {_sql(r)}"
    if not aggs:
        return None
    cols = [c for _, cs in aggs.values() for c in cs]
    where = top.args.get("where")
    key_select = [f"{k} AS {name}" for k, name in zip(key_sql, keys, strict=True)]
    group_by = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    partial = (
        f"SELECT {', '.join(key_select + [f'{p} AS {c}' for c, p, _ in cols])} "
        f"FROM {_sql(source.this)}{' ' + _sql(where) if where is not None else ''}{group_by}"
    )
    merge = f"SELECT {', '.join(keys + [f'{m} AS {c}' for c, _, m in cols])} FROM __merge_in{group_by}"
    final = f"SELECT {', '.join(_sql(s) for s in selects)} FROM __merged{having_sql}"
    if not windowed:
        return IncrementalPlan(keys, partial, merge, final)
    window_key = keys[key_sql.index(window_sql)]
    row_cols = [f"{k} AS {name}" for k, name in zip(key_sql, keys, strict=True) if name != window_key]
    row_cols += [f"{a} AS {c}" for c, (_, a) in arrow.items() if a is not None]
    rows_sql = (
        f"SELECT {', '.join(row_cols + ['_timestamp AS __t'])} FROM {_sql(source.this)}"
        f"{' ' + _sql(where) if where is not None else ''}"
    )
    # the window is only known after the projection; pyarrow names one count_all
    usable = "__window" not in rows_sql and sum(f == "count_all" for f, _ in arrow.values()) <= 1
    rows = rows_sql if usable else None
    return IncrementalPlan(
        keys, partial, merge, final, window_key, rows, tuple((c, f) for c, (f, _) in arrow.items())
    )
