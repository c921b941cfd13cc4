"""Arroyo's ``nats`` connector (NATS Core) on nats-py: ``servers`` (comma-separated
``nats://host:port``), ``subject`` (``source.subject`` / ``sink.subject`` too),
``username``/``password``. The source subscribes on subtask 0 (Core NATS keeps no offsets: a
restored source reads what arrives from then on); the sink publishes each row and flushes at
checkpoints. JetStream sources (``stream``) are not supported by the embedded engine."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import nats as nats_py
import pyarrow as pa
from nats.errors import Error as NatsError

from ..catalog import TableDef
from ..sinks import Sink, _split
from .background import BackgroundSource, Unreachable
from .formats import Encoder, ErrorSink

CONNECT_TIMEOUT_S = 5.0


def _servers(opts: dict[str, str]) -> list[str]:
    raw = opts.get("servers") or opts.get("connection.servers") or "nats://localhost:4222"
    return [s if "://" in s else f"nats://{s}" for s in (x.strip() for x in raw.split(",")) if s]


def subject(opts: dict[str, str], kind: str) -> str:
    return opts.get(f"{kind}.subject") or opts.get("subject") or ""


async def _connect(opts: dict[str, str]) -> Any:
    errors: list[str] = []

    async def on_error(err: Exception) -> None:  # instead of nats-py's logged tracebacks
        errors.append(str(err) or type(err).__name__)

    kwargs: dict[str, Any] = {
        "servers": _servers(opts),
        "connect_timeout": CONNECT_TIMEOUT_S,
        "allow_reconnect": False,
        "error_cb": on_error,
    }
    if opts.get("username"):
        kwargs["user"], kwargs["password"] = opts["username"], opts.get("password")
    where = ", ".join(_servers(opts))
    try:
        return await asyncio.wait_for(nats_py.connect(**kwargs), CONNECT_TIMEOUT_S + 1)
    except (OSError, NatsError, asyncio.TimeoutError) as err:
        reason = errors[-1] if errors else str(err) or type(err).__name__
        raise Unreachable(f"cannot connect to NATS at {where}: {reason}") from None


class NatsSource(BackgroundSource):
    def __init__(
        self,
        table: TableDef,
        index: int,
        parallelism: int,
        batch_size: int,
        state: dict[str, Any],
        on_error: ErrorSink,
        all_states: list[dict[str, Any]] | None = None,
    ):
        self.opts = table.options
        self.subject = subject(self.opts, "source")
        self.what = f"NATS subject '{self.subject}' at {', '.join(_servers(self.opts))}"
        super().__init__(table, index, batch_size, state, on_error)

    def connect_and_read(self, emit: Any) -> None:
        asyncio.run(self._read(emit))

    async def _read(self, emit: Any) -> None:
        nc = await _connect(self.opts)
        closed = asyncio.Event()

        async def on_message(msg: Any) -> None:
            emit(msg.data)

        nc._closed_cb = _setter(closed)
        try:
            await nc.subscribe(self.subject, cb=on_message)
            while not self.stopping.is_set():
                if nc.is_closed or not nc.is_connected:
                    raise Unreachable(f"lost the connection to {self.what}")
                await asyncio.sleep(0.05)
        finally:
            if not nc.is_closed:
                await nc.close()

    def check_hint(self) -> str:
        return "Check that nats-server is running and reachable (servers, username, password)."


def _setter(event: asyncio.Event) -> Any:
    async def cb() -> None:
        event.set()

    return cb


class NatsSink(Sink):
    def __init__(self, plan: Any, index: int, state: dict[str, Any], listener: Any, fresh: bool):
        super().__init__(plan, index, state, listener, fresh)
        self.opts = plan.options
        self.subject = subject(self.opts, "sink")
        self.encoder = Encoder(self.opts.get("format"), plan.updating, self.opts)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="arroyo-nats-sink", daemon=True)
        self.thread.start()
        try:
            self.nc = self._run(_connect(self.opts))
        except Unreachable as err:
            self._stop_loop()
            raise ConnectionError(f"{err}; check that nats-server is running and reachable") from None

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def write(self, batch: pa.RecordBatch) -> None:
        visible, _, ops = _split(batch, self.plan.schema)
        payloads, _ = self.encoder.encode(visible, ops)

        async def publish() -> None:
            for p in payloads:
                await self.nc.publish(self.subject, p)

        try:
            self._run(publish())
        except (NatsError, OSError) as err:
            raise ConnectionError(
                f"publishing to NATS at {', '.join(_servers(self.opts))} failed: {err}"
            ) from None
        self.rows_written += len(payloads)

    def commit(self) -> None:
        try:
            self._run(self.nc.flush(timeout=10))
        except (NatsError, OSError, asyncio.TimeoutError) as err:
            raise ConnectionError(
                f"NATS at {', '.join(_servers(self.opts))} did not confirm the writes: {err}"
            ) from None

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def close(self) -> None:
        try:
            self._run(self.nc.close())
        except Exception:  # closing must not hide the job's outcome
            pass
        self._stop_loop()


def test_connection(opts: dict[str, str]) -> list[str]:
    async def check() -> None:
        nc = await _connect(opts)
        await nc.close()

    try:
        asyncio.run(check())
    except Unreachable as err:
        raise OSError(str(err)) from None
    return [f"Connected to NATS at {', '.join(_servers(opts))}"]
