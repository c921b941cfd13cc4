"""Error statuses and bodies of API.md §1–2, unreachable servers, retries, API-key hygiene."""

from __future__ import annotations

import json
import logging
import socket
from typing import Any

import pytest

from arroyo_jupyter.api import (
    ApiError,
    ArroyoConnectionError,
    AsyncClient,
    AuthError,
    BadRequestError,
    Client,
    ConflictError,
    NotFoundError,
    Retries,
    ServerError,
    SqlError,
)

from . import fixtures as fx
from .conftest import FaultServer, reply
from .spec import NEWER

FAST = Retries(attempts=2, backoff=0.01)


def client_for(server: FaultServer, **kw: Any) -> Client:
    kw.setdefault("retries", FAST)
    return Client(server.url, **kw)


def test_unreachable_server_is_one_clear_line() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Client(f"http://127.0.0.1:{port}", retries=FAST) as client:
        with pytest.raises(ArroyoConnectionError) as info:
            client.ping()
    text = str(info.value)
    assert f"http://127.0.0.1:{port}/api/v1" in text and "\n" not in text
    assert "arroyo-jupyter serve" in text


async def test_unreachable_server_async() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with AsyncClient(f"http://127.0.0.1:{port}", retries=0) as client:
        with pytest.raises(ArroyoConnectionError, match="cannot reach"):
            await client.list_jobs()


@pytest.mark.parametrize(
    ("status", "body", "ctype", "error", "text"),
    [
        (400, '{"error":"Field name must be set"}', "application/json", BadRequestError, "Field name must be set"),
        (400, "Invalid URL: Cannot parse `abc` to a `u32`", "text/plain", BadRequestError, "Cannot parse `abc`"),
        (415, '{"error":"Expected request with `Content-Type: application/json`"}', "application/json",
         BadRequestError, "Content-Type"),
        (422, '{"error":"missing field `query`"}', "application/json", BadRequestError, "missing field"),
        (401, "", None, AuthError, "ARROYO_API_KEY"),
        (403, '{"error":"Admin role required"}', "application/json", AuthError, "Admin role required"),
        (404, '{"error":"Pipeline not found"}', "application/json", NotFoundError, "Pipeline not found"),
        (405, "", None, ApiError, "method not allowed"),
        (409, '{"error":"cannot restart job without state while it is in state Running; stop the job first"}',
         "application/json", ConflictError, "stop the job first"),
        (500, '{"error":"Something went wrong"}', "application/json", ServerError, "Something went wrong"),
        (500, "no such table: pipelines", "text/plain", ServerError, "no such table"),
        (502, '{"error":"the leader is not currently available; try again later"}', "application/json",
         ServerError, "leader"),
        (503, '{"error":"controller-service not available"}', "application/json", ServerError, "controller-service"),
        (404, "404", "text/plain", NotFoundError, "404"),
    ],
)  # fmt: skip
def test_error_statuses_and_bodies(
    server: FaultServer, status: int, body: str, ctype: str | None, error: type, text: str
) -> None:
    server.fallback = lambda h, _s: reply(h, status, body, ctype)
    with client_for(server, retries=0) as client:
        with pytest.raises(error) as info:
            client.get_pipeline("pl_x")
    assert type(info.value) is error
    assert info.value.status == status
    assert text in str(info.value)


def test_error_status_classes_are_the_documented_tree(server: FaultServer) -> None:
    server.fallback = lambda h, _s: reply(h, 400, '{"error":"Failed to plan query:\\n * Query is empty!"}')
    with client_for(server) as client:
        with pytest.raises(BadRequestError) as info:
            client.create_pipeline("p", " ")
    assert isinstance(info.value, SqlError) and isinstance(info.value, ApiError)


def test_html_200_means_wrong_base_path(server: FaultServer) -> None:
    page = "<!doctype html><html><head><title>Arroyo</title></head><body><div id=root></div></body></html>"
    server.fallback = lambda h, _s: reply(h, 200, page, "text/html")
    with Client(api_root=server.url + "/v1", retries=0) as client:  # a wrong root on purpose
        for call in (client.list_pipelines, client.ping, client.list_jobs):
            with pytest.raises(
                ArroyoConnectionError, match="serves a web page, not the Arroyo API: check the base path"
            ):
                call()
        with pytest.raises(ArroyoConnectionError, match="web page"):
            client.stream_output("pl_x", "job_x")


def test_html_without_content_type_is_still_recognised(server: FaultServer) -> None:
    server.fallback = lambda h, _s: reply(h, 200, "<html><body>hi</body></html>", None)
    with client_for(server, retries=0) as client:
        with pytest.raises(ArroyoConnectionError, match="web page"):
            client.get_pipeline("pl_x")


def test_non_json_200_is_a_clear_error(server: FaultServer) -> None:
    server.fallback = lambda h, _s: reply(h, 200, "hello", "text/plain")
    with client_for(server, retries=0) as client:
        with pytest.raises(Exception) as info:
            client.get_pipeline("pl_x")
    assert "unexpected answer to GET /pipelines/pl_x" in str(info.value)


def test_retries_502_503_for_gets(server: FaultServer) -> None:
    answers = iter([503, 502, 200])

    def flaky(h: Any, _s: Any) -> None:
        status = next(answers)
        reply(h, status, json.dumps(fx.pipeline()) if status == 200 else '{"error":"busy"}')

    server.route("GET", "/api/v1/pipelines/pl_W2UjDI6Iud", flaky)
    with client_for(server) as client:
        assert client.get_pipeline("pl_W2UjDI6Iud").name == "top_auctions"
    assert server.hits("GET", "/api/v1/pipelines/pl_W2UjDI6Iud") == 3


def test_retries_give_up_after_the_configured_attempts(server: FaultServer) -> None:
    server.fallback = lambda h, _s: reply(h, 503, '{"error":"compiler-service not available"}')
    with client_for(server) as client:
        with pytest.raises(ServerError, match="compiler-service"):
            client.list_jobs()
    assert server.hits("GET", "/api/v1/jobs") == 1 + FAST.attempts


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_no_retry_for_non_get(server: FaultServer, method: str) -> None:
    server.fallback = lambda h, _s: reply(h, 503, '{"error":"controller-service not available"}')
    with client_for(server) as client:
        with pytest.raises(ServerError):
            if method == "POST":
                client.restart_pipeline("pl_x")
            elif method == "PATCH":
                client.patch_pipeline("pl_x", stop="checkpoint")
            else:
                client.delete_pipeline("pl_x")
    assert len(server.seen) == 1


async def test_async_retries_gets_only(server: FaultServer) -> None:
    server.fallback = lambda h, _s: reply(h, 502, '{"error":"the leader is not currently available"}')
    async with AsyncClient(server.url, retries=FAST) as client:
        with pytest.raises(ServerError):
            await client.get_checkpoints("pl_x", "job_x")
        assert len(server.seen) == 3
        with pytest.raises(ServerError):
            await client.create_preview("SELECT 1")
        assert len(server.seen) == 4


def test_connection_error_retried_then_reported(server: FaultServer) -> None:
    def drop(h: Any, _s: Any) -> None:
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)  # no answer at all

    server.fallback = drop
    with client_for(server) as client:
        with pytest.raises(ArroyoConnectionError):
            client.list_jobs()
    assert server.hits("GET", "/api/v1/jobs") == 1 + FAST.attempts


def test_sql_error_from_create_carries_diagnostics(server: FaultServer) -> None:
    body = {"error": "Failed to plan query:\n * Unsupported SQL type 'FOO'\n"
                     " * sql parser error: Expected: ), found: x at Line: 2, Column: 14"}  # fmt: skip
    server.json("POST", "/api/v1/pipelines", 400, body)
    with client_for(server) as client:
        with pytest.raises(SqlError) as info:
            client.create_pipeline("p", "CREATE TABLE t (a FOO);\nSELECT (a x FROM t")
    diags = info.value.diagnostics
    assert [d.message for d in diags] == [
        "Unsupported SQL type 'FOO'",
        "sql parser error: Expected: ), found: x at Line: 2, Column: 14",
    ]
    assert (diags[0].line, diags[1].line, diags[1].column) == (None, 2, 14)
    assert "Unsupported SQL type 'FOO'" in str(info.value)


def test_sql_error_from_an_older_engine_preview(server: FaultServer) -> None:
    server.json(
        "POST", "/api/v1/pipelines/preview", 400, {"error": "Error during planning: table 'nope' not found"}
    )
    with client_for(server) as client:
        with pytest.raises(SqlError) as info:
            client.create_preview("SELECT * FROM nope")
    assert info.value.diagnostics[0].message == "Error during planning: table 'nope' not found"


def test_non_sql_400_on_create_is_not_a_sql_error(server: FaultServer) -> None:
    server.json(
        "POST",
        "/api/v1/pipelines",
        400,
        {"error": "Checkpoint_interval_micros must be between 1 second and 1 day."},
    )
    with client_for(server) as client:
        with pytest.raises(BadRequestError) as info:
            client.create_pipeline("p", "SELECT 1", checkpoint_interval_micros=5)
    assert not isinstance(info.value, SqlError)


def test_validate_query_both_versions(server: FaultServer) -> None:
    newer = {"graph": None, "errors": [
        {"message": "Unsupported SQL type 'FOO'", "span": {"start": {"line": 2, "column": 12}, "end": {"line": 2, "column": 15}}},
        {"message": "Query is empty!"},
    ]}  # fmt: skip
    NEWER.validate(NEWER.component("QueryValidationResult"), newer)
    server.json("POST", "/api/v1/pipelines/validate_query", 200, newer)
    with client_for(server) as client:
        result = client.validate_query("x")
        assert not result.ok
        d0, d1 = result.errors
        assert (d0.message, d0.line, d0.column, d0.end_line, d0.end_column) == (
            "Unsupported SQL type 'FOO'",
            2,
            12,
            2,
            15,
        )
        assert (d1.message, d1.line) == ("Query is empty!", None)
        server.json(
            "POST", "/api/v1/pipelines/validate_query", 200, {"graph": None, "errors": ["bad thing"], "x": 1}
        )
        assert [d.message for d in client.validate_query("x").errors] == ["bad thing"]
        server.json(
            "POST", "/api/v1/pipelines/validate_query", 200, {"graph": fx.pipeline()["graph"], "errors": []}
        )
        assert client.validate_query("SELECT 1").ok


def test_put_creates_with_a_chosen_id_and_newer_fields(server: FaultServer) -> None:
    server.json("PUT", "/api/v1/pipelines/pl_chosen", 200, fx.pipeline("pl_chosen"))
    with client_for(server) as client:
        p = client.create_pipeline("p", "SELECT 1", pipeline_id="pl_chosen", tags={"a": "b"}, env_vars={"X": "1"},
                                   scheduler_config={"slots": 2}, parallelism=2)  # fmt: skip
    assert p.id == "pl_chosen" and p.tags == {"team": "data"}
    sent = json.loads(server.seen[-1].body)
    NEWER.check_request("PUT", "/v1/pipelines/pl_chosen", sent)
    assert sent == {"name": "p", "query": "SELECT 1", "parallelism": 2, "tags": {"a": "b"},
                    "env_vars": {"X": "1"}, "scheduler_config": {"slots": 2}}  # fmt: skip


def test_api_key_is_sent_but_never_shown(server: FaultServer, caplog: pytest.LogCaptureFixture) -> None:
    secret = "ak-s3cr3t-value-1234"
    server.fallback = lambda h, _s: reply(h, 401, "")
    caplog.set_level(logging.DEBUG)
    client = client_for(server, api_key=secret)
    texts = [repr(client), str(client)]
    for call in (client.ping, client.list_jobs, lambda: client.create_pipeline("p", "SELECT 1")):
        with pytest.raises(AuthError) as info:
            call()
        texts += [str(info.value), repr(info.value)]
    with pytest.raises(AuthError) as info:
        client.stream_output("pl_x", "job_x")
    texts.append(str(info.value))
    client.close()
    assert server.seen[0].headers["authorization"] == f"Bearer {secret}"
    assert all(secret not in t for t in texts)
    assert secret not in caplog.text
    assert "api_key=***" in repr(client)


def test_api_key_from_environment(server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARROYO_API_KEY", "from-env")
    monkeypatch.setenv("ARROYO_URL", server.url + "/api")
    server.json("GET", "/api/v1/jobs", 200, fx.jobs(fx.job()))
    with Client(retries=0) as client:
        assert client.api_root == server.url + "/api/v1"
        assert [j.state for j in client.list_jobs()] == ["Running"]
    assert server.seen[-1].headers["authorization"] == "Bearer from-env"


def test_bad_arguments_fail_fast_with_a_clear_message(server: FaultServer) -> None:
    with client_for(server) as client:
        with pytest.raises(ValueError, match="limit must be an int >= 1"):
            client.list_pipelines(limit=0)
        with pytest.raises(ValueError, match="stop mode must be one of"):
            client.patch_pipeline("pl_x", stop="pause")
        with pytest.raises(ValueError, match="pipeline_id must be a non-empty string"):
            client.get_pipeline("")
        with pytest.raises(ValueError, match="epoch must be an int"):
            client.get_checkpoint_details("pl_x", "job_x", -1)
        with pytest.raises(ValueError, match="language must be"):
            client.validate_udf("x", language="java")
    assert server.seen == []
    with pytest.raises(ValueError, match="not an http"):
        Client("ftp://example.com")


def test_a_server_that_does_not_answer_in_time(server: FaultServer) -> None:
    def stall(h: Any, _s: Any) -> None:
        server.stop_event.wait(2)
        reply(h, 200, "{}")

    server.fallback = stall
    with client_for(server, timeout=0.2, retries=0) as client:
        with pytest.raises(ArroyoConnectionError, match="did not answer in time; raise timeout="):
            client.list_jobs()
