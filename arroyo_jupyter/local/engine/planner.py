"""``plan_query``: Arroyo SQL → a :class:`Program` (tables, queries, pipeline graph)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pyarrow as pa
from sqlglot import exp

from . import lookup, validate
from .catalog import TS, TableDef, table_from_connection, table_from_create
from .dag import Dag
from .dialect import Statement, split_statements
from .interface import Diagnostic, PlanError
from .translate import (
    HIDDEN,
    TIME_COL,
    WINDOW_COL,
    QueryShape,
    WindowSpec,
    _UnknownTable,
    _WindowError,
    translate,
)

PREVIEW = "preview"


@dataclass
class QueryPlan:
    index: int
    shape: QueryShape
    kind: str  # "stateless" | "windowed" | "updating"
    target: str  # a table name, or PREVIEW
    output_schema: pa.Schema  # query output without hidden columns
    statement: Statement
    node_id: int = 0  # the stateful/projection node of this query in the graph
    key_node_id: int | None = None
    pair_keys: list[int] | None = None  # updating output: positions pairing a removal with an addition

    @property
    def window(self) -> WindowSpec | None:
        return self.shape.window


@dataclass
class SinkPlan:
    table: str  # sink table (or PREVIEW)
    connector: str
    node_id: int
    operator_id: str
    schema: pa.Schema
    updating: bool
    options: dict[str, str] = field(default_factory=dict)
    primary_keys: list[str] = field(default_factory=list)


@dataclass
class Program:
    sql: str
    parallelism: int
    tables: dict[str, TableDef]
    queries: list[QueryPlan]
    sinks: list[SinkPlan]
    dag: Dag
    udfs: list[Any]
    preview: bool
    source_nodes: dict[str, tuple[int, int]] = field(default_factory=dict)  # table → (source, watermark) ids
    op_ids: dict[int, str] = field(default_factory=dict)  # node_id → operator id ("source_impulse_1", …)
    settings: dict[str, str] = field(default_factory=dict)  # SET name = value (updating_ttl)
    lookups: dict[str, Any] = field(default_factory=dict)  # derived table → its LookupJoinPlan (lookup.py)

    @property
    def graph(self) -> dict[str, Any]:
        """Arroyo's ``PipelineGraph`` JSON of the DAG."""
        return self.dag.to_json()

    @property
    def has_preview_sink(self) -> bool:
        """Arroyo's test: some node's operator contains "preview"."""
        return any("preview" in n.operator for n in self.dag.nodes)


def _df_error(err: Exception) -> str:
    text = str(err).strip()
    for prefix in ("DataFusion error: ", "Execution error: "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text.split("\n")[0] if len(text) > 600 else text


def _input_schema(table: TableDef, windowed: bool) -> pa.Schema:
    schema = table.schema or pa.schema([])
    fields = list(schema) + [pa.field(TIME_COL, TS, False)]
    if windowed:
        fields.append(pa.field(WINDOW_COL, pa.struct([pa.field("start", TS), pa.field("end", TS)])))
    return pa.schema(fields)


def new_context(udfs: Sequence[Any]) -> Any:
    from datafusion import SessionConfig, SessionContext

    from .functions import register_builtins, register_udfs

    config = SessionConfig().with_target_partitions(1).with_information_schema(False)
    ctx = SessionContext(config)
    register_builtins(ctx)
    register_udfs(ctx, udfs)
    return ctx


def _classify(
    shape: QueryShape, tables: dict[str, TableDef], updating_tables: set[str], stmt: Statement
) -> str:
    updating_input = any(t in updating_tables for t in shape.inputs)
    if shape.window is not None:
        if updating_input:
            raise stmt.error("windowed aggregates over updating inputs are not supported")
        if shape.window.kind == "session" and not shape.has_aggregate:
            raise stmt.error("session windows can only be used in a GROUP BY")
        return "windowed"
    if shape.has_join and shape.non_inner_join:
        raise stmt.error("This feature is not implemented: can't handle non-inner joins without windows")
    if shape.updating_join_side:
        raise stmt.error(
            f"Error during planning: can't handle updating {shape.updating_join_side} side of join"
        )
    if updating_input or shape.has_aggregate or shape.has_join or shape.has_over or shape.distinct:
        return "updating"
    return "stateless"


def plan_query(
    sql: str,
    *,
    parallelism: int = 1,
    preview: bool = False,
    enable_sinks: bool = False,
    udfs: Sequence[Any] = (),
    tables: dict[str, dict[str, Any]] | None = None,
) -> Program:
    """Plan a pipeline script. Raises :class:`PlanError` with positioned diagnostics."""
    if parallelism < 1:
        raise PlanError([Diagnostic("parallelism must be at least 1")])
    from .functions import load_udfs

    try:
        udf_defs = load_udfs(udfs)
    except ValueError as err:
        raise PlanError([Diagnostic(str(err))]) from None
    statements = split_statements(sql)
    catalog: dict[str, TableDef] = {}
    for name, spec in (tables or {}).items():
        try:
            catalog[name] = table_from_connection(name, spec)
        except PlanError:
            raise
    views: dict[str, exp.Expression] = {}
    lookups: dict[str, lookup.LookupJoinPlan] = {}  # derived table → lookup join (lookup.py)
    pending: list[tuple[Statement, str | None, exp.Expression]] = []
    settings: dict[str, str] = {}
    for stmt in statements:
        ast = stmt.ast
        if isinstance(ast, exp.Command):  # sqlglot gave up on the statement's grammar
            raise stmt.error(
                f"SQL error: cannot parse this {stmt.text.split()[0].upper()} statement; check its syntax"
            )
        if isinstance(ast, exp.Create):
            kind = (ast.args.get("kind") or "").upper()
            if kind == "TABLE":
                table = table_from_create(stmt)
                if table.name in catalog or table.name in views:
                    raise stmt.error(f"table '{table.name}' is defined twice")
                catalog[table.name] = table
            elif kind == "VIEW":
                name = ast.this.name
                if ast.expression is None:
                    raise stmt.error(f"view '{name}' needs a query: CREATE VIEW {name} AS SELECT ...")
                if name in catalog or name in views:
                    raise stmt.error(f"view '{name}' is defined twice")
                validate.check_view(
                    stmt, ast.expression, catalog, views
                )  # (sql engineer: errors at the view)
                views[name] = lookup.rewrite(stmt, ast.expression, catalog, views, lookups, udf_defs)
            else:
                raise stmt.error(f"CREATE {kind} is not supported; use CREATE TABLE or CREATE VIEW")
        elif isinstance(ast, exp.Insert):
            target = ast.this.this.name if isinstance(ast.this, exp.Schema) else ast.this.name
            if not isinstance(ast.expression, exp.Query):
                raise stmt.error(f"INSERT INTO {target} needs a query: INSERT INTO {target} SELECT ...")
            pending.append((stmt, target, cast(exp.Expression, ast.expression)))
        elif isinstance(ast, (exp.Select, exp.Union, exp.Subquery)) or isinstance(ast, exp.Query):
            pending.append((stmt, None, ast))
        elif isinstance(ast, exp.Set):
            settings.update(validate.read_set(stmt))
        else:
            raise stmt.error(
                f"unsupported statement '{stmt.text.split()[0]}': use CREATE TABLE, CREATE VIEW, INSERT INTO or SELECT"
            )
    if not pending:
        raise PlanError(
            [
                Diagnostic(
                    "The provided SQL does not contain a query", statements[-1].start, statements[-1].end
                )
            ]
        )

    validate.check_program(pending, catalog, views)  # Arroyo's refusals (validate.py)
    for table in catalog.values():
        _check_watermark(table, udf_defs)
    queries: list[QueryPlan] = []
    updating_tables = {n for n, t in catalog.items() if t.updating}
    # memory tables written by updating queries are updating too: plan writers first
    order = sorted(pending, key=lambda p: _depth(p, pending, catalog, views))
    for i, (stmt, target, query) in enumerate(order):
        if target is not None:
            written = catalog.get(target)
            if written is None:
                raise stmt.error(f"table '{target}' does not exist; create it with CREATE TABLE first")
            if written.kind == "source":
                raise stmt.error(f"attempted to insert into table '{target}', but it is a source")
            if written.kind == "lookup":
                raise stmt.error(
                    f"'{target}' is a lookup table (read by JOIN … ON); drop TEMPORARY to write to it"
                )
        query = lookup.rewrite(
            stmt, query, catalog, views, lookups, udf_defs
        )  # lookup joins → a lookup node's table
        try:
            shape = translate(query, views, set(catalog))
        except _UnknownTable as err:
            raise stmt.error(f"table '{err.args[0]}' not found") from None
        except _WindowError as err:
            raise stmt.error(str(err)) from None
        validate.check_query(stmt, query, shape, catalog)
        lookup.check_streams(stmt, shape.inputs, lookups, updating_tables)
        for name in shape.inputs:
            if catalog[name].kind == "sink":
                raise stmt.error(f"table '{name}' is a sink; it cannot be read from")
        kind = _classify(shape, catalog, updating_tables, stmt)
        declared = catalog[target].schema if target is not None else None
        out_schema = _output_schema(shape, catalog, kind, udf_defs, stmt, check_names=declared is None)
        if (
            kind not in ("updating", "windowed")
            or any(t in updating_tables for t in shape.inputs)
            or not (_incremental_plans(shape, catalog, udf_defs, out_schema, windowed=kind == "windowed"))
        ):
            shape.incremental = None  # keep the input and re-run the query instead
        if kind == "stateless" and shape.sql_with_time and _plans(shape, catalog, udf_defs):
            shape.sql = shape.sql_with_time  # rows keep their own event time
        if target is not None and catalog[target].kind == "memory" and kind == "updating":
            updating_tables.add(target)
        plan = QueryPlan(i, shape, kind, target or PREVIEW, out_schema, stmt)
        if kind == "updating":
            from .operators import pair_keys_of

            plan.pair_keys = pair_keys_of(plan)  # parsed here, not when the job runs
        queries.append(plan)

    for q in queries:
        if q.target != PREVIEW:
            table = catalog[q.target]
            if table.schema is not None and len(table.schema) != len(q.output_schema):
                raise q.statement.error(
                    f"INSERT INTO '{q.target}' has {len(q.output_schema)} columns but the table has {len(table.schema)}"
                )
    from .graph import build_graph

    program = Program(
        sql,
        parallelism,
        catalog,
        queries,
        [],
        Dag(),
        udf_defs,
        preview,
        settings=settings,
        lookups=dict(lookups),
    )
    build_graph(program, preview=preview, enable_sinks=enable_sinks, updating_tables=updating_tables)
    return program


def _plans(shape: QueryShape, catalog: dict[str, TableDef], udfs) -> bool:
    ctx = new_context(udfs)
    for name in shape.inputs:
        ctx.register_record_batches(
            name, [[pa.RecordBatch.from_pylist([], schema=_input_schema(catalog[name], False))]]
        )
    try:
        ctx.sql(shape.sql_with_time)
        return True
    except Exception:  # not row-wise after all (DataFusion says why; the plain SQL is used)
        return False


def _incremental_plans(
    shape: QueryShape, catalog: dict[str, TableDef], udfs, out_schema: pa.Schema, windowed: bool = False
) -> bool:
    """The partial / merge / final statements of an incremental aggregate plan and fit together
    (for windows, whose results must equal the raw query's, with the same column types too)."""
    inc = shape.incremental
    if inc is None or (inc.window_key is not None) != windowed:
        return False
    if windowed and shape.key_exprs and len(inc.keys) - 1 != len(shape.key_exprs):
        return False  # restored partials must route like the rows they came from
    ctx = new_context(udfs)
    for name in shape.inputs:
        schema = _input_schema(catalog[name], windowed)
        ctx.register_record_batches(name, [[pa.RecordBatch.from_pylist([], schema=schema)]])
    try:
        partial = ctx.sql(inc.partial_sql).to_arrow_table()
        ctx.register_record_batches(
            "__merge_in", [partial.to_batches() or [pa.RecordBatch.from_pylist([], schema=partial.schema)]]
        )
        merged = ctx.sql(inc.merge_sql).to_arrow_table()
        ctx.register_record_batches(
            "__merged", [merged.to_batches() or [pa.RecordBatch.from_pylist([], schema=merged.schema)]]
        )
        final = ctx.sql(inc.final_sql).to_arrow_table().schema  # executed: optimizer rules run too
        if windowed:
            return [f.type for f in final] == [f.type for f in out_schema]
        return len(final) == len(out_schema)
    except Exception:  # DataFusion could not run the split form: fall back to re-running the query
        return False


def _check_watermark(table: TableDef, udfs) -> None:
    """The event-time column must be a timestamp and the watermark expression must plan."""
    if table.kind != "source" or table.schema is None:
        return
    stmt = table.statement

    def fail(message: str) -> PlanError:
        return stmt.error(message) if stmt else PlanError([Diagnostic(message)])

    if table.event_time_field is not None:
        typ = table.schema.field(table.event_time_field).type
        if not pa.types.is_timestamp(typ):
            raise fail(f"event time field '{table.event_time_field}' must be a TIMESTAMP, not {typ}")
    if table.watermark and table.watermark[1]:
        ctx = new_context(udfs)
        ctx.register_record_batches(
            table.name, [[pa.RecordBatch.from_pylist([], schema=_input_schema(table, False))]]
        )
        try:
            typ = ctx.sql(f"SELECT max({table.watermark[1]}) FROM {table.name}").schema().field(0).type
        except Exception as err:  # DataFusion raises plain exceptions
            raise fail(f"invalid watermark expression: {_df_error(err)}") from None
        if not pa.types.is_timestamp(typ):
            raise fail(f"the watermark expression must be a TIMESTAMP, not {typ}")


def _depth(item, pending, catalog, views) -> int:
    """Writers of memory tables before their readers (a stable topological order)."""
    stmt, target, query = item
    writers = {
        t: q
        for _, t, q in pending
        if t is not None and catalog.get(t) is not None and catalog[t].kind == "memory"
    }
    seen: set[str] = set()

    def depth(q: exp.Expression) -> int:
        best = 0
        names = {t.name for t in q.find_all(exp.Table)}
        for view in [views[n] for n in names if n in views]:
            names |= {t.name for t in view.find_all(exp.Table)}
        for name in names:
            if name in writers and name not in seen:
                seen.add(name)
                best = max(best, 1 + depth(writers[name]))
        return best

    return depth(query)


def _output_schema(
    shape: QueryShape, catalog: dict[str, TableDef], kind: str, udfs, stmt: Statement, check_names: bool
) -> pa.Schema:
    ctx = new_context(udfs)
    for name in shape.inputs:
        schema = _input_schema(catalog[name], kind == "windowed")
        ctx.register_record_batches(name, [[pa.RecordBatch.from_pylist([], schema=schema)]])
    try:
        schema = ctx.sql(shape.sql).schema()
    except Exception as err:  # DataFusion raises plain exceptions with its message
        raise stmt.error(_df_error(err)) from None
    fields = [f for f in schema if f.name not in HIDDEN]
    if not fields:
        raise stmt.error("the query has no output columns")
    names = [f.name for f in fields]
    if check_names and len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise stmt.error(f"the query has two output columns named '{dup}'; give them distinct aliases")
    return pa.schema(fields)
