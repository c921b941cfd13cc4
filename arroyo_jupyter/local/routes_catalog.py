"""Connectors, connection profiles, connection tables and global UDFs."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import bodies
from .connectors import CONNECTORS, check_config, check_profile_config, table_schema, table_type
from .context import Context, ctx
from .engine import connectors as engine_connectors
from .http import bad_request, empty_ok, endpoint, not_found, page, pagination
from .ids import new_id, now_micros
from .limits import LimitError, check_connector_options
from .rows_json import encode
from .store import DuplicateError
from .udfs import inspect_python_udf
from .views import profile_json, udf_json


@endpoint()
def list_connectors(request: Request, _body: None) -> Any:
    return {"data": [c.to_json() for c in sorted(CONNECTORS.values(), key=lambda c: c.name)]}


# -- connection profiles -------------------------------------------------------------
@endpoint()
def list_profiles(request: Request, _body: None) -> Any:
    return {"data": [profile_json(p) for p in ctx(request).store.list_profiles()]}


def _check_profile(body: bodies.ConnectionProfilePost) -> None:
    if not body.name:
        raise bad_request("Field name must be set")
    if body.connector not in CONNECTORS:
        raise bad_request("Unknown connector type")
    if not isinstance(body.config, dict):
        raise bad_request("Invalid config: expected a JSON object")
    problem = check_profile_config(CONNECTORS[body.connector], body.config)
    if problem:
        raise bad_request(f"Invalid config: {problem}")


@endpoint(bodies.ConnectionProfilePost)
def create_profile(request: Request, body: bodies.ConnectionProfilePost) -> Any:
    _check_profile(body)
    now = now_micros()
    profile = {
        "id": new_id("cp"),
        "name": body.name,
        "connector": body.connector,
        "config": body.config,
        "description": f"{CONNECTORS[body.connector].name} connection",
        "created_at": now,
        "updated_at": now,
    }
    try:
        ctx(request).store.add_profile(profile)
    except DuplicateError:
        raise bad_request("connection_profile with that name already exists") from None
    return profile_json(profile)


@endpoint(bodies.ConnectionProfilePost)
def test_profile(request: Request, body: bodies.ConnectionProfilePost) -> Any:
    _check_profile(body)
    options = engine_connectors.console_options(body.connector, {}, body.config) or {}
    try:
        steps = engine_connectors.test_connection(body.connector, options)
    except engine_connectors.ConnectionFailed as err:
        return {"error": True, "done": True, "message": str(err)}
    if steps is None:
        return {"error": False, "done": True, "message": "This connector does not support testing"}
    return {"error": False, "done": True, "message": "; ".join(steps)}


@endpoint()
def delete_profile(request: Request, _body: None) -> Any:
    if not ctx(request).store.delete_profile(request.path_params["id"]):
        raise not_found("Connection profile")
    return empty_ok()


@endpoint()
def profile_autocomplete(request: Request, _body: None) -> Any:
    profile = ctx(request).store.get_profile(request.path_params["id"])
    if profile is None:
        raise not_found("Connection profile")
    options = engine_connectors.console_options(profile["connector"], {}, profile["config"]) or {}
    try:
        return {"values": engine_connectors.autocomplete(profile["connector"], options)}
    except engine_connectors.ConnectionFailed as err:
        raise bad_request(f"Could not list values: {err}") from None


# -- connection tables ---------------------------------------------------------------
def _table_json(c: Context, t: dict[str, Any]) -> dict[str, Any]:
    profile = c.store.get_profile(t["profile_id"]) if t["profile_id"] else None
    return {
        "id": t["id"],
        "name": t["name"],
        "created_at": t["created_at"],
        "connector": t["connector"],
        "connection_profile": profile_json(profile) if profile else None,
        "table_type": t["table_type"],
        "config": t["config"],
        "schema": t["schema"],
        "consumers": c.store.consumers(t["id"]),
    }


def _validated_table(c: Context, body: bodies.ConnectionTablePost) -> dict[str, Any]:
    if not body.name:
        raise bad_request("Field name must be set")
    if not body.name.replace("_", "a").isalnum() or body.name[0].isdigit():
        raise bad_request(
            "Invalid table name: use letters, digits and underscores, not starting with a digit"
        )
    connector = CONNECTORS.get(body.connector)
    if connector is None or connector.hidden and connector.id == "preview":
        raise bad_request(f"Unknown connector '{body.connector}'")
    profile_id = body.connection_profile_id
    if profile_id:
        profile = c.store.get_profile(profile_id)
        if profile is None:
            raise bad_request(f"No connection profile with id '{profile_id}'")
        if profile["connector"] != body.connector:
            raise bad_request("Connection profile is for a different connector")
    problem = check_config(connector, body.config)
    if problem:
        raise bad_request(f"Failed to parse config: {problem}")
    try:  # values (rates, counts, file paths) the engine must never be given
        check_connector_options(body.connector, body.config, c.config)
    except LimitError as e:
        raise bad_request(f"Failed to parse config: {e}") from None
    fields = (body.schema or {}).get("fields") or []
    names = [f.get("name") for f in fields if isinstance(f, dict)]
    if len(names) != len(set(names)):
        raise bad_request("Invalid schema: duplicate field names")
    return {
        "id": new_id("ct"),
        "name": body.name,
        "connector": body.connector,
        "table_type": table_type(connector, body.config),
        "config": body.config,
        "schema": table_schema(connector, body.schema),
        "profile_id": profile_id or None,
        "created_at": now_micros(),
    }


@endpoint()
def list_tables(request: Request, _body: None) -> Any:
    c = ctx(request)
    limit, after = pagination(request)
    rows, more = c.store.list_tables(limit, after)
    return page([_table_json(c, t) for t in rows], more)


@endpoint(bodies.ConnectionTablePost)
def create_table(request: Request, body: bodies.ConnectionTablePost) -> Any:
    c = ctx(request)
    table = _validated_table(c, body)
    try:
        c.store.add_table(table)
    except DuplicateError:
        raise bad_request("connection_table with that name already exists") from None
    return _table_json(c, table)


@endpoint(bodies.ConnectionTablePost)
def test_table(request: Request, body: bodies.ConnectionTablePost) -> Any:
    c = ctx(request)
    table = _validated_table(c, body)
    profile = c.store.get_profile(table["profile_id"]) if table["profile_id"] else None
    options = engine_connectors.console_options(
        body.connector, body.config, profile["config"] if profile else None
    )
    messages = [{"error": False, "done": False, "message": "Table configuration is valid"}]
    try:  # connectors to outside systems really connect (the broker, the topic)
        steps = engine_connectors.test_connection(body.connector, options) if options is not None else None
        messages += [{"error": False, "done": False, "message": m} for m in steps or []]
        messages.append({"error": False, "done": True, "message": "Successfully validated connection"})
    except engine_connectors.ConnectionFailed as err:
        messages.append({"error": True, "done": True, "message": str(err)})
    if len(messages) == 2 and not messages[1]["error"]:  # nothing to connect to: one message, as before
        messages = [{"error": False, "done": True, "message": "Table configuration is valid"}]
    body_bytes = b"".join(b"data: " + encode(m) + b"\n\n" for m in messages)
    return Response(body_bytes, media_type="text/event-stream")


@endpoint(bodies.SchemaBody)
def test_schema(request: Request, body: bodies.SchemaBody) -> Any:
    return empty_ok()


@endpoint()
def delete_table(request: Request, _body: None) -> Any:
    if not ctx(request).store.delete_table(request.path_params["id"]):
        raise not_found("Connection table")
    return empty_ok()


# -- UDFs ----------------------------------------------------------------------------
@endpoint()
def list_udfs(request: Request, _body: None) -> Any:
    return {"data": [udf_json(u) for u in ctx(request).store.list_udfs()]}


def _python_only(language: Any) -> None:
    if (language or "python") != "python":
        raise bad_request(
            "UDF is invalid: the embedded engine runs Python UDFs only; set language to 'python'"
        )


@endpoint(bodies.UdfPost)
def create_udf(request: Request, body: bodies.UdfPost) -> Any:
    _python_only(body.language)
    name, errors = inspect_python_udf(body.definition)
    if errors or name is None:
        raise bad_request("UDF is invalid: " + "; ".join(errors))
    now = now_micros()
    udf = {
        "id": new_id("udf"),
        "prefix": body.prefix,
        "name": name,
        "language": "python",
        "definition": body.definition,
        "description": body.description,
        "created_at": now,
        "updated_at": now,
    }
    try:
        ctx(request).store.add_udf(udf)
    except DuplicateError:
        raise bad_request("udf with that name already exists") from None
    return udf_json(udf)


@endpoint(bodies.ValidateUdfPost)
def validate_udf(request: Request, body: bodies.ValidateUdfPost) -> Any:
    if (body.language or "python") != "python":
        return {"udf_name": None, "errors": ["the embedded engine runs Python UDFs only"]}
    name, errors = inspect_python_udf(body.definition)
    return {"udf_name": name, "errors": errors}


@endpoint()
def delete_udf(request: Request, _body: None) -> Any:
    if not ctx(request).store.delete_udf(request.path_params["id"]):
        raise not_found("UDF")
    return empty_ok()


ROUTES = [
    Route("/connectors", list_connectors, methods=["GET"]),
    Route("/connection_profiles", list_profiles, methods=["GET"]),
    Route("/connection_profiles", create_profile, methods=["POST"]),
    Route("/connection_profiles/test", test_profile, methods=["POST"]),
    Route("/connection_profiles/{id}", delete_profile, methods=["DELETE"]),
    Route("/connection_profiles/{id}/autocomplete", profile_autocomplete, methods=["GET"]),
    Route("/connection_tables", list_tables, methods=["GET"]),
    Route("/connection_tables", create_table, methods=["POST"]),
    Route("/connection_tables/test", test_table, methods=["POST"]),
    Route("/connection_tables/schemas/test", test_schema, methods=["POST"]),
    Route("/connection_tables/{id}", delete_table, methods=["DELETE"]),
    Route("/udfs", list_udfs, methods=["GET"]),
    Route("/udfs", create_udf, methods=["POST"]),
    Route("/udfs/validate", validate_udf, methods=["POST"]),
    Route("/udfs/{id}", delete_udf, methods=["DELETE"]),
]
