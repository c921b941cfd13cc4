"""Python UDF definitions: find the function name and report problems before planning."""

from __future__ import annotations

import ast


def inspect_python_udf(definition: str) -> tuple[str | None, list[str]]:
    """``(udf_name, errors)``: the function decorated with ``@udf`` (or the only function)."""
    try:
        tree = ast.parse(definition)
    except SyntaxError as e:
        return None, [f"invalid Python: {e.msg} (line {e.lineno}, column {e.offset})"]
    funcs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]

    def decorated(fn: ast.AST) -> bool:
        for d in getattr(fn, "decorator_list", []):
            target = d.func if isinstance(d, ast.Call) else d
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
            if name == "udf":
                return True
        return False

    marked = [f for f in funcs if decorated(f)]
    candidates = marked or funcs
    if not candidates:
        return None, ["no function found; define one function decorated with @udf"]
    if len(candidates) > 1:
        names = ", ".join(f.name for f in candidates)
        return None, [f"more than one UDF function ({names}); define exactly one per definition"]
    if marked:  # run it as the engine will, so a bad import fails now, not in every later query
        from arroyo_udf import UdfError, collect_udfs

        try:
            collect_udfs(definition)
        except UdfError as err:
            return None, [str(err)]
    return candidates[0].name, []
