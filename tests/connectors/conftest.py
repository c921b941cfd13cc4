"""Fixtures starting real brokers for connector tests (see brokers.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "engine"))  # engine_helpers.Recorder
from brokers import Kafka, Mosquitto, NatsServer, RedisServer  # noqa: E402


@pytest.fixture(scope="session")
def kafka(tmp_path_factory):
    """One Tansu broker for the session; tests use their own topics."""
    broker = Kafka(tmp_path_factory.mktemp("kafka"))
    yield broker
    broker.stop()


@pytest.fixture
def own_kafka(tmp_path):
    """A broker of the test's own, for tests that stop it."""
    broker = Kafka(tmp_path)
    yield broker
    broker.stop()


@pytest.fixture
def http_family():
    from http_servers import HttpFamily

    servers = HttpFamily()
    yield servers
    servers.stop()


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def mosquitto(tmp_path):
    server = Mosquitto(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def nats_server(tmp_path):
    server = NatsServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def schema_registry():
    from http_servers import SchemaRegistry

    registry = SchemaRegistry()
    yield registry
    registry.stop()
