"""The part of JSON Schema that Arroyo's connector schemas use, to check console configs.

Types, ``properties``/``required``/``additionalProperties``, ``enum``, ``oneOf`` (exactly one
branch fits; the branches are told apart by their properties), ``items``, min/max. Values
quoted as strings pass for numbers and booleans, as Arroyo's option parser accepts them.
"""

from __future__ import annotations

from typing import Any


def problem(schema: dict[str, Any], value: Any, path: str = "") -> str | None:
    """A short reason ``value`` does not fit ``schema`` (naming the field), or None."""
    where = f"`{path}`" if path else "config"
    if "oneOf" in schema:
        reasons = [problem(branch, value, path) for branch in schema["oneOf"]]
        fits = [r for r in reasons if r is None]
        if len(fits) == 1:
            return None
        if not fits:
            titles = [b.get("title", "?") for b in schema["oneOf"]]
            # the reason of the branch the value meant: the one sharing most of its fields
            keys = set(value) if isinstance(value, dict) else set()
            best = max(
                range(len(reasons)), key=lambda i: len(keys & set(schema["oneOf"][i].get("properties", {})))
            )
            return f"{where} fits none of {', '.join(titles)} ({reasons[best]})"
        # several fit (e.g. two all-optional branches): accept, the connector tells them apart
        return None
    kind = schema.get("type")
    if kind == "object" or (kind is None and "properties" in schema):
        return _object(schema, value, path, where)
    if kind == "array":
        if not isinstance(value, list):
            return f"invalid type for {where}: expected an array"
        for i, item in enumerate(value):
            found = problem(schema.get("items", {}), item, f"{path}[{i}]")
            if found:
                return found
        return None
    if kind is not None and not _scalar_fits(kind, value):
        return f"invalid type for {where}: expected {kind}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} must be one of {schema['enum']}"
    if kind in ("integer", "number"):
        number = float(value)
        if "minimum" in schema and number < schema["minimum"]:
            return f"{where} must be at least {schema['minimum']}"
        if "maximum" in schema and number > schema["maximum"]:
            return f"{where} must be at most {schema['maximum']}"
    if kind == "string" and "maxLength" in schema and len(value) > schema["maxLength"]:
        return f"{where} must be at most {schema['maxLength']} characters"
    return None


def _object(schema: dict[str, Any], value: Any, path: str, where: str) -> str | None:
    if not isinstance(value, dict):
        return f"invalid type for {where}: expected an object"
    props = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            return f"missing field `{_join(path, name)}`"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in props:
            found = problem(props[name], item, _join(path, name))
        elif extra is False:
            return f"unknown field `{_join(path, name)}`, expected one of {sorted(props)}"
        elif isinstance(extra, dict):
            found = problem(extra, item, _join(path, name))
        else:
            found = None
        if found:
            return found
    return None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _scalar_fits(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if isinstance(value, bool):
        return False
    if kind == "integer":
        if isinstance(value, int):
            return True
        return isinstance(value, str) and value.strip().lstrip("-").isdigit()
    if kind == "number":
        if isinstance(value, int | float):
            return True
        try:
            float(value)
            return True
        except (TypeError, ValueError):
            return False
    return True
