"""Arroyo's ``redis`` sink (and the lookups a lookup join needs), on redis-py.

Sink: ``address`` (``redis://host:port``; ``username``/``password``), ``target`` =
``string`` (SET ``key_prefix + key_column value`` to the row's JSON, ``target.ttl_secs``),
``list`` (RPUSH/LPUSH by ``target.operation`` = append/prepend, trimmed to
``target.max_length``) or ``hash`` (HSET field ``target.field_column``). Writes are pipelined
and flushed at checkpoints (at least once; string and hash writes are idempotent, so a
restore rewrites the same values).
"""

from __future__ import annotations

from typing import Any

import msgspec
import pyarrow as pa
import redis as redis_py

from ..sinks import Sink, _split
from .formats import Encoder

FLUSH_EVERY = 1000  # commands per pipeline round trip


class RedisUnavailable(ConnectionError):
    pass


def client(opts: dict[str, str]) -> redis_py.Redis:
    address = opts.get("address") or opts.get("connection.address") or "redis://localhost:6379"
    kwargs: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 10}
    if opts.get("username"):
        kwargs["username"] = opts["username"]
    if opts.get("password"):
        kwargs["password"] = opts["password"]
    return redis_py.Redis.from_url(address, **kwargs)


def _what_to_check(opts: dict[str, str]) -> str:
    address = opts.get("address") or opts.get("connection.address") or "redis://localhost:6379"
    return f"check that Redis is running at {address} and reachable from this machine (address, username, password)"


class RedisSink(Sink):
    def __init__(self, plan: Any, index: int, state: dict[str, Any], listener: Any, fresh: bool):
        super().__init__(plan, index, state, listener, fresh)
        opts = plan.options
        self.opts = opts
        self.target = opts.get("target", "string")
        self.prefix = opts.get("target.key_prefix", "")
        self.key_column = opts.get("target.key_column")
        self.field_column = opts.get("target.field_column")
        self.ttl = int(opts["target.ttl_secs"]) if opts.get("target.ttl_secs") else None
        self.max_length = int(opts["target.max_length"]) if opts.get("target.max_length") else None
        self.prepend = opts.get("target.operation", "append").lower() == "prepend"
        self.encoder = Encoder(opts.get("format"), plan.updating, opts)
        self.redis = client(opts)
        try:
            self.redis.ping()
        except redis_py.RedisError as err:
            raise RedisUnavailable(f"cannot reach Redis: {err}; {_what_to_check(opts)}") from None
        self.pipe = self.redis.pipeline(transaction=False)
        self.pending = 0

    def write(self, batch: pa.RecordBatch) -> None:
        visible, _, ops = _split(batch, self.plan.schema)
        payloads, rows = self.encoder.encode(visible, ops)
        for payload, row in zip(payloads, rows, strict=True):
            key = self.prefix + (str(row.get(self.key_column)) if self.key_column else "")
            if self.target == "hash":
                self.pipe.hset(key, str(row.get(self.field_column or "")), payload)
            elif self.target == "list":
                (self.pipe.lpush if self.prepend else self.pipe.rpush)(key, payload)
                if self.max_length:
                    self.pipe.ltrim(key, 0, self.max_length - 1) if self.prepend else self.pipe.ltrim(
                        key, -self.max_length, -1
                    )
            else:
                self.pipe.set(key, payload, ex=self.ttl)
            self.pending += 1
        self.rows_written += len(payloads)
        if self.pending >= FLUSH_EVERY:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        try:
            self.pipe.execute()
        except redis_py.RedisError as err:
            raise RedisUnavailable(f"writing to Redis failed: {err}; {_what_to_check(self.opts)}") from None
        self.pending = 0

    def commit(self) -> None:
        self._flush()

    def close(self) -> None:
        try:
            self._flush()
        except RedisUnavailable:
            pass
        self.redis.close()


class RedisLookup:
    """Values by key for a lookup join: ``get(keys)`` → the decoded JSON value (None when
    missing) of ``key`` for each key, in one round trip."""

    def __init__(self, opts: dict[str, str]):
        self.redis = client(opts)
        self.opts = opts

    def get(self, keys: list[str], as_text: bool = False) -> list[dict[str, Any] | None]:
        """``as_text`` (format raw_string): each value whole, as ``{"value": text}``."""
        try:
            values = self.redis.mget(keys) if keys else []
        except redis_py.RedisError as err:
            raise RedisUnavailable(f"Redis lookup failed: {err}; {_what_to_check(self.opts)}") from None
        out: list[dict[str, Any] | None] = []
        for v in values:
            raw = v.encode() if isinstance(v, str) else v
            if raw is None:
                out.append(None)
                continue
            try:
                out.append({"value": raw.decode("utf-8", "replace")} if as_text else msgspec.json.decode(raw))
            except msgspec.DecodeError:
                out.append({"value": raw.decode("utf-8", "replace")})
        return out

    def close(self) -> None:
        self.redis.close()


def test_connection(opts: dict[str, str]) -> list[str]:
    r = client(opts)
    try:
        info = r.info("server")
    except redis_py.RedisError as err:
        raise OSError(f"cannot reach Redis: {err}; {_what_to_check(opts)}") from None
    finally:
        r.close()
    return [f"Connected to Redis {info.get('redis_version', '')}".strip()]
