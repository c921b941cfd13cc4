"""Property-based conformance: schemathesis drives the running server over real HTTP.

Two specs, because API.md documents a newer engine than the official spec:
- the official ``api-spec.json`` (from the shared reference): every operation, checked for
  server errors and response-schema conformance. Its ``validate_query`` declares
  ``errors: string[]``, while the newer engine (and this server) answers ``SqlDiagnostic``
  objects, so against this spec ``validate_query`` only gets valid SQL (``errors == []``
  conforms to both);
- the spec the server itself serves (``/api/v1/api-docs/openapi.json``: official + API.md
  §12 shapes): every operation including invalid SQL for ``validate_query``.

Generated strings rarely look like SQL, so the SQL fields are given realistic examples
through an overlay kept here: valid bounded queries (they run and finish quickly), and
invalid ones, including quotes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from arroyo_jupyter.local.app import OPENAPI_PATH

OFFICIAL = Path(__file__).resolve().parents[3] / "shared" / "arroyo" / "api-spec.json"
if not OFFICIAL.exists():  # the reference lives beside the checkout
    OFFICIAL = Path("/work/shared/arroyo/api-spec.json")

VALID_SQL = [
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = '1000', message_count = '20');\n"
    "SELECT counter, subtask_index FROM impulse;",
    "CREATE TABLE impulse WITH (connector = 'impulse', event_rate = 1000, message_count = 10);\n"
    "SELECT counter * 2 AS doubled, 'it''s' AS quoted FROM impulse WHERE counter % 2 = 0;",
    "CREATE TABLE nexmark WITH (connector = 'nexmark', event_rate = '1000', runtime = '0.05');\n"
    "SELECT bid.price FROM nexmark WHERE bid IS NOT NULL;",
]
INVALID_SQL = [
    "",
    "SELEC counter FROM impulse",
    "SELECT * FROM no_such_table",
    "CREATE TABLE impulse WITH (connector = 'impulse'); SELECT counter FROM impulse;",
    "SELECT 'unterminated FROM x",
]


def _overlay(spec: dict, validate_sql: list[str]) -> dict:
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]
    for name in ("PipelinePost", "PreviewPost"):
        schemas[name]["properties"]["query"] = {"type": "string", "enum": VALID_SQL + INVALID_SQL}
    schemas["ValidateQueryPost"]["properties"]["query"] = {"type": "string", "enum": validate_sql}
    # realistic UDFs: a valid Python one, or none
    schemas["Udf"]["properties"]["definition"] = {
        "type": "string",
        "enum": ["from arroyo_udf import udf\n\n@udf\ndef plus_one(x: int) -> int:\n    return x + 1\n"],
    }
    return spec


official = schemathesis.openapi.from_dict(_overlay(json.loads(OFFICIAL.read_text()), VALID_SQL))
served = schemathesis.openapi.from_dict(
    _overlay(json.loads(OPENAPI_PATH.read_text()), VALID_SQL + INVALID_SQL)
)
for _schema in (official, served):
    # positive data only: negative generation would put non-SQL strings back into `query`
    _schema.config.generation.update(modes=[GenerationMode.POSITIVE])
CHECKS = [not_a_server_error, response_schema_conformance]
SETTINGS = settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def conformance_server(tmp_path_factory):
    from arroyo_jupyter.local import start

    # few running jobs and short previews: generated creates must not pile up work
    server = start(
        port=0, state_dir=tmp_path_factory.mktemp("schemathesis"), max_running_jobs=3, preview_ttl_s=1
    )
    yield server
    server.stop()


def _skip_output(case) -> bool:
    # the output stream is an endless SSE body on Running jobs; it has its own tests
    return case.operation.path.endswith("/output")


@official.parametrize()
@SETTINGS
@seed(1)
def test_official_spec(case, conformance_server):
    if _skip_output(case):
        return
    case.call_and_validate(base_url=conformance_server.url + "/api", checks=CHECKS, timeout=30)


@served.parametrize()
@SETTINGS
@seed(1)
def test_served_spec_with_newer_shapes(case, conformance_server):
    if _skip_output(case):
        return
    case.call_and_validate(base_url=conformance_server.url + "/api", checks=CHECKS, timeout=30)
