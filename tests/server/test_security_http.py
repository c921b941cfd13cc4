"""The embedded server's guards against hostile or absurd input, over real HTTP.

Host header (DNS rebinding), Origin, body size (refused unread), field lengths, the inputs
that used to answer a bare 500, nonsense connector values and file-connector roots.
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from arroyo_jupyter.local import start

IMPULSE = "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '10');\n"


def _host_port(server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


# -- Host and Origin -----------------------------------------------------------------
def test_foreign_host_header_is_refused(api, arroyo_server):
    _, port = _host_port(arroyo_server)
    for host in ("evil.example", f"evil.example:{port}", f"rebind.attacker.test:{port}"):
        r = api.get("/ping", headers={"Host": host})
        assert r.status_code == 403, host
        assert "local_hostnames" in r.json()["error"]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
        assert api.get("/ping", headers={"Host": host}).json() == "Pong"


def test_host_allow_list_and_remote_access(tmp_path):
    with start(port=0, state_dir=tmp_path / "a", local_hostnames=["arroyo.internal"]) as server:
        r = httpx.get(server.api_url + "/ping", headers={"Host": "arroyo.internal"})
        assert r.json() == "Pong"
        assert httpx.get(server.api_url + "/ping", headers={"Host": "other.internal"}).status_code == 403
    with start(port=0, state_dir=tmp_path / "b", allow_remote_access=True) as server:
        assert httpx.get(server.api_url + "/ping", headers={"Host": "any.name"}).json() == "Pong"


def test_foreign_origin_is_refused_own_and_listed_are_served(api, arroyo_server):
    own = arroyo_server.url
    r = api.post(
        "/pipelines/validate_query", json={"query": "SELECT 1"}, headers={"Origin": "http://127.0.0.1:1"}
    )
    assert r.status_code == 403
    pre = api.options(
        "/pipelines", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert pre.status_code == 403 and "access-control-allow-origin" not in pre.headers
    assert api.get("/ping", headers={"Origin": own}).json() == "Pong"  # its own pages
    assert api.get("/ping", headers={"Origin": "null"}).status_code == 403


# -- bodies and fields ---------------------------------------------------------------
def _raw_post(server, path: str, head: dict[str, str], body_parts) -> tuple[bytes, int]:
    """Send a POST by hand; returns (response, bytes of body sent before it came)."""
    host, port = _host_port(server)
    sock = socket.create_connection((host, port), timeout=30)
    lines = [f"POST /api/v1{path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in head.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    sent = 0
    sock.settimeout(0.05)
    answer = b""
    try:
        for part in body_parts:
            try:
                sock.sendall(part)
            except OSError:  # the server closed the connection: it refused the rest
                break
            sent += len(part)
            try:
                answer += sock.recv(65536)
            except TimeoutError:
                continue
            if answer:
                break
        sock.settimeout(30)
        while True:  # the refusal closes the connection
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
    finally:
        sock.close()
    return answer, sent


def test_300_mb_body_is_refused_without_reading_it(arroyo_server):
    size = 300 * 1024 * 1024
    mib = b"x" * (1024 * 1024)
    answer, sent = _raw_post(
        arroyo_server, "/pipelines", {"Content-Length": str(size)}, (mib for _ in range(300))
    )
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"max_body_bytes" in answer or b"too large" in answer
    assert sent < 64 * 1024 * 1024, f"the server let {sent} bytes be sent before answering"


def test_chunked_body_is_counted_as_it_arrives(tmp_path):
    with start(port=0, state_dir=tmp_path, max_body_bytes=1024 * 1024) as server:
        chunk = b"x" * 65536
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        answer, sent = _raw_post(
            server, "/pipelines", {"Transfer-Encoding": "chunked"}, (framed for _ in range(400))
        )
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert sent < 8 * 1024 * 1024
        assert httpx.get(server.api_url + "/ping").json() == "Pong"


def test_field_lengths_and_nul_are_limited(api):
    big_query = IMPULSE + "SELECT counter FROM impulse -- " + "x" * (2 * 1024 * 1024)
    r = api.post("/pipelines/preview", json={"query": big_query})
    assert r.status_code == 400 and "max_query_bytes" in r.json()["error"]
    sql = IMPULSE + "SELECT counter FROM impulse"
    r = api.post("/pipelines", json={"name": "n" * 1_000_000, "query": sql, "parallelism": 1})
    assert r.status_code == 400 and "name is too long" in r.json()["error"]
    r = api.post("/pipelines", json={"name": "bad\u0000name", "query": sql, "parallelism": 1})
    assert r.status_code == 400 and "NUL" in r.json()["error"]
    r = api.post("/pipelines/preview", json={"query": sql + "\u0000"})
    assert r.status_code == 400 and "NUL" in r.json()["error"]
    r = api.get("/pipelines/" + "p" * 10_000)
    assert r.status_code == 400
    r = api.get("/pipelines/pl_%00abc")
    assert r.status_code in (400, 404) and r.status_code != 500


# -- the nine inputs that answered a bare 500 -------------------------------------------
def _nested_subqueries(n: int) -> str:
    q = "SELECT counter FROM impulse"
    for _ in range(n):
        q = f"SELECT counter FROM ({q}) AS t"
    return q


NESTED = {
    "3000 parentheses": "SELECT " + "(" * 3000 + "counter" + ")" * 3000 + " FROM impulse",
    "2000 abs()": "SELECT " + "abs(" * 2000 + "counter" + ")" * 2000 + " FROM impulse",
    "1000 CASE": "SELECT "
    + "CASE WHEN counter > 0 THEN " * 1000
    + "counter"
    + " END" * 1000
    + " FROM impulse",
    "300 subqueries": _nested_subqueries(300),
    "120 parentheses": "SELECT " + "(" * 120 + "counter" + ")" * 120 + " FROM impulse",  # under max_nesting
}


@pytest.mark.parametrize("what", sorted(NESTED))
def test_deep_nesting_is_a_400(api, what):
    r = api.post("/pipelines/preview", json={"query": IMPULSE + NESTED[what]})
    assert r.status_code == 400, r.text
    assert "nested too deeply" in r.json()["error"] or "Failed to plan" in r.json()["error"]
    v = api.post("/pipelines/validate_query", json={"query": IMPULSE + NESTED[what]})
    assert v.status_code == 200 and v.json()["errors"], v.text


@pytest.mark.parametrize("limit", [str(10**30), str(2**63), str(2**32)])
@pytest.mark.parametrize("path", ["/pipelines", "/connection_tables"])
def test_huge_limits_are_a_400(api, path, limit):
    r = api.get(path, params={"limit": limit})
    assert r.status_code == 400 and "too large" in r.text


def test_huge_epoch_and_error_page_limit_are_a_400(api):
    r = api.post(
        "/pipelines",
        json={"name": "epochs", "query": IMPULSE + "SELECT counter FROM impulse", "parallelism": 1},
    )
    assert r.status_code == 200, r.text
    pid = r.json()["id"]
    jid = api.get(f"/pipelines/{pid}/jobs").json()["data"][0]["id"]
    r = api.get(f"/pipelines/{pid}/jobs/{jid}/checkpoints/{10**30}/operator_checkpoint_groups")
    assert r.status_code == 400 and "u32" in r.text
    r = api.get(f"/pipelines/{pid}/jobs/{jid}/errors", params={"limit": str(10**30)})
    assert r.status_code == 400
    api.patch(f"/pipelines/{pid}", json={"stop": "immediate"})


# -- planning is bounded ---------------------------------------------------------------
def test_50000_term_query_is_refused_quickly(api):
    query = IMPULSE + "SELECT " + " + ".join(["counter"] * 50_000) + " FROM impulse"
    t0 = time.monotonic()
    r = api.post("/pipelines/preview", json={"query": query})
    took = time.monotonic() - t0
    assert r.status_code == 400 and "too long to plan" in r.json()["error"], r.text
    assert took < 5, took


def test_planning_time_limit_and_the_server_answers_meanwhile(tmp_path):
    import threading

    with start(port=0, state_dir=tmp_path, planning_timeout_s=2.0) as server:
        # ~4,000 tokens: under the size limit, but it would plan for tens of seconds
        query = IMPULSE + "SELECT " + " + ".join(["counter"] * 2000) + " FROM impulse"
        result: dict = {}

        def post() -> None:
            t0 = time.monotonic()
            result["r"] = httpx.post(
                server.api_url + "/pipelines/preview", json={"query": query}, timeout=120
            )
            result["took"] = time.monotonic() - t0

        worker = threading.Thread(target=post)
        worker.start()
        pings = []
        with httpx.Client(base_url=server.api_url, timeout=30) as c:
            while worker.is_alive():
                t0 = time.monotonic()
                assert c.get("/pipelines").status_code == 200
                pings.append(time.monotonic() - t0)
                time.sleep(0.05)
        worker.join()
        r = result["r"]
        assert r.status_code == 400 and "planning took longer than 2 s" in r.json()["error"], r.text
        assert result["took"] < 15, result["took"]
        pings.sort()
        assert pings and pings[len(pings) // 2] < 1.0, pings  # the API kept answering
        # and the planner is free again
        ok = httpx.post(
            server.api_url + "/pipelines/validate_query",
            json={"query": IMPULSE + "SELECT counter FROM impulse"},
        )
        assert ok.json()["errors"] == []


# -- nonsense connector values ---------------------------------------------------------
@pytest.mark.parametrize(
    "options,needle",
    [
        ("event_rate = '-5'", "event_rate"),
        ("event_rate = '0'", "event_rate"),
        ("event_rate = '1e30'", "event_rate"),
        ("event_rate = 'inf'", "event_rate"),
        ("event_rate = '10', message_count = '-1'", "message_count"),
        ("event_rate = '10', message_count = '1.5'", "message_count"),
    ],
)
def test_nonsense_connector_values_are_refused(api, options, needle):
    q = f"CREATE TABLE impulse WITH (connector = 'impulse', {options});\nSELECT counter FROM impulse"
    r = api.post("/pipelines/preview", json={"query": q})
    assert r.status_code == 400 and needle in r.json()["error"], r.text


def test_nonsense_connection_table_values_are_refused(api):
    r = api.post(
        "/connection_tables",
        json={"name": "neg_rate", "connector": "impulse", "config": {"event_rate": -5}},
    )
    assert r.status_code == 400 and "event_rate" in r.json()["error"]
    r = api.post(
        "/connection_tables",
        json={"name": "nul\u0000name", "connector": "impulse", "config": {"event_rate": 5}},
    )
    assert r.status_code == 400 and "NUL" in r.json()["error"]


# -- file connectors are confined to their roots --------------------------------------
def test_file_connectors_are_confined_to_roots(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "in.json").write_text('{"x": 1}\n')
    (root / "link.json").symlink_to("/etc/passwd")
    with start(port=0, state_dir=tmp_path / "state", file_roots=[str(root)]) as server:

        def source(path: str) -> str:
            return (
                f"CREATE TABLE f (x BIGINT) WITH (connector = 'single_file', path = '{path}', "
                "format = 'json', type = 'source');\nSELECT x FROM f"
            )

        for path in ("/etc/passwd", str(root / ".." / "escape.json"), str(root / "link.json")):
            r = httpx.post(server.api_url + "/pipelines/preview", json={"query": source(path)})
            assert r.status_code == 400 and "outside the directories" in r.json()["error"], (path, r.text)
        sink = (
            IMPULSE + "CREATE TABLE out (counter BIGINT) WITH (connector = 'single_file', "
            "path = '/tmp/overwritten-by-arroyo.json', format = 'json', type = 'sink');\n"
            "INSERT INTO out SELECT counter FROM impulse"
        )
        r = httpx.post(server.api_url + "/pipelines", json={"name": "s", "query": sink, "parallelism": 1})
        assert r.status_code == 400 and "outside the directories" in r.json()["error"]
        r = httpx.post(
            server.api_url + "/connection_tables",
            json={
                "name": "pw",
                "connector": "single_file",
                "config": {"path": "/etc/passwd", "format": "json", "type": "source"},
            },
        )
        assert r.status_code == 400 and "outside the directories" in r.json()["error"]
        ok = httpx.post(
            server.api_url + "/pipelines/validate_query", json={"query": source(str(root / "in.json"))}
        )
        assert ok.json()["errors"] == [], ok.text


def test_planning_stops_when_the_client_goes_away(tmp_path):
    import threading

    def planning() -> bool:
        return any(t.name == "arroyo-plan-deadline" for t in threading.enumerate())

    with start(port=0, state_dir=tmp_path, planning_timeout_s=120) as server:
        query = IMPULSE + "SELECT " + " + ".join(["counter"] * 2000) + " FROM impulse"
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(server.api_url + "/pipelines/preview", json={"query": query}, timeout=1.5)
        t0 = time.monotonic()
        while planning() and time.monotonic() - t0 < 20:
            time.sleep(0.1)
        assert not planning(), "planning went on after its client left"
        assert time.monotonic() - t0 < 10
        assert httpx.get(server.api_url + "/pipelines").json()["data"] == []
