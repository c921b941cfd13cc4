"""Arroyo's ``kafka`` connector on confluent-kafka (librdkafka).

Source: the topic's partitions are spread over the subtasks (partition p to subtask
p % parallelism); each subtask assigns its partitions itself (no group rebalancing) and
checkpoints the next offset of each. On restore every subtask sees all saved offsets, so a
job restored at another parallelism goes on where each partition stopped. Offsets are also
committed to the consumer group at checkpoints (what ``source.offset = 'group'`` reads).

Sink: ``sink.commit_mode = 'at_least_once'`` flushes at checkpoints; ``'exactly_once'``
writes in a Kafka transaction committed at each checkpoint (aborted when the job stops
without one), so ``read_committed`` consumers see every row once.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import numpy as np
import pyarrow as pa
from confluent_kafka import (
    OFFSET_INVALID,
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)

from ..catalog import TS, TableDef
from ..sinks import Sink, _split
from ..sources import SourceError, SourceSubtask, now_ns
from ..translate import TIME_COL
from .formats import BadData, Decoder, Encoder, ErrorSink

CONNECT_TIMEOUT_S = 10.0  # metadata requests at start (a down broker fails the job after this)
BROKERS_DOWN_GRACE_S = 10.0  # all brokers unreachable this long mid-run: the job fails
LOG = logging.getLogger("arroyo_jupyter.kafka")  # librdkafka's log, instead of its stderr lines
_DOWN_CODES = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT, KafkaError._RESOLVE}


class KafkaUnavailable(ConnectionError):
    """The broker cannot be reached or refuses the request (a ConnectionError: the runtime
    reports a sink that cannot open as a retryable failure)."""


def _csv(text: str) -> list[tuple[str, str]]:
    pairs = []
    for item in text.split(","):
        if item.strip():
            k, _, v = item.partition("=")
            pairs.append((k.strip(), v.strip()))
    return pairs


def client_config(opts: dict[str, str]) -> dict[str, Any]:
    """librdkafka settings from the table's options (SQL names, as Arroyo's)."""
    conf: dict[str, Any] = {"bootstrap.servers": opts["bootstrap_servers"]}
    auth = opts.get("auth.type", "none").lower()
    if auth == "sasl":
        conf.update(
            {
                "security.protocol": opts.get("auth.protocol", "SASL_SSL"),
                "sasl.mechanism": opts.get("auth.mechanism", "PLAIN"),
                "sasl.username": opts.get("auth.username", ""),
                "sasl.password": opts.get("auth.password", ""),
            }
        )
    # 'client_configs' = 'k=v,k2=v2' or 'client_configs.k' = 'v' (connection properties too)
    for key, value in opts.items():
        if key in ("client_configs", "connection_properties"):
            conf.update(_csv(value))
        elif key.startswith(("client_configs.", "connection_properties.")):
            conf[key.partition(".")[2]] = value
    return conf


def what_to_check(servers: str) -> str:
    return (
        f"check that a Kafka broker is running at {servers} and reachable from this machine "
        "(bootstrap_servers; its advertised listeners must be reachable too)"
    )


def topic_partitions(client: Any, topic: str, servers: str, timeout: float = CONNECT_TIMEOUT_S) -> list[int]:
    """The topic's partition ids; KafkaUnavailable naming the host and what to check."""
    try:
        meta = client.list_topics(topic, timeout=timeout)
    except KafkaException as err:
        raise KafkaUnavailable(
            f"cannot reach Kafka at {servers}: {err.args[0].str()}; {what_to_check(servers)}"
        ) from None
    found = meta.topics.get(topic)
    if found is None or found.error is not None and found.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
        raise KafkaUnavailable(
            f"topic '{topic}' does not exist on the Kafka cluster at {servers}; create it or fix `topic`"
        )
    if found.error is not None:
        raise KafkaUnavailable(f"topic '{topic}' at {servers}: {found.error.str()}")
    return sorted(found.partitions)


def _cluster_topics(opts: dict[str, str], timeout: float = 5.0) -> dict[str, Any]:
    """Every topic's metadata (asking for all topics never auto-creates one)."""
    from confluent_kafka.admin import AdminClient

    servers = opts["bootstrap_servers"]
    admin = AdminClient(client_config(opts), logger=LOG)
    try:
        meta = admin.list_topics(timeout=timeout)
    except KafkaException as err:
        raise KafkaUnavailable(
            f"cannot reach Kafka at {servers}: {err.args[0].str()}; {what_to_check(servers)}"
        ) from None
    return {name: t for name, t in meta.topics.items() if not name.startswith("__")}


def list_topic_names(opts: dict[str, str], timeout: float = 5.0) -> list[str]:
    """Topics of the cluster (for autocomplete and connection tests)."""
    return sorted(_cluster_topics(opts, timeout))


class KafkaSource(SourceSubtask):
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
        opts = table.options
        self.table, self.batch_size = table, batch_size
        self.topic, self.servers = opts["topic"], opts["bootstrap_servers"]
        self.decoder = Decoder(table, on_error)
        self.metadata = dict(table.metadata)  # column → offset_id | partition | topic | timestamp | key
        self._down_since: float | None = None
        self._last_error = ""
        group = (
            opts.get("source.group_id")
            or f"{opts.get('source.group_id_prefix', 'arroyo')}-{uuid.uuid4().hex[:12]}"
        )
        conf = {
            **client_config(opts),
            "group.id": group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": opts.get("source.read_mode", "read_uncommitted"),
            "fetch.wait.max.ms": 50,
            "error_cb": self._on_client_error,
        }
        try:
            self.consumer = Consumer(conf, logger=LOG)
        except KafkaException as err:
            raise SourceError(f"invalid Kafka client config: {err.args[0].str()}") from None
        self._committed: dict[int, int] = {}
        try:
            partitions = topic_partitions(self.consumer, self.topic, self.servers)
            self.partitions = [p for p in partitions if p % parallelism == index]
            saved: dict[str, int] = {}
            for s in all_states if all_states is not None else [state]:
                if s.get("topic") == self.topic:
                    saved.update(s.get("offsets", {}))
            self.offsets = self._start_offsets(saved, opts.get("source.offset", "latest"))
        except KafkaUnavailable as err:
            self.consumer.close()
            raise SourceError(str(err)) from None
        if not self.partitions:  # more subtasks than partitions: this one idles
            self.finished = True
        self.consumer.assign([TopicPartition(self.topic, p, o) for p, o in self.offsets.items()])
        self._idle_until = 0.0

    def _start_offsets(self, saved: dict[str, int], mode: str) -> dict[int, int]:
        """A concrete next offset per partition: saved, else as ``source.offset`` says (resolved
        now, so that a checkpoint taken before any row arrives still records where to start)."""
        out, todo = {}, []
        for p in self.partitions:
            if str(p) in saved:
                out[p] = int(saved[str(p)])
            else:
                todo.append(p)
        committed: dict[int, int] = {}
        if todo and mode == "group":
            try:
                for tp in self.consumer.committed(
                    [TopicPartition(self.topic, p) for p in todo], timeout=CONNECT_TIMEOUT_S
                ):
                    if tp.offset != OFFSET_INVALID and tp.offset >= 0:
                        committed[tp.partition] = tp.offset
            except KafkaException as err:
                raise KafkaUnavailable(
                    f"cannot read the group's offsets at {self.servers}: {err.args[0].str()}"
                ) from None
        for p in todo:
            if p in committed:
                out[p] = committed[p]
                continue
            try:
                low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=CONNECT_TIMEOUT_S
                )
            except KafkaException as err:
                raise KafkaUnavailable(
                    f"cannot read offsets of {self.topic}/{p} at {self.servers}: {err.args[0].str()}; "
                    + what_to_check(self.servers)
                ) from None
            out[p] = high if mode == "latest" else low
        return out

    def _on_client_error(self, err: KafkaError) -> None:
        self._last_error = err.str()
        if err.code() in _DOWN_CODES:
            if self._down_since is None:
                self._down_since = time.monotonic()
        if err.fatal():
            self._fatal = err.str()

    _fatal: str | None = None

    def _check_health(self) -> None:
        if self._fatal:
            raise SourceError(f"Kafka at {self.servers} failed: {self._fatal}")
        if self._down_since is None or time.monotonic() - self._down_since < BROKERS_DOWN_GRACE_S:
            return
        try:  # the error callback does not say when brokers come back: ask
            self.consumer.list_topics(self.topic, timeout=1.0)
            self._down_since = None
        except KafkaException:
            raise SourceError(
                f"lost the connection to Kafka at {self.servers} for {BROKERS_DOWN_GRACE_S:.0f} s "
                f"({self._last_error}); {what_to_check(self.servers)}. The job restarts from its last "
                "checkpoint, so no rows are lost"
            ) from None

    def next_due(self) -> float:
        return self._idle_until

    def poll(self) -> pa.RecordBatch | None:
        try:
            messages = self.consumer.consume(self.batch_size, timeout=0)
        except KafkaException as err:
            raise SourceError(f"Kafka at {self.servers}: {err.args[0].str()}") from None
        self._check_health()
        good = []
        for m in messages:
            problem = m.error()
            if problem is None:
                good.append(m)
            elif problem.fatal() or problem.code() in (
                KafkaError.UNKNOWN_TOPIC_OR_PART,
                KafkaError.TOPIC_AUTHORIZATION_FAILED,
            ):
                raise SourceError(f"Kafka topic '{self.topic}' at {self.servers}: {problem.str()}")
        if not good:
            self._idle_until = time.monotonic() + 0.05  # librdkafka fetches in the background
            return None
        self._down_since = None
        self._idle_until = 0.0
        for m in good:
            self.offsets[int(m.partition() or 0)] = int(m.offset() or 0) + 1
        try:
            batch, origin, ops = self.decoder.decode(
                [m.value() for m in good],
                lambda i: f"{self.topic}/{good[i].partition()} offset {good[i].offset()}",
            )
        except (BadData, ConnectionError) as err:  # ConnectionError: the schema registry
            raise SourceError(str(err)) from None
        if batch is None:
            return None
        kept = [good[i] for i in origin]
        return self._with_extras(batch, kept, ops)

    def _with_extras(self, batch: pa.RecordBatch, kept: list, ops: list[str] | None) -> pa.RecordBatch:
        columns = {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
        for column, key in self.metadata.items():
            columns[column] = self._metadata_array(key, kept)
        assert self.table.schema is not None
        out_cols = [columns[f.name] for f in self.table.schema]
        fields = [pa.field(f.name, f.type) for f in self.table.schema]
        field = self.table.event_time_field
        if field is not None:
            ts = columns[field].cast(TS)
            if ts.null_count:
                now = now_ns()
                ts = pa.array(
                    np.where(
                        ts.is_null().to_numpy(zero_copy_only=False),
                        now,
                        ts.cast(pa.int64()).fill_null(0).to_numpy(),
                    )
                ).cast(TS)
        else:  # Arroyo's Kafka source: the message timestamp
            now = now_ns()
            ts = pa.array(
                [
                    t[1] * 1_000_000 if t[0] != TIMESTAMP_NOT_AVAILABLE else now
                    for t in (m.timestamp() for m in kept)
                ],
                pa.int64(),
            ).cast(TS)
        out_cols.append(ts)
        fields.append(pa.field(TIME_COL, TS, False))
        if ops is not None:
            from ..sources import OP_COL

            out_cols.append(pa.array(ops, pa.string()))
            fields.append(pa.field(OP_COL, pa.string()))
        return pa.RecordBatch.from_arrays(out_cols, schema=pa.schema(fields))

    def _metadata_array(self, key: str, kept: list) -> pa.Array:
        if key == "offset_id":
            return pa.array([m.offset() for m in kept], pa.int64())
        if key == "partition":
            return pa.array([m.partition() for m in kept], pa.int32())
        if key == "topic":
            return pa.array([m.topic() for m in kept], pa.string())
        if key == "timestamp":
            return pa.array([m.timestamp()[1] for m in kept], pa.int64())
        if key == "key":
            return pa.array([m.key() for m in kept], pa.binary())
        raise SourceError(f"unknown Kafka metadata '{key}'")

    def snapshot(self) -> dict[str, Any]:
        offsets = {p: o for p, o in self.offsets.items() if self._committed.get(p) != o}
        if offsets:  # visible to `source.offset = 'group'` and to Kafka's tools
            try:
                self.consumer.commit(
                    offsets=[TopicPartition(self.topic, p, o) for p, o in offsets.items()], asynchronous=True
                )
                self._committed.update(offsets)
            except KafkaException:
                pass  # the checkpoint holds the offsets; the group's copy is informational
        return {"topic": self.topic, "offsets": {str(p): o for p, o in self.offsets.items()}}

    def close(self) -> None:
        try:
            self.consumer.close()
        except RuntimeError:  # already closed
            pass


class KafkaSink(Sink):
    def __init__(self, plan: Any, index: int, state: dict[str, Any], listener: Any, fresh: bool):
        super().__init__(plan, index, state, listener, fresh)
        opts = plan.options
        self.topic, self.servers = opts["topic"], opts["bootstrap_servers"]
        self.encoder = Encoder(opts.get("format"), plan.updating, opts)
        self.exactly_once = opts.get("sink.commit_mode", "at_least_once") == "exactly_once"
        self.key_field = opts.get("sink.key_field")
        self.timestamp_field = opts.get("sink.timestamp_field")
        self._error: str | None = None
        conf: dict[str, Any] = {**client_config(opts), "linger.ms": 5, "error_cb": self._on_client_error}
        # a restored subtask reuses its transactional id: the broker fences (aborts) what the
        # previous run wrote after its last checkpoint
        self.txn = str(state.get("txn") or "") if not fresh else ""
        self.txn = self.txn or f"arroyo-{uuid.uuid4().hex[:12]}-{plan.operator_id}-{index}"
        if self.exactly_once:
            conf["transactional.id"] = self.txn
        try:
            self.producer = Producer(conf, logger=LOG)
        except KafkaException as err:
            raise KafkaUnavailable(f"invalid Kafka client config: {err.args[0].str()}") from None
        topic_partitions(self.producer, self.topic, self.servers)
        if self.exactly_once:
            try:
                self.producer.init_transactions(CONNECT_TIMEOUT_S)
                self.producer.begin_transaction()
            except KafkaException as err:
                raise KafkaUnavailable(
                    f"Kafka at {self.servers} refused transactions: {err.args[0].str()}; use "
                    "sink.commit_mode = 'at_least_once' or a broker with transactions"
                ) from None

    def _on_client_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._error = err.str()

    def _delivered(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None and self._error is None:
            self._error = err.str()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise KafkaUnavailable(
                f"writing to Kafka topic '{self.topic}' at {self.servers} failed: {self._error}; "
                + what_to_check(self.servers)
            )

    def write(self, batch: pa.RecordBatch) -> None:
        self._raise_if_failed()
        visible, ts, ops = _split(batch, self.plan.schema)
        try:
            payloads, rows = self.encoder.encode(visible, ops)
        except ValueError as err:
            raise KafkaUnavailable(f"cannot encode rows for topic '{self.topic}': {err}") from None
        if self.timestamp_field is not None:
            stamps = [_millis(r.get(self.timestamp_field)) for r in rows]
        else:  # event time; an update pair emits one message, at its 'after' row's time
            kinds: list[str | None] = list(ops) if ops else [None] * len(ts)
            stamps = [t // 1_000_000 for t, op in zip(ts, kinds, strict=True) if op != "ub"]
        for i, payload in enumerate(payloads):
            key = rows[i].get(self.key_field) if self.key_field else None
            kwargs: dict[str, Any] = {"on_delivery": self._delivered}
            if key is not None:
                kwargs["key"] = str(key).encode()
            if i < len(stamps) and stamps[i] is not None:
                kwargs["timestamp"] = stamps[i]
            while True:
                try:
                    self.producer.produce(self.topic, payload, **kwargs)
                    break
                except BufferError:  # the local queue is full: let librdkafka send
                    self.producer.poll(0.05)
                    self._raise_if_failed()
        self.producer.poll(0)
        self.rows_written += len(payloads)

    def commit(self) -> None:
        try:
            if self.exactly_once:
                self.producer.commit_transaction(CONNECT_TIMEOUT_S)
                self.producer.begin_transaction()
            elif self.producer.flush(CONNECT_TIMEOUT_S) > 0:
                self._error = self._error or "messages still queued after a flush"
        except KafkaException as err:
            self._error = err.args[0].str()
        self._raise_if_failed()

    def snapshot(self) -> dict[str, Any]:
        return {"txn": self.txn}

    def close(self) -> None:
        # rows after the last checkpoint: a transaction is aborted (the restored job writes them
        # again); at-least-once rows are flushed
        try:
            if self.exactly_once:
                self.producer.abort_transaction(CONNECT_TIMEOUT_S)
            else:
                self.producer.flush(CONNECT_TIMEOUT_S)
        except KafkaException:
            pass


def _millis(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def test_connection(opts: dict[str, str]) -> list[str]:
    """What a connection test found, step by step; KafkaUnavailable on the first failure."""
    servers = opts.get("bootstrap_servers")
    if not servers:
        raise KafkaUnavailable("no bootstrap servers: set bootstrapServers in the connection profile")
    topics = _cluster_topics(opts)
    steps = [f"Connected to Kafka at {servers} ({len(topics)} topics)"]
    topic = opts.get("topic")
    if topic:
        if topic not in topics:
            raise KafkaUnavailable(
                f"topic '{topic}' does not exist on the Kafka cluster at {servers}; create it or fix `topic`"
            )
        n = len(topics[topic].partitions)
        steps.append(f"Topic '{topic}' has {n} partition{'s' if n != 1 else ''}")
    return steps


def autocomplete(opts: dict[str, str]) -> dict[str, list[str]]:
    return {"topic": list_topic_names(opts)}
