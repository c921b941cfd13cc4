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
