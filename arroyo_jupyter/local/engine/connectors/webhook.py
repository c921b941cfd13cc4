"""Arroyo's ``webhook`` sink: each row is POSTed as one JSON body to ``endpoint`` (with
``headers``). Failed posts are retried for a few seconds; then the job fails naming the
endpoint and the status. At least once: a restored job posts the rows after its last
checkpoint again."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pyarrow as pa

from ..sinks import Sink, _split
from .background import parse_headers
from .formats import Encoder

RETRY_S = 5.0


class WebhookSink(Sink):
    def __init__(self, plan: Any, index: int, state: dict[str, Any], listener: Any, fresh: bool):
        super().__init__(plan, index, state, listener, fresh)
        opts = plan.options
        self.endpoint = opts["endpoint"]
        self.headers = {"Content-Type": "application/json", **parse_headers(opts.get("headers"))}
        self.encoder = Encoder(opts.get("format"), plan.updating, opts)
        self.client = httpx.Client(timeout=10.0)

    def write(self, batch: pa.RecordBatch) -> None:
        visible, _, ops = _split(batch, self.plan.schema)
        payloads, _ = self.encoder.encode(visible, ops)
        for payload in payloads:
            self._post(payload)
        self.rows_written += len(payloads)

    def _post(self, payload: bytes) -> None:
        deadline = time.monotonic() + RETRY_S
        delay = 0.05
        while True:
            try:
                response = self.client.post(self.endpoint, content=payload, headers=self.headers)
                if response.status_code < 400:
                    return
                problem = f"HTTP {response.status_code}"
                if (
                    response.status_code < 500 and response.status_code != 429
                ):  # the request is wrong: no retry
                    break
            except httpx.HTTPError as err:
                problem = str(err) or type(err).__name__
            if time.monotonic() >= deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        raise ConnectionError(
            f"webhook {self.endpoint} failed: {problem}; check that it is up and accepts POSTs of JSON"
        )

    def close(self) -> None:
        self.client.close()


def test_connection(opts: dict[str, str]) -> list[str]:
    endpoint = opts["endpoint"]
    try:
        httpx.request("OPTIONS", endpoint, headers=parse_headers(opts.get("headers")), timeout=5.0)
    except httpx.HTTPError as err:
        raise OSError(f"cannot reach {endpoint}: {err or type(err).__name__}") from None
    return [f"{endpoint} is reachable"]
