"""Arroyo's own planner queries against the embedded server's validate endpoint (check.py).

Every query must agree with Arroyo — plan where Arroyo plans, be refused where Arroyo refuses,
with Arroyo's message — or be listed in ``planner_exceptions.txt`` with the reason it cannot.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PLANNER = HERE.parents[1].parent / "shared" / "arroyo" / "sql-planner"
EXCEPTIONS = HERE / "planner_exceptions.txt"


def listed() -> dict[str, str]:
    out = {}
    for line in EXCEPTIONS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.strip().partition(" ")
            out[name] = reason.strip()
    return out


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_arroyo_planner_queries_agree_or_are_listed_with_a_reason(fresh_server):
    if not (PLANNER / "check.py").exists():
        pytest.skip(f"Arroyo's planner queries are not checked out at {PLANNER}")
    done = subprocess.run(
        [
            sys.executable,
            str(PLANNER / "check.py"),
            str(PLANNER / "queries"),
            "--suite",
            "planner",
            "--url",
            fresh_server.url,
        ],
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]
    exceptions = listed()
    verdicts = {}
    for line in done.stdout.splitlines():
        m = re.match(r"(AGREE|DISAGREE|SKIP) (?:rust-udf )?(\S+) ", line)
        if m:
            verdicts[m.group(2)] = (m.group(1), line)
    assert verdicts, done.stdout[-2000:] + done.stderr[-2000:]
    wrong = []
    for name, (verdict, line) in sorted(verdicts.items()):
        if name in exceptions:
            continue
        if verdict != "AGREE" or "msg=different" in line:
            wrong.append(line)
    assert not wrong, "not agreeing with Arroyo and not in planner_exceptions.txt:\n" + "\n".join(wrong)
    for name in exceptions:
        if name not in verdicts:
            pytest.fail(f"planner_exceptions.txt lists {name}, which is not one of the planner queries")
        verdict, line = verdicts[name]
        if verdict == "AGREE" and "msg=different" not in line:  # e.g. once its connector exists
            warnings.warn(
                f"{name} now agrees with Arroyo: remove it from planner_exceptions.txt", stacklevel=1
            )


@pytest.mark.timeout(300)
def test_malformed_planner_queries_over_http_get_positioned_errors_never_a_500(fresh_server):
    """The validate endpoint, as the web UI and check.py use it, on cut and mistyped queries:
    always 200, and every error carries a message and a span in the query as sent."""
    import random

    import httpx
    from test_sql_fuzz import _variants

    files = sorted((PLANNER / "queries").glob("*.sql"))[::4]  # a spread of them
    if not files:
        pytest.skip(f"Arroyo's planner queries are not checked out at {PLANNER}")
    sent = 0
    with httpx.Client(base_url=fresh_server.api_url, timeout=60) as client:
        for f in files:
            text = f.read_text()
            for sql in _variants(text, random.Random(f.stem)):
                r = client.post("/pipelines/validate_query", json={"query": sql})
                sent += 1
                assert r.status_code == 200, (r.status_code, r.text[:300], sql)
                body = r.json()
                assert body["graph"] is not None or body["errors"], sql
                for e in body["errors"]:
                    assert e["message"] and "Traceback" not in e["message"], (e, sql)
                    if sql.strip() and e["message"] != "Query is empty!":
                        line = e["span"]["start"]["line"]
                        assert 1 <= line <= len(sql.split("\n")), (e, sql)
    assert sent > 100
