"""A web page on another local origin cannot drive the key-less default server (real Chromium).

The page tries what a drive-by attacker would: CORS requests with JSON bodies, and
"simple" no-cors requests (no preflight), to save a UDF, validate one and validate a
query with UDFs, each of whose definition writes a file when run. Nothing may run.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

PAGE = """<!doctype html><html><body><script>
async function attack(api, definition) {
  const out = [];
  const bodies = {
    "/udfs": {prefix: "", definition, language: "python"},
    "/udfs/validate": {definition, language: "python"},
    "/pipelines/validate_query": {
      query: "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1');\\nSELECT counter FROM impulse",
      udfs: [{definition, language: "python"}]},
  };
  for (const [path, body] of Object.entries(bodies)) {
    for (const mode of ["cors", "no-cors"]) {
      const headers = mode === "cors" ? {"content-type": "application/json"} : {"content-type": "text/plain"};
      try {
        const r = await fetch(api + path, {method: "POST", mode, headers, body: JSON.stringify(body)});
        out.push(`${path} ${mode}: ${r.type} ${r.status}`);
      } catch (e) {
        out.push(`${path} ${mode}: blocked ${e}`);
      }
    }
  }
  return out;
}
</script></body></html>"""


def _page_server() -> tuple[ThreadingHTTPServer, str]:
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            data = PAGE.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def test_page_on_another_origin_cannot_run_code(chromium, fresh_server, tmp_path):
    mark = tmp_path / "pwned.txt"
    definition = (
        "import pathlib\n"
        f"pathlib.Path({str(mark)!r}).write_text('pwned')\n"
        "from arroyo_udf import udf\n\n@udf\ndef evil(x: int) -> int:\n    return x\n"
    )
    httpd, page_url = _page_server()
    context = chromium.new_context()
    try:
        page = context.new_page()
        page.goto(page_url)
        outcome = page.evaluate("([api, d]) => attack(api, d)", [fresh_server.api_url, definition])
    finally:
        context.close()
        httpd.shutdown()
    assert len(outcome) == 6, outcome
    # no-cors answers are opaque to the page; CORS ones fail their preflight
    assert all("blocked" in line or "opaque" in line for line in outcome), outcome
    assert not mark.exists(), f"a page on another origin ran code on the server: {outcome}"
    assert httpx.get(fresh_server.api_url + "/udfs").json()["data"] == []
    # the same request from that origin, seen from outside the browser: refused, not run
    r = httpx.post(
        fresh_server.api_url + "/udfs/validate",
        json={"definition": definition, "language": "python"},
        headers={"Origin": page_url.rstrip("/")},
    )
    assert r.status_code == 403 and "allowed_origins" in r.json()["error"]
    assert not mark.exists()
    # without an Origin (the client, curl) it still works
    assert httpx.get(fresh_server.api_url + "/ping").json() == "Pong"
    assert json.loads(httpx.get(fresh_server.api_url + "/pipelines").text)["data"] == []
