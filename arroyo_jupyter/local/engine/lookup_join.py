"""The lookup-join operator: each batch of a stream joined with values looked up by key.

Per batch: the key expression is evaluated (DataFusion), the distinct keys not in the cache
are fetched in one round trip (``RedisLookup.get``: one MGET), and the values are joined with
Arrow (``index_in`` + ``take``); an inner join drops rows whose key has no value, a LEFT join
keeps them with nulls. ``lookup.cache.max_bytes`` / ``lookup.cache.ttl`` bound a small cache
(off unless set, so every batch sees Redis as it is).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from .lookup import LookupJoinPlan
from .operator_api import Collector, Operator, OperatorError
from .translate import TIME_COL, translate


class LookupCache:
    """Key → looked-up value (or None), least recently used out first past ``max_bytes``,
    entries older than ``ttl`` seconds re-fetched."""

    def __init__(self, max_bytes: int, ttl: float | None):
        self.max_bytes, self.ttl = max_bytes, ttl
        self.entries: OrderedDict[str, tuple[float, int, dict[str, Any] | None]] = OrderedDict()
        self.bytes = 0

    def get(self, key: str, now: float) -> tuple[bool, dict[str, Any] | None]:
        """(cached?, the value: None for a key Redis has no value for)."""
        entry = self.entries.get(key)
        if entry is None:
            return False, None
        if self.ttl is not None and now - entry[0] > self.ttl:
            self._drop(key)
            return False, None
        self.entries.move_to_end(key)
        return True, entry[2]

    def put(self, key: str, value: dict[str, Any] | None, now: float) -> None:
        size = len(key) + len(repr(value)) + 64  # a rough footprint: bounds memory, not exact
        if size > self.max_bytes:
            return
        if key in self.entries:
            self._drop(key)
        self.entries[key] = (now, size, value)
        self.bytes += size
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self.entries)))

    def _drop(self, key: str) -> None:
        self.bytes -= self.entries.pop(key)[1]


def _column(values: list[Any], typ: pa.DataType) -> pa.Array:
    try:
        return pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # e.g. numbers as strings in the JSON: cast them
        return pa.array([None if v is None else str(v) for v in values], pa.string()).cast(typ, safe=False)


class LookupJoinOperator(Operator):
    def __init__(self, plan: LookupJoinPlan, program: Any):
        from .connectors.redis import RedisLookup
        from .nodes import stream_schema
        from .planner import new_context
        from .prepared import PreparedQuery

        self.plan = plan
        self.cache = LookupCache(*plan.cache) if plan.cache is not None else None
        self.redis = RedisLookup(plan.lookup.options)
        self.as_text = plan.lookup.format == "raw_string"
        sql = translate(plan.key_query, {}, {plan.stream}).sql
        self.key = PreparedQuery(
            new_context(program.udfs), sql, {plan.stream: stream_schema(program, plan.stream)}
        )
        self.fields = [f for f in plan.schema if f.name in set(plan.columns.values())]

    def process(self, stream: str, batch: pa.RecordBatch, out: Collector) -> None:
        if batch.num_rows == 0:
            return
        try:
            keys = pc.cast(self.key.run({stream: batch}).column(0), pa.string())
        except Exception as err:  # DataFusion raises plain exceptions
            raise OperatorError(f"cannot evaluate the lookup key: {err}", self.plan.key_query.sql()) from None
        values = self._values([k for k in pc.unique(keys).to_pylist() if k is not None])
        found = [k for k, v in values.items() if v is not None]
        index = pc.index_in(keys, value_set=pa.array(found, pa.string()))
        table = pa.Table.from_batches([batch])
        if not self.plan.left:
            keep = pc.is_valid(index)
            table, index = table.filter(keep), index.filter(keep)
        right = self._right(found, [values[k] for k in found]).take(index)
        columns = [table.column(n) for n in table.schema.names if n != TIME_COL] + right.columns
        names = [n for n in table.schema.names if n != TIME_COL] + right.schema.names
        if table.num_rows:
            out.emit(
                self.plan.name, pa.Table.from_arrays(columns + [table.column(TIME_COL)], names + [TIME_COL])
            )

    def _values(self, keys: list[str]) -> dict[str, dict[str, Any] | None]:
        """The value of each key: from the cache, the rest in one round trip."""
        from .connectors.redis import RedisUnavailable

        now = time.monotonic()
        got: dict[str, dict[str, Any] | None] = {}
        todo = keys
        if self.cache is not None:
            todo = []
            for k in keys:
                cached, value = self.cache.get(k, now)
                if cached:
                    got[k] = value
                else:
                    todo.append(k)
        try:
            fetched = self.redis.get(todo, as_text=self.as_text) if todo else []
        except RedisUnavailable as err:
            raise OperatorError(f"lookup table '{self.plan.lookup.name}': {err}", retryable=True) from None
        for k, v in zip(todo, fetched, strict=True):
            got[k] = v
            if self.cache is not None:
                self.cache.put(k, v, now)
        return got

    def _right(self, keys: list[str], values: list[dict[str, Any] | None]) -> pa.Table:
        """The found values as the lookup table's columns (the key column holds the key)."""
        rows = [v if isinstance(v, dict) else {"value": v} for v in values]  # a bare JSON value: `value`
        arrays = []
        for column, name in self.plan.columns.items():
            typ = self.plan.schema.field(name).type
            try:
                arrays.append(
                    _column(keys if column == self.plan.key_column else [r.get(column) for r in rows], typ)
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
                raise OperatorError(
                    f"lookup table '{self.plan.lookup.name}': a value's '{column}' does not fit {typ}: {err}; "
                    "check the JSON stored in Redis against the table's columns"
                ) from None
        return pa.Table.from_arrays(arrays, schema=pa.schema(self.fields))

    def close(self) -> None:
        self.redis.close()


def build_lookup_join(plan: LookupJoinPlan, program: Any):
    return lambda ctx: LookupJoinOperator(plan, program)
