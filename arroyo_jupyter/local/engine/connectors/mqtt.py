"""Arroyo's ``mqtt`` connector on paho-mqtt: ``url`` (tcp:// mqtt:// ssl:// mqtts://),
``topic`` (wildcards for sources), ``qos`` (AtMostOnce | AtLeastOnce | ExactlyOnce),
``username``/``password``, ``client_prefix``, ``tls.ca``/``tls.cert``/``tls.key``; the sink
publishes each row (``sink.retain``). A source column ``METADATA FROM 'topic'`` holds each
message's topic. MQTT keeps no offsets: a restored source reads what arrives from then on."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as paho
import pyarrow as pa

from ..catalog import TableDef
from ..sinks import Sink, _split
from ..sources import SourceError
from .background import BackgroundSource, Unreachable, stamp_now
from .formats import BadData, Encoder, ErrorSink

QOS = {"atmostonce": 0, "atleastonce": 1, "exactlyonce": 2, "0": 0, "1": 1, "2": 2}
CONNECT_TIMEOUT_S = 10.0


def _client(opts: dict[str, str]) -> tuple[paho.Client, str, int]:
    url = urlparse(opts.get("url", "tcp://localhost:1883"))
    tls = url.scheme in ("ssl", "mqtts")
    port = url.port or (8883 if tls else 1883)
    prefix = opts.get("client_prefix", "arroyo-mqtt")
    c = paho.Client(
        paho.CallbackAPIVersion.VERSION2, client_id=f"{prefix}_{uuid.uuid4().hex[:8]}_{int(time.time())}"
    )
    if opts.get("username"):
        c.username_pw_set(opts["username"], opts.get("password"))
    if tls:
        c.tls_set(ca_certs=opts.get("tls.ca"), certfile=opts.get("tls.cert"), keyfile=opts.get("tls.key"))
    return c, url.hostname or "localhost", port


def _connect(c: paho.Client, host: str, port: int) -> None:
    done = threading.Event()
    result: list[Any] = []

    def on_connect(client, userdata, flags, reason, properties=None):
        result.append(reason)
        done.set()

    c.on_connect = on_connect
    try:
        c.connect(host, port, keepalive=30)
    except OSError as err:
        raise Unreachable(f"cannot connect to the MQTT broker at {host}:{port}: {err}") from None
    c.loop_start()
    if not done.wait(CONNECT_TIMEOUT_S) or (result and result[0].is_failure):
        c.loop_stop()
        reason = result[0] if result else "no answer"
        raise Unreachable(f"the MQTT broker at {host}:{port} refused the connection: {reason}")


class MqttSource(BackgroundSource):
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
        self.topic = self.opts["topic"]
        self.qos = QOS.get(self.opts.get("qos", "AtMostOnce").lower(), 0)
        url = self.opts.get("url", "tcp://localhost:1883")
        self.what = f"the MQTT broker at {url}"
        self.topic_columns = [c for c, k in table.metadata.items() if k == "topic"]
        super().__init__(table, index, batch_size, state, on_error)

    def connect_and_read(self, emit: Any) -> None:
        c, host, port = _client(self.opts)
        lost = threading.Event()
        c.on_message = lambda client, userdata, msg: emit((msg.topic, msg.payload))
        c.on_disconnect = lambda client, userdata, flags, reason, properties=None: lost.set()
        _connect(c, host, port)
        try:
            c.subscribe(self.topic, qos=self.qos)
            while not self.stopping.is_set() and not lost.is_set():
                self.stopping.wait(0.1)
        finally:
            c.disconnect()
            c.loop_stop()
        if lost.is_set() and not self.stopping.is_set():
            raise Unreachable(f"lost the connection to {self.what}")

    def check_hint(self) -> str:
        return "Check that the MQTT broker is running and reachable (url, username, password)."

    def poll(self) -> pa.RecordBatch | None:
        if self._failure is not None and self.queue.empty():
            raise SourceError(self._failure)
        items: list[Any] = []
        while len(items) < self.batch_size and not self.queue.empty():
            items.append(self.queue.get_nowait())
        if not items:
            return None
        try:
            batch, origin, ops = self.decoder.decode([p for _, p in items], lambda i: f"topic {items[i][0]}")
        except BadData as err:
            raise SourceError(str(err)) from None
        if batch is None:
            return None
        if self.topic_columns:
            topics = pa.array([items[i][0] for i in origin], pa.string())
            arrays = {n: batch.column(i) for i, n in enumerate(batch.schema.names)}
            for col in self.topic_columns:
                arrays[col] = topics
            assert self.table.schema is not None
            batch = pa.RecordBatch.from_arrays(
                [arrays[f.name] for f in self.table.schema],
                schema=pa.schema([pa.field(f.name, f.type) for f in self.table.schema]),
            )
        return stamp_now(batch, ops, self.table)


class MqttSink(Sink):
    def __init__(self, plan: Any, index: int, state: dict[str, Any], listener: Any, fresh: bool):
        super().__init__(plan, index, state, listener, fresh)
        opts = plan.options
        self.topic = opts["topic"]
        self.qos = QOS.get(opts.get("qos", "AtMostOnce").lower(), 0)
        self.retain = opts.get("sink.retain", opts.get("retain", "false")).lower() == "true"
        self.encoder = Encoder(opts.get("format"), plan.updating, opts)
        self.client, host, port = _client(opts)
        self.where = f"{host}:{port}"
        try:
            _connect(self.client, host, port)
        except Unreachable as err:
            raise ConnectionError(f"{err}; check that the MQTT broker is running and reachable") from None
        self.inflight: list[Any] = []

    def write(self, batch: pa.RecordBatch) -> None:
        visible, _, ops = _split(batch, self.plan.schema)
        payloads, _ = self.encoder.encode(visible, ops)
        for payload in payloads:
            info = self.client.publish(self.topic, payload, qos=self.qos, retain=self.retain)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise ConnectionError(
                    f"publishing to the MQTT broker at {self.where} failed: {paho.error_string(info.rc)}"
                )
            if self.qos:
                self.inflight.append(info)
        self.rows_written += len(payloads)

    def commit(self) -> None:
        for info in self.inflight:  # QoS 1/2: acknowledged by the broker before the checkpoint completes
            info.wait_for_publish(CONNECT_TIMEOUT_S)
            if not info.is_published():
                raise ConnectionError(
                    f"the MQTT broker at {self.where} did not acknowledge a message in time"
                )
        self.inflight = []

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_connection(opts: dict[str, str]) -> list[str]:
    c, host, port = _client(opts)
    try:
        _connect(c, host, port)
    except Unreachable as err:
        raise OSError(str(err)) from None
    c.disconnect()
    c.loop_stop()
    return [f"Connected to the MQTT broker at {host}:{port}"]
