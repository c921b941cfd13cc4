"""Tables of a pipeline: ``CREATE TABLE`` statements and server connection tables → TableDef."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlglot import exp

from . import connectors as connector_registry
from .dialect import Statement
from .interface import Diagnostic, PlanError
from .jsonio import GENERATED, TIMESTAMP_FORMATS

TS = pa.timestamp("ns")

_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "TINYINT": pa.int8(),
    "SMALLINT": pa.int16(),
    "INT": pa.int32(),
    "MEDIUMINT": pa.int32(),
    "BIGINT": pa.int64(),
    "UTINYINT": pa.uint8(),
    "USMALLINT": pa.uint16(),
    "UINT": pa.uint32(),
    "UMEDIUMINT": pa.uint32(),
    "UBIGINT": pa.uint64(),
    "FLOAT": pa.float32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "TEXT": pa.string(),
    "VARCHAR": pa.string(),
    "CHAR": pa.string(),
    "NVARCHAR": pa.string(),
    "NCHAR": pa.string(),
    "JSON": pa.string(),
    "JSONB": pa.string(),
    "BINARY": pa.binary(),
    "VARBINARY": pa.binary(),
    "BLOB": pa.binary(),
    "DATE": pa.date32(),
    "TIMESTAMP": TS,
    "TIMESTAMPTZ": TS,
    "DATETIME": TS,
}


def arrow_type(kind: exp.DataType) -> pa.DataType:
    """A SQL column type as an Arrow type (timestamps always in ns, as Arroyo stores them)."""
    name = kind.this.name if hasattr(kind.this, "name") else str(kind.this)
    if name in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[name]
    if name == "DECIMAL":
        params = [int(p.name) for p in kind.expressions] or [38, 10]
        return pa.decimal128(params[0], params[1] if len(params) > 1 else 0)
    if name == "ARRAY":
        return pa.list_(arrow_type(kind.expressions[0]))
    if name == "STRUCT":
        fields = []
        for col in kind.expressions:
            if not isinstance(col, exp.ColumnDef) or col.args.get("kind") is None:
                raise ValueError(
                    f"each STRUCT field needs a name and a type, e.g. STRUCT<name TEXT>, not {kind.sql()}"
                )
            fields.append(pa.field(col.name, arrow_type(col.args["kind"])))
        return pa.struct(fields)
    raise ValueError(f"unsupported type {kind.sql()}")


@dataclass
class TableDef:
    name: str
    schema: pa.Schema | None  # None: inferred (sinks without columns)
    connector: str | None  # None: an in-memory table
    options: dict[str, str] = field(default_factory=dict)
    kind: str = "source"  # "source" | "sink" | "memory" | "lookup" | "joined" (lookup.py)
    watermark: tuple[str, str | None] | None = None
    event_time_field: str | None = None
    primary_keys: list[str] = field(default_factory=list)
    json_columns: set[str] = field(default_factory=set)
    statement: Statement | None = None
    # column → key of ``col TYPE METADATA FROM 'key'``: the source fills these (not the payload)
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def format(self) -> str | None:
        return self.options.get("format")

    @property
    def updating(self) -> bool:
        """A source whose rows are changes (Debezium), not appends."""
        return self.kind == "source" and self.format == "debezium_json"


IMPULSE_SCHEMA = pa.schema(
    [pa.field("counter", pa.int64(), False), pa.field("subtask_index", pa.int64(), False)]
)

_PERSON = pa.struct(
    [
        pa.field(n, t, False)
        for n, t in [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("email_address", pa.string()),
            ("credit_card", pa.string()),
            ("city", pa.string()),
            ("state", pa.string()),
            ("datetime", TS),
            ("extra", pa.string()),
        ]
    ]
)
_AUCTION = pa.struct(
    [
        pa.field(n, t, False)
        for n, t in [
            ("id", pa.int64()),
            ("description", pa.string()),
            ("item_name", pa.string()),
            ("initial_bid", pa.int64()),
            ("reserve", pa.int64()),
            ("datetime", TS),
            ("expires", TS),
            ("seller", pa.int64()),
            ("category", pa.int64()),
            ("extra", pa.string()),
        ]
    ]
)
_BID = pa.struct(
    [
        pa.field(n, t, False)
        for n, t in [
            ("auction", pa.int64()),
            ("bidder", pa.int64()),
            ("price", pa.int64()),
            ("channel", pa.string()),
            ("url", pa.string()),
            ("datetime", TS),
            ("extra", pa.string()),
        ]
    ]
)
NEXMARK_SCHEMA = pa.schema(
    [pa.field("person", _PERSON), pa.field("auction", _AUCTION), pa.field("bid", _BID)]
)

SOURCE_CONNECTORS = {"impulse", "nexmark", "single_file"} | set(connector_registry.SOURCES)
SINK_CONNECTORS = {"single_file", "blackhole", "stdout", "preview"} | set(connector_registry.SINKS)
KNOWN_CONNECTORS = SOURCE_CONNECTORS | SINK_CONNECTORS
FORMATS = {"json", "debezium_json"} | connector_registry.FORMATS


def _option_value(value: exp.Expression) -> str:
    if isinstance(value, exp.Literal):
        return str(value.this)
    if isinstance(value, exp.Boolean):
        return "true" if value.this else "false"
    return value.name or value.sql()


def _options(properties: exp.Properties | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for prop in properties.expressions if properties else []:
        if isinstance(prop, exp.Property) and prop.args.get("value") is not None:
            key = prop.this.this if isinstance(prop.this, exp.Literal) else prop.this.name
            out[str(key).lower()] = _option_value(prop.args["value"])
        else:  # e.g. sqlglot's typed properties: fall back to their SQL text
            text = prop.sql(dialect="postgres")
            if "=" in text:
                key, _, value = text.partition("=")
                out[key.strip().strip("'\"").lower()] = value.strip().strip("'\"")
    return out


def _finish(table: TableDef, stmt: Statement | None) -> TableDef:
    def fail(message: str) -> PlanError:
        return stmt.error(message) if stmt else PlanError([Diagnostic(message)])

    opts = table.options
    connector = table.connector
    if connector is None:
        table.kind = "memory"
        if table.schema is None:
            raise fail(f"in-memory table '{table.name}' needs a column list")
        return table
    if connector not in KNOWN_CONNECTORS:
        raise fail(f"unknown connector '{connector}'; available: {', '.join(sorted(KNOWN_CONNECTORS))}")
    kind = opts.get("type")
    if kind is None:  # a connector that is only a source (or only a sink) needs no type
        kind = (
            "source"
            if connector in ("impulse", "nexmark") or connector in SOURCE_CONNECTORS - SINK_CONNECTORS
            else "sink"
            if connector in SINK_CONNECTORS - SOURCE_CONNECTORS
            else None
        )
    if kind == "lookup":  # joined with JOIN … ON (lookup.py); Arroyo's own rules were checked on CREATE
        if connector not in LOOKUP_CONNECTORS:
            raise fail(
                f"connector '{connector}' has no lookups (only {', '.join(sorted(LOOKUP_CONNECTORS))})"
            )
        if table.schema is None:
            raise fail(f"lookup table '{table.name}' needs a column list")
        if not any(k == "key" and c in table.primary_keys for c, k in table.metadata.items()):
            raise fail(REDIS_KEY_RULE)
        if table.format not in (None, "json", "raw_string"):
            raise fail(
                f"lookup table '{table.name}' reads format = 'json' or 'raw_string', not '{table.format}'"
            )
        table.kind = "lookup"
        return table
    if kind not in ("source", "sink"):
        raise fail(f"table '{table.name}' needs type = 'source' or 'sink'")
    table.kind = kind
    if kind == "source" and connector not in SOURCE_CONNECTORS:
        raise fail(f"connector '{connector}' can only be used as a sink")
    if kind == "sink" and connector not in SINK_CONNECTORS:
        raise fail(f"connector '{connector}' can only be used as a source")
    if table.format is not None and table.format not in FORMATS:
        raise fail(f"unsupported format '{table.format}'; use one of {', '.join(sorted(FORMATS))}")
    ts_format = opts.get("json.timestamp_format")
    if ts_format is not None and ts_format not in TIMESTAMP_FORMATS:
        raise fail(f"invalid json.timestamp_format '{ts_format}'; use one of {', '.join(TIMESTAMP_FORMATS)}")
    if connector == "stdout" and table.format is None:
        raise fail("stdout sink requires a format, e.g. format = 'json'")
    if connector == "single_file":
        if "path" not in opts:
            raise fail(f"single_file table '{table.name}' requires path = '...'")
        if table.format is None:
            raise fail(f"single_file table '{table.name}' requires format = 'json' or 'debezium_json'")
    if connector == "impulse":
        if "event_rate" not in opts:
            raise fail("impulse source requires event_rate")
        if table.schema is not None and [(f.name, f.type) for f in table.schema] != [
            (f.name, f.type) for f in IMPULSE_SCHEMA
        ]:
            raise fail("invalid schema for impulse source")
        table.schema = IMPULSE_SCHEMA
    if connector == "nexmark":
        if "event_rate" not in opts:
            raise fail("nexmark source requires event_rate")
        if table.schema is not None and table.schema.names != NEXMARK_SCHEMA.names:
            raise fail("invalid schema for nexmark source; omit fields to rely on inference")
        table.schema = NEXMARK_SCHEMA
    for key in ("event_rate", "message_count", "event_time_interval", "runtime"):
        if key in opts:
            try:
                float(opts[key])
            except ValueError:
                raise fail(f"option {key} must be a number, got '{opts[key]}'") from None
    problem = connector_registry.check_options(
        connector, kind, table.format, opts, table.schema, table.metadata
    )
    if problem:
        raise fail(problem)
    if kind == "source" and connector == "single_file":
        if opts.get("json.unstructured", "false").lower() == "true":
            if table.schema is None:
                table.schema = pa.schema([pa.field("value", pa.string())])
                table.json_columns.add("value")
        elif table.schema is None:
            raise fail(f"source table '{table.name}' needs a column list for format '{table.format}'")
    table.event_time_field = opts.get("event_time_field")
    if table.watermark is not None and table.event_time_field is None:
        table.event_time_field = table.watermark[0]
    if table.event_time_field is not None and kind == "source":
        names = table.schema.names if table.schema is not None else []
        if table.event_time_field not in names:
            raise fail(f"event time field '{table.event_time_field}' is not a column of '{table.name}'")
    return table


LOOKUP_CONNECTORS = {"redis"}  # connectors that serve lookup joins (CREATE TEMPORARY TABLE …)
REDIS_KEY_RULE = (
    "Redis lookup tables must have a PRIMARY KEY field defined as `field_name TEXT METADATA FROM 'key'`"
)

# Metadata a connector offers to ``col TYPE METADATA FROM 'key'`` (Arroyo's metadata_defs)
METADATA_FIELDS: dict[str, dict[str, pa.DataType]] = {
    "kafka": {
        "offset_id": pa.int64(),
        "partition": pa.int32(),
        "topic": pa.string(),
        "timestamp": pa.int64(),
        "key": pa.binary(),
    },
    "mqtt": {"topic": pa.string()},
    "redis": {"key": pa.string()},  # lookup tables: the looked-up key
}
_SQL_NAMES = {
    pa.string(): "TEXT",
    pa.int32(): "INT",
    pa.int64(): "BIGINT",
    pa.binary(): "BYTEA",
    pa.float64(): "DOUBLE",
    pa.float32(): "FLOAT",
    pa.bool_(): "BOOLEAN",
    TS: "TIMESTAMP",
}


def _sql_name(t: pa.DataType) -> str:
    return _SQL_NAMES.get(t, str(t).upper())


def _check_arroyo_table_rules(
    stmt: Statement,
    name: str,
    opts: dict[str, str],
    fields: list[pa.Field],
    generated: dict[str, exp.Expression],
    pks: list[str],
) -> None:
    """CREATE TABLE rules of Arroyo's planner that do not depend on our connectors being there:
    TEMPORARY tables, metadata columns and generated columns (checked by planning them)."""

    def failed(message: str, at: exp.Expression | str | None) -> PlanError:
        return stmt.error_at(f"Failed to create table {name} caused by Error during planning: {message}", at)

    connector = opts.get("connector")
    temporary = any(isinstance(p, exp.TemporaryProperty) for p in stmt.ast.find_all(exp.TemporaryProperty))
    if temporary and connector is not None:  # Arroyo's lookup tables (joined with JOIN … ON)
        if connector not in LOOKUP_CONNECTORS:
            raise stmt.error_at(
                f"CREATE TEMPORARY TABLE declares a lookup table, and connector '{connector}' has no lookups "
                f"(only {', '.join(sorted(LOOKUP_CONNECTORS))}); drop TEMPORARY for a {connector} table",
                "TEMPORARY",
            )
        opts.setdefault("type", "lookup")
    if generated and opts.get("format") == "debezium_json":
        raise failed("can't use virtual fields with debezium format", next(iter(generated.values())))
    if connector in LOOKUP_CONNECTORS and opts.get("type") == "lookup":
        keyed = [c for c, k in stmt.metadata.items() if k == "key" and c in pks]
        if not keyed:
            raise stmt.error_at(
                REDIS_KEY_RULE,
                pks[0] if pks else name,
            )
    types = {f.name: f.type for f in fields}
    for column, key in stmt.metadata.items():
        offered = METADATA_FIELDS.get(connector or "")
        if offered is None:
            raise stmt.error_at(
                f"METADATA FROM is not supported for connector '{connector or 'memory'}'", column
            )
        if key not in offered:
            raise failed(
                f"unknown metadata field '{key}' for connector '{connector}'; it offers "
                + ", ".join(sorted(offered)),
                column,
            )
        if column in types and types[column] != offered[key]:
            raise failed(
                f"incorrect data type for metadata field '{column}'; expected {_sql_name(offered[key])}, "
                f"but found {_sql_name(types[column])}",
                column,
            )
    if generated:
        from .jsonio import compute_generated, is_generated

        schema = pa.schema(fields)
        empty = [None if is_generated(f) else pa.array([], f.type) for f in schema]
        try:
            compute_generated(empty, schema, 0)
        except ValueError as err:
            first = next(iter(generated.values()))
            reason = str(err).removeprefix("Error during planning: ")
            raise failed(f"generated column: {reason}", first) from None


def _generated_sql(stmt: Statement, table: str, expr: exp.Expression) -> str:
    """A generated column's expression as DataFusion runs it: Arroyo's JSON operators and
    functions (``value->>'name'``, ``json_get_str``) become the engine's, as in queries."""
    from .translate import JsonArgumentError, rewrite_json

    holder = exp.Paren(this=expr.copy())
    try:
        rewrite_json(holder)
    except JsonArgumentError as err:
        raise stmt.error_at(
            f"Failed to create table {table} caused by Error during planning: generated column: {err}", expr
        ) from None
    return holder.this.sql(dialect="postgres")


def table_from_create(stmt: Statement) -> TableDef:
    ast = stmt.ast
    schema_node = ast.this
    name = schema_node.this.name if isinstance(schema_node, exp.Schema) else schema_node.name
    columns = schema_node.expressions if isinstance(schema_node, exp.Schema) else []
    fields: list[pa.Field] = []
    pks: list[str] = []
    json_cols: set[str] = set()
    generated: dict[str, exp.Expression] = {}
    for col in columns:
        if isinstance(col, exp.PrimaryKey):
            pks.extend(c.name for c in col.expressions)
            continue
        if not isinstance(col, exp.ColumnDef) or col.args.get("kind") is None:
            name = col.name or col.sql()
            raise stmt.error_at(f"column '{name}' needs a type, e.g. {name} TEXT", name)
        kind = col.args["kind"]
        try:
            typ = arrow_type(kind)
        except ValueError as err:
            raise stmt.error(f"column '{col.name}': {err}") from None
        constraints = [c.args.get("kind") for c in col.args.get("constraints") or []]
        not_null = any(
            isinstance(c, exp.NotNullColumnConstraint) and not c.args.get("allow_null") for c in constraints
        )
        if any(isinstance(c, exp.PrimaryKeyColumnConstraint) for c in constraints):
            pks.append(col.name)
        if kind.this == exp.DataType.Type.JSON:
            json_cols.add(col.name)
        computed = next((c for c in constraints if isinstance(c, exp.ComputedColumnConstraint)), None)
        expr = computed.this if computed is not None else None
        for c in constraints:  # without STORED sqlglot reads GENERATED ALWAYS AS (expr) as an identity
            if isinstance(c, exp.GeneratedAsIdentityColumnConstraint):
                if c.args.get("expression") is None:  # IDENTITY, or the expression left out
                    raise stmt.error_at(
                        f"column '{col.name}': GENERATED ALWAYS AS needs an expression in parentheses, "
                        "e.g. GENERATED ALWAYS AS (price * 2); identity columns are not supported",
                        col.name,
                    )
                expr = c.args["expression"]
        if expr is not None:  # GENERATED ALWAYS AS (expr): computed from the row's other columns
            generated[col.name] = expr
            fields.append(pa.field(col.name, typ, True, {GENERATED: _generated_sql(stmt, name, expr)}))
            continue
        fields.append(pa.field(col.name, typ, not not_null))
    opts = dict(stmt.options or {})
    _check_arroyo_table_rules(stmt, name, opts, fields, generated, pks)
    table = TableDef(
        name=name,
        schema=pa.schema(fields) if fields else None,
        connector=opts.get("connector"),
        options=opts,
        watermark=stmt.watermark,
        primary_keys=pks,
        json_columns=json_cols,
        statement=stmt,
        metadata=dict(stmt.metadata),
    )
    return _finish(table, stmt)


def table_from_connection(name: str, spec: dict[str, Any]) -> TableDef:
    """A connection table from the server: ``{connector, config, schema?, profile?}``."""
    raw_config = spec.get("config") or {}
    flat = connector_registry.console_options(spec.get("connector") or "", raw_config, spec.get("profile"))
    config = {
        str(k).lower(): str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in (flat if flat is not None else raw_config).items()
    }
    schema = None
    raw = spec.get("schema") or {}
    fmt = raw.get("format") if isinstance(raw, dict) else None
    if isinstance(fmt, dict) and "format" not in config:
        # Arroyo's Format: {"type": "json", "debezium": …} or externally tagged {"json": {…}}
        kind = fmt.get("type") or next(iter(fmt), None)
        body = fmt if "type" in fmt else fmt.get(kind) or {}
        if kind:
            config["format"] = (
                "debezium_json" if isinstance(body, dict) and body.get("debezium") else str(kind)
            )
            if isinstance(body, dict) and body.get("unstructured"):
                config["json.unstructured"] = "true"
    bad = raw.get("bad_data") if isinstance(raw, dict) else None
    if isinstance(bad, dict) and "bad_data" not in config:
        config["bad_data"] = str(bad.get("behavior") or next(iter(bad), "fail"))
    fields = raw.get("fields") if isinstance(raw, dict) else None
    if fields:
        schema = pa.schema(
            [pa.field(f["name"], _field_type(f), not f.get("required", False)) for f in fields]
        )
    table = TableDef(name=name, schema=schema, connector=spec.get("connector"), options=config)
    if (
        isinstance(raw, dict) and config.get("type") == "lookup"
    ):  # its key: a primary key with metadata_key "key"
        table.metadata = {f["name"]: str(f["metadata_key"]) for f in fields or [] if f.get("metadata_key")}
        table.primary_keys = [str(k) for k in raw.get("primary_keys") or []]
    if "type" not in config and spec.get("table_type") in ("source", "sink", "lookup"):
        table.options["type"] = spec["table_type"]
    elif "type" not in config and table.connector == "single_file":
        table.options["type"] = "source"
    return _finish(table, None)


_FIELD_TYPES = {
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float32": pa.float32(),
    "f32": pa.float32(),
    "float64": pa.float64(),
    "f64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
    "utf8": pa.string(),
    "bytes": pa.binary(),
    "binary": pa.binary(),
    "timestamp": TS,
    "json": pa.string(),
}


def _field_type(f: dict[str, Any]) -> pa.DataType:
    typ = f.get("type")
    if isinstance(typ, dict):  # older shape: {"type": {"primitive": "Int64"}}
        typ = str(typ.get("primitive", "string")).lower()
    if typ == "struct":
        return pa.struct(
            [pa.field(x["name"], _field_type(x), not x.get("required", False)) for x in f.get("fields", [])]
        )
    if typ == "list":
        return pa.list_(_field_type(f.get("items", {"type": "string"})))
    if typ == "decimal128":
        return pa.decimal128(int(f.get("precision", 38)), int(f.get("scale", 10)))
    return _FIELD_TYPES.get(str(typ).lower(), pa.string())
