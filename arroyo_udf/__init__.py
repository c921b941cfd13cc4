"""Python UDFs as Arroyo defines them: ``from arroyo_udf import udf``.

    from typing import Optional
    from arroyo_udf import udf

    @udf
    def add_one(x: int) -> int:
        return x + 1

The SQL signature comes from the type hints. Following Arroyo's nullability rules, a
non-``Optional`` parameter never sees NULL (the UDF is skipped and returns NULL for that
row); an ``Optional[...]`` parameter receives ``None``; a non-``Optional`` return must not be
``None``.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Union

import pyarrow as pa

__all__ = ["udf", "UdfDef", "collect_udfs", "UdfError"]

_TYPES: dict[Any, pa.DataType] = {
    int: pa.int64(),
    float: pa.float64(),
    str: pa.string(),
    bool: pa.bool_(),
    bytes: pa.binary(),
    datetime: pa.timestamp("ns"),
}


class UdfError(ValueError):
    """A UDF whose signature cannot be mapped to SQL types."""


def _arrow(hint: Any, where: str) -> tuple[pa.DataType, bool]:
    """(arrow type, nullable) for a type hint."""
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:  # Optional[T] and T | None
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise UdfError(f"{where}: only Optional[T] unions are supported")
        return _arrow(args[0], where)[0], True
    if origin is list:
        (item,) = typing.get_args(hint) or (None,)
        if item is None:
            raise UdfError(f"{where}: list needs an item type, e.g. list[int]")
        return pa.list_(_arrow(item, where)[0]), False
    if hint in _TYPES:
        return _TYPES[hint], False
    raise UdfError(f"{where}: unsupported type {hint!r}; use int, float, str, bool, bytes, datetime, list[T]")


@dataclass
class UdfDef:
    name: str
    func: Callable[..., Any]
    arg_types: list[pa.DataType]
    arg_nullable: list[bool]
    return_type: pa.DataType
    return_nullable: bool

    def vectorised(self) -> Callable[..., pa.Array]:
        """A batch function for DataFusion: arrays in, one array out."""

        def run(*arrays: pa.Array) -> pa.Array:
            columns = [a.to_pylist() for a in arrays]
            n = len(arrays[0]) if arrays else 1
            out: list[Any] = []
            for i in range(n):
                args = [c[i] for c in columns]
                if any(a is None and not ok for a, ok in zip(args, self.arg_nullable, strict=False)):
                    out.append(None)
                    continue
                value = self.func(*args)
                if value is None and not self.return_nullable:
                    raise UdfError(f"UDF {self.name} returned None but its return type is not Optional")
                out.append(value)
            return pa.array(out, self.return_type)

        return run


def udf(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a function as an Arroyo UDF; it stays callable from Python."""
    hints = typing.get_type_hints(func)
    params = list(func.__code__.co_varnames[: func.__code__.co_argcount])
    if "return" not in hints:
        raise UdfError(f"UDF {func.__name__} needs a return type hint")
    arg_types, nullable = [], []
    for p in params:
        if p not in hints:
            raise UdfError(f"UDF {func.__name__}: parameter {p} needs a type hint")
        t, n = _arrow(hints[p], f"UDF {func.__name__} parameter {p}")
        arg_types.append(t)
        nullable.append(n)
    ret, ret_null = _arrow(hints["return"], f"UDF {func.__name__} return")
    func.__arroyo_udf__ = UdfDef(func.__name__, func, arg_types, nullable, ret, ret_null)  # type: ignore[attr-defined]
    return func


def collect_udfs(source: str) -> list[UdfDef]:
    """Run UDF source text and return the ``@udf`` functions it defines."""
    namespace: dict[str, Any] = {"__name__": "arroyo_udf_definition"}
    try:
        exec(compile(source, "<udf>", "exec"), namespace)
    except SyntaxError as err:
        raise UdfError(f"UDF definition has a syntax error at line {err.lineno}: {err.msg}") from None
    except UdfError:
        raise
    except Exception as err:  # e.g. an import the engine cannot satisfy: say so when it is saved
        raise UdfError(f"UDF definition failed to load: {type(err).__name__}: {err}") from None
    found = [
        v.__arroyo_udf__ for v in namespace.values() if isinstance(getattr(v, "__arroyo_udf__", None), UdfDef)
    ]
    if not found:
        raise UdfError("UDF definition has no function decorated with @udf")
    return found
