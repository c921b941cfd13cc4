"""Planning Arroyo's lookup joins: ``FROM stream s [LEFT] JOIN lookup_table t ON <expr of s> = t.key``.

The join is taken out of the query: a lookup-join node (lookup_join.py) turns each batch of the
stream into a batch of a derived table ``__lookup_N`` (the stream's columns, then the lookup
table's, renamed where they collide), and the query reads that table under the stream's alias
instead, its references to ``t.col`` re-pointed at the derived columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from .catalog import TableDef
from .dialect import Statement

DEFAULT_CACHE_BYTES = 8 * 1024 * 1024  # when only lookup.cache.ttl is set
SHAPE = "JOIN <lookup table> ON <expression of the stream> = <lookup table>.<its key column>"


@dataclass
class LookupJoinPlan:
    name: str  # the derived table the join's node emits
    stream: str  # the table joined (its rows go in)
    lookup: TableDef
    key_column: str  # the lookup table's column with METADATA FROM 'key'
    key_query: exp.Select  # SELECT <key expression> AS __key FROM stream (translated when run)
    left: bool  # LEFT JOIN: rows without a value are kept (lookup columns null)
    columns: dict[str, str]  # lookup column → its name in the derived table
    schema: pa.Schema  # the derived table's columns
    cache: tuple[int, float | None] | None = (
        None  # (max bytes, ttl seconds) of lookup.cache.*; None: no cache
    )


def key_column(table: TableDef) -> str:
    return next(c for c, k in table.metadata.items() if k == "key" and c in table.primary_keys)


def rewrite(
    stmt: Statement,
    query: exp.Expression,
    catalog: dict[str, TableDef],
    views: dict[str, exp.Expression],
    plans: dict[str, LookupJoinPlan],
    udfs: Any = (),
) -> exp.Expression:
    """The query without its lookup joins (new ones are added to ``plans`` and ``catalog``)."""
    lookups = {n for n, t in catalog.items() if t.kind == "lookup"}
    if not any(t.name in lookups for t in query.find_all(exp.Table)):
        return query
    query = query.copy()
    for select in list(query.find_all(exp.Select)):
        # lookup joins first, one after the other (each reads the table the one before made)
        while (
            (joins := select.args.get("joins"))
            and isinstance(joins[0].this, exp.Table)
            and (joins[0].this.name in lookups)
        ):
            _rewrite_join(stmt, select, joins[0], catalog, views, plans, udfs)
        for join in select.args.get("joins") or []:
            if isinstance(join.this, exp.Table) and join.this.name in lookups:
                raise stmt.error_at(
                    f"lookup joins must come before other joins of their SELECT: FROM stream {SHAPE}",
                    join.this,
                )
    for table in query.find_all(exp.Table):
        if table.name in lookups:
            raise stmt.error_at(
                f"lookup table '{table.name}' can only be read through a join: FROM stream {SHAPE}", table
            )
    return query


def _rewrite_join(
    stmt: Statement,
    select: exp.Select,
    join: exp.Join,
    catalog: dict[str, TableDef],
    views: dict[str, exp.Expression],
    plans: dict[str, LookupJoinPlan],
    udfs: Any,
) -> None:
    lookup = catalog[join.this.name]
    side, kind = (join.args.get("side") or "").upper(), (join.args.get("kind") or "").upper()
    if side not in ("", "LEFT") or kind not in ("", "INNER", "OUTER"):
        raise stmt.error_at("lookup joins are INNER or LEFT joins", join.this)
    source = select.args["from_"].this
    if not isinstance(source, exp.Table) or source.name in views or source.name not in catalog:
        raise stmt.error_at(
            f"the left side of a lookup join must be a table (not a view or subquery): {SHAPE}", source
        )
    stream = catalog[source.name]
    if stream.updating:
        raise stmt.error_at("lookup joins read append-only streams; this table is updating", source)
    s_alias, t_alias = source.alias_or_name, join.this.alias_or_name
    s_cols = (stream.schema or pa.schema([])).names
    t_schema = lookup.schema or pa.schema([])
    key = key_column(lookup)

    def in_lookup(col: exp.Column) -> bool:
        return col.table == t_alias or (
            not col.table and col.name in t_schema.names and col.name not in s_cols
        )

    on = join.args.get("on")
    sides = [on.this, on.expression] if isinstance(on, exp.EQ) else []
    keyed = [s for s in sides if isinstance(s, exp.Column) and in_lookup(s) and s.name == key]
    other = [s for s in sides if s not in keyed]
    if len(keyed) != 1 or len(other) != 1 or any(in_lookup(c) for c in other[0].find_all(exp.Column)):
        raise stmt.error_at(
            f"a lookup join's ON must be one equality with the key column '{key}': {SHAPE}", on or join.this
        )

    taken = set(s_cols)
    columns: dict[str, str] = {}
    for f in t_schema:
        name = f.name if f.name not in taken else f"{t_alias}_{f.name}"
        while name in taken:
            name += "_"
        taken.add(name)
        columns[f.name] = name
    name = f"__lookup_{len(plans) + 1}"
    schema = pa.schema(
        list(stream.schema or []) + [pa.field(columns[f.name], f.type, True) for f in t_schema]
    )
    key_query = exp.select(exp.alias_(other[0].copy(), "__key")).from_(
        exp.Table(this=exp.to_identifier(source.name), alias=exp.TableAlias(this=exp.to_identifier(s_alias)))
    )
    _check_key(stmt, key_query, stream, other[0], udfs)
    cache = _cache_options(stmt, lookup)
    plans[name] = LookupJoinPlan(
        name, source.name, lookup, key, key_query, side == "LEFT", columns, schema, cache
    )
    catalog[name] = TableDef(name, schema, None, kind="joined")  # written by the join's node only

    for star in list(select.find_all(exp.Column)):  # (the derived columns have other names)
        if isinstance(star.this, exp.Star) and star.table == t_alias:
            raise stmt.error_at(f"list the lookup table's columns instead of {t_alias}.*", star)
    for col in list(select.find_all(exp.Column)):
        if col.find_ancestor(exp.Select) is not select or not in_lookup(col):
            continue
        if col.name not in columns:
            raise stmt.error_at(f"lookup table '{lookup.name}' has no column '{col.name}'", col)
        col.set("table", exp.to_identifier(s_alias))
        col.set("this", exp.to_identifier(columns[col.name]))
    joins = select.args["joins"]
    joins.remove(join)
    if not joins:
        select.set("joins", None)
    source.set("this", exp.to_identifier(name))
    source.set("alias", exp.TableAlias(this=exp.to_identifier(s_alias)))


def _check_key(
    stmt: Statement, key_query: exp.Select, stream: TableDef, at: exp.Expression, udfs: Any
) -> None:
    """The key expression plans over the stream (as the operator will run it), or a positioned error."""
    from .planner import _df_error, _input_schema, new_context
    from .translate import translate

    ctx = new_context(udfs)
    ctx.register_record_batches(
        stream.name, [[pa.RecordBatch.from_pylist([], schema=_input_schema(stream, False))]]
    )
    try:
        ctx.sql(translate(key_query, {}, {stream.name}).sql).schema()
    except Exception as err:  # DataFusion raises plain exceptions
        raise stmt.error_at(f"the lookup join's key expression: {_df_error(err)}", at) from None


def check_streams(
    stmt: Statement, inputs: list[str], plans: dict[str, LookupJoinPlan], updating: set[str]
) -> None:
    """Lookup joins read append-only streams: a table of changes (an updating query's) is refused."""
    for name in inputs:
        if name in plans and plans[name].stream in updating:
            raise stmt.error_at(
                f"lookup joins read append-only streams; '{plans[name].stream}' is updating",
                plans[name].stream,
            )


def _cache_options(stmt: Statement, table: TableDef) -> tuple[int, float | None] | None:
    """``lookup.cache.max_bytes`` (a positive integer) and ``lookup.cache.ttl`` (an interval)."""
    from .translate import interval_ns

    max_bytes, ttl = table.options.get("lookup.cache.max_bytes"), table.options.get("lookup.cache.ttl")
    if max_bytes is None and ttl is None:
        return None
    try:
        size = int(max_bytes) if max_bytes is not None else DEFAULT_CACHE_BYTES
        if size <= 0:
            raise ValueError
    except ValueError:
        raise stmt.error_at(
            f"lookup.cache.max_bytes must be a positive number of bytes, got '{max_bytes}'", table.name
        ) from None
    try:
        seconds = interval_ns(exp.Literal.string(ttl)) / 1e9 if ttl is not None else None
    except ValueError as err:
        raise stmt.error_at(f"lookup.cache.ttl: {err}", table.name) from None
    return size, seconds
