"""Python UDF definitions: find the function name and report problems before saving or planning.

A definition is accepted only if the engine can use it: it parses, it defines exactly one
function decorated with ``@udf``, and running it (as the engine will) yields that UDF with
a signature SQL can call. A definition refused here can never break a later query.
"""

from __future__ import annotations

import ast


def _decorated(fn: ast.AST) -> bool:
    for d in getattr(fn, "decorator_list", []):
        target = d.func if isinstance(d, ast.Call) else d
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
        if name == "udf":
            return True
    return False


def inspect_python_udf(definition: str) -> tuple[str | None, list[str]]:
    """``(udf_name, errors)``: the one function decorated with ``@udf``."""
    try:
        tree = ast.parse(definition)
    except SyntaxError as e:
        return None, [f"invalid Python: {e.msg} (line {e.lineno}, column {e.offset})"]
    except (RecursionError, MemoryError, ValueError) as e:
        return None, [f"invalid Python: {type(e).__name__}; simplify the definition"]
    funcs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    marked = [f for f in funcs if _decorated(f)]
    if not marked:
        hint = f" (found {', '.join(f.name for f in funcs)})" if funcs else ""
        return None, [
            f"no function decorated with @udf{hint}; write `from arroyo_udf import udf` "
            "and put @udf above the function"
        ]
    if len(marked) > 1:
        names = ", ".join(f.name for f in marked)
        return None, [f"more than one UDF function ({names}); define exactly one per definition"]
    # run it as the engine will, so a bad import or signature fails now, not in later queries
    from arroyo_udf import UdfError, collect_udfs

    try:
        found = collect_udfs(definition)
    except UdfError as err:
        return None, [str(err)]
    except RecursionError:
        return None, ["the definition recursed too deeply while loading"]
    loaded = sorted({d.name for d in found})
    if loaded != [marked[0].name]:
        return None, [f"the definition must yield the UDF {marked[0].name}; it yielded {loaded or 'none'}"]
    return marked[0].name, []
