"""The official OpenAPI spec as JSON Schema, plus an overlay of the newer engine (API.md §12).

OpenAPI 3.0 has ``nullable``, which JSON Schema lacks: schemas are rewritten so that
jsonschema understands them, and all ``$ref``s resolve through a referencing Registry.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SPEC_PATH = (SHARED / "arroyo" / "api-spec.json").resolve()
SPEC_URI = "urn:arroyo:spec"
NEW_URI = "urn:arroyo:newer"


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` → JSON Schema ``null`` alternatives (recursively)."""
    if isinstance(node, list):
        return [_nullable(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if isinstance(out.get("type"), str) and "allOf" not in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def load_spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


def _newer(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec plus the HEAD engine's additions (API.md §12), requests closed to typos."""
    s = copy.deepcopy(spec)
    sc = s["components"]["schemas"]
    ref = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
    str_map = {"type": "object", "additionalProperties": {"type": "string"}}
    sc["SqlLocation"] = {
        "type": "object",
        "required": ["line", "column"],
        "properties": {
            "line": {"type": "integer", "minimum": 1},
            "column": {"type": "integer", "minimum": 1},
        },
    }
    sc["SqlSpan"] = {"type": "object", "required": ["start", "end"],
                     "properties": {"start": ref("SqlLocation"), "end": ref("SqlLocation")}}  # fmt: skip
    sc["SqlDiagnostic"] = {"type": "object", "required": ["message"],
                           "properties": {"message": {"type": "string"}, "span": ref("SqlSpan")}}  # fmt: skip
    sc["QueryValidationResult"]["properties"]["errors"]["items"] = ref("SqlDiagnostic")
    sc["Pipeline"]["properties"]["tags"] = str_map
    sc["Pipeline"]["properties"]["state_url"] = {"type": "string", "nullable": True}
    sc["Pipeline"]["required"].append("tags")
    job = sc["Job"]
    job["properties"].update({"pipeline_id": {"type": "string"}, "scheduler_config": {}, "env_vars": {}})
    job["required"] += ["pipeline_id", "scheduler_config", "env_vars"]
    sc["Checkpoint"]["properties"]["checkpoint_type"] = {"type": "string", "enum": ["scheduled", "stopping"]}
    sc["Checkpoint"]["required"].append("checkpoint_type")
    post = sc["PipelinePost"]["properties"]
    post.update({"state_url": {"type": "string", "nullable": True}, "tags": str_map, "env_vars": str_map,
                 "scheduler_config": {}})  # fmt: skip
    sc["PipelinePatch"]["properties"].update({"env_vars": str_map, "scheduler_config": {}})
    sc["PipelineRestart"]["properties"]["ignore_state"] = {"type": "boolean", "nullable": True}
    for name in ("PipelinePost", "PipelinePatch", "PipelineRestart", "PreviewPost", "ValidateQueryPost",
                 "UdfPost", "ValidateUdfPost", "ConnectionProfilePost", "ConnectionTablePost", "Udf"):  # fmt: skip
        sc[name]["additionalProperties"] = False  # a misspelt field is a client bug
    s["paths"]["/v1/pipelines/{id}"]["put"] = {
        "operationId": "put_pipeline",
        "parameters": s["paths"]["/v1/pipelines/{id}"]["get"]["parameters"],
        "requestBody": {"content": {"application/json": {"schema": ref("PipelinePost")}}, "required": True},
        "responses": {"200": {"content": {"application/json": {"schema": ref("Pipeline")}}}},
    }
    return s


class Contract:
    """Validates request/response bodies of one API version against its schemas."""

    def __init__(self, document: dict[str, Any], uri: str) -> None:
        self.document = _nullable(document)
        self.uri = uri
        self.registry: Registry = Registry().with_resource(uri, Resource(self.document, DRAFT202012))
        self.routes: list[tuple[re.Pattern[str], str, str, dict[str, Any]]] = []
        templates = sorted(self.document["paths"], key=lambda p: p.count("{"))  # literal paths first
        for template in templates:
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
            for method, op in self.document["paths"][template].items():
                if method != "parameters":
                    self.routes.append((pattern, method.upper(), template, op))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        for pattern, m, template, op in self.routes:
            if m == method and pattern.match(path):
                return template, op
        raise AssertionError(f"{method} {path} is not an operation of the spec")

    def operation_ids(self) -> set[str]:
        return {op["operationId"] for _, _, _, op in self.routes}

    def validate(self, schema: dict[str, Any], instance: Any) -> None:
        jsonschema.Draft202012Validator(self._anchor(schema), registry=self.registry).validate(instance)

    def _anchor(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A schema whose local ``#/components`` refs point into the spec document."""
        text = json.dumps(schema).replace('"#/components/', f'"{self.uri}#/components/')
        return json.loads(text)

    def component(self, name: str) -> dict[str, Any]:
        return {"$ref": f"{self.uri}#/components/schemas/{name}"}

    def check_request(self, method: str, path: str, body: Any) -> str:
        _, op = self.operation(method, path)
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            assert body is None, f"{method} {path} takes no body but got {body!r}"
        elif body is not None or op.get("requestBody", {}).get("required"):
            self.validate(content["schema"], body)
        return str(op["operationId"])

    def check_response(self, method: str, path: str, status: int, body: Any) -> None:
        _, op = self.operation(method, path)
        response = op["responses"].get(str(status))
        assert response is not None, f"{method} {path}: status {status} not declared"
        content = response.get("content", {}).get("application/json")
        if content is not None:
            self.validate(content["schema"], body)


SPEC = Contract(load_spec(), SPEC_URI)
NEWER = Contract(_newer(load_spec()), NEW_URI)
