"""Arroyo's ``websocket`` source: messages from ``endpoint`` (ws:// or wss://, ``headers``);
``subscription_messages`` (and the older single ``subscription_message``) are sent, in
order, each time the socket opens."""

from __future__ import annotations

import json
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

from ..catalog import TableDef
from .background import BackgroundSource, Unreachable, parse_headers
from .formats import ErrorSink


def subscription_messages(opts: dict[str, str]) -> list[str]:
    out = []
    if opts.get("subscription_message"):
        out.append(opts["subscription_message"])
    raw = opts.get("subscription_messages")
    if raw:
        try:  # a JSON array of strings (the console's form) …
            values = json.loads(raw)
            out += (
                [v if isinstance(v, str) else json.dumps(v) for v in values]
                if isinstance(values, list)
                else [raw]
            )
        except ValueError:  # … or one message
            out.append(raw)
    for key in sorted(k for k in opts if k.startswith("subscription_messages.")):  # flattened list items
        out.append(opts[key])
    return out


class WebsocketSource(BackgroundSource):
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
        self.endpoint = opts["endpoint"]
        self.what = f"the websocket {self.endpoint}"
        self.headers = parse_headers(opts.get("headers"))
        self.subscriptions = subscription_messages(opts)
        super().__init__(table, index, batch_size, state, on_error)

    def connect_and_read(self, emit: Any) -> None:
        try:
            with connect(
                self.endpoint, additional_headers=self.headers, open_timeout=10, max_size=2**24
            ) as ws:
                for message in self.subscriptions:
                    ws.send(message)
                while not self.stopping.is_set():
                    try:
                        received = ws.recv(timeout=0.2)
                    except TimeoutError:
                        continue
                    emit(received.encode() if isinstance(received, str) else bytes(received))
        except ConnectionClosed as err:
            raise Unreachable(f"{self.what} closed the connection ({err})") from None
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as err:
            raise Unreachable(f"cannot connect to {self.what}: {err or type(err).__name__}") from None


def test_connection(opts: dict[str, str]) -> list[str]:
    endpoint = opts["endpoint"]
    try:
        with connect(endpoint, additional_headers=parse_headers(opts.get("headers")), open_timeout=5) as ws:
            for message in subscription_messages(opts):
                ws.send(message)
    except (OSError, InvalidHandshake, InvalidURI, TimeoutError, ConnectionClosed) as err:
        raise OSError(f"cannot connect to {endpoint}: {err or type(err).__name__}") from None
    return [f"Connected to {endpoint}"]
