"""Small real HTTP servers (Starlette on uvicorn, in a thread) for the HTTP-family connectors."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import uvicorn
from brokers import free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect


class Served:
    """uvicorn serving ``app`` on a free 127.0.0.1 port until ``stop()``."""

    def __init__(self, app: Any):
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", ws="websockets-sansio", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test HTTP server did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class HttpFamily:
    """Endpoints: /sse (ids 1..10, 'tick' events plus 'noise'; the first stream ends after
    id 5), /poll (a counter), /static (the same body), /hook (collects POSTs), /broken (500),
    and the websocket /ws (answers each subscription with 5 messages)."""

    def __init__(self) -> None:
        self.posts: list[Any] = []
        self.poll_count = 0
        self.static_count = 0
        self.sse_requests: list[str | None] = []
        self.subscriptions: list[str] = []
        routes = [
            Route("/sse", self.sse),
            Route("/poll", self.poll, methods=["GET", "POST"]),
            Route("/static", self.static),
            Route("/hook", self.hook, methods=["POST", "OPTIONS"]),
            Route("/broken", self.broken, methods=["POST"]),
            WebSocketRoute("/ws", self.ws),
        ]
        self.served = Served(Starlette(routes=routes))
        self.url = self.served.url

    async def sse(self, request: Request) -> Response:
        last = request.headers.get("last-event-id")
        self.sse_requests.append(last)
        start = int(last) + 1 if last else 1

        async def events():
            for i in range(start, 11):
                yield f"event: noise\ndata: {json.dumps({'noise': i})}\n\n"
                yield f"id: {i}\nevent: tick\ndata: {json.dumps({'i': i})}\n\n"
                if i == 5 and not last:
                    return  # the first stream drops: the client must resume after id 5
            while not await request.is_disconnected():
                await asyncio.sleep(0.05)

        return StreamingResponse(events(), media_type="text/event-stream")

    async def poll(self, request: Request) -> Response:
        self.poll_count += 1
        body = (await request.body()).decode()
        return JSONResponse({"n": self.poll_count, "method": request.method, "body": body})

    async def static(self, request: Request) -> Response:
        self.static_count += 1
        return JSONResponse({"n": 42, "method": "GET", "body": ""})

    async def hook(self, request: Request) -> Response:
        if request.method == "POST":
            self.posts.append(
                {"body": json.loads(await request.body()), "auth": request.headers.get("x-token")}
            )
        return Response(status_code=204)

    async def broken(self, request: Request) -> Response:
        return Response("nope", status_code=500)

    async def ws(self, websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                message = await websocket.receive_text()
                self.subscriptions.append(message)
                for k in range(5):
                    await websocket.send_text(json.dumps({"k": k, "sub": json.loads(message)["channel"]}))
        except WebSocketDisconnect:
            pass

    def stop(self) -> None:
        self.served.stop()


class SchemaRegistry:
    """The Confluent Schema Registry endpoints the avro format calls, kept in memory."""

    def __init__(self) -> None:
        self.schemas: list[str] = []
        self.subjects: dict[str, list[int]] = {}
        routes = [
            Route("/subjects/{subject}/versions", self.register, methods=["POST"]),
            Route("/schemas/ids/{id:int}", self.by_id),
        ]
        self.served = Served(Starlette(routes=routes))
        self.url = self.served.url

    def add(self, subject: str, schema: str) -> int:
        if schema not in self.schemas:
            self.schemas.append(schema)
        schema_id = self.schemas.index(schema) + 1
        self.subjects.setdefault(subject, []).append(schema_id)
        return schema_id

    async def register(self, request: Request) -> Response:
        body = await request.json()
        return JSONResponse({"id": self.add(request.path_params["subject"], body["schema"])})

    async def by_id(self, request: Request) -> Response:
        i = request.path_params["id"]
        if not 1 <= i <= len(self.schemas):
            return JSONResponse({"error_code": 40403, "message": "Schema not found"}, status_code=404)
        return JSONResponse({"schema": self.schemas[i - 1]})

    def stop(self) -> None:
        self.served.stop()
