"""User defaults for the session and the magics, read from TOML files.

Where defaults come from, lowest first: built-in values, ``~/.arroyo_jupyter/config.toml``,
the ``[tool.arroyo_jupyter]`` table of the nearest ``pyproject.toml`` (cwd or a parent),
then ``%config ArroyoMagic.x = …`` in a notebook. Only the *name* of the environment
variable holding an API key is ever configured; the key itself never is.

Example ``pyproject.toml``::

    [tool.arroyo_jupyter]
    url = "http://arroyo.internal:5115"
    api_key_env = "ARROYO_API_KEY"
    rows = 20
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .api.errors import SessionError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

USER_CONFIG = Path("~/.arroyo_jupyter/config.toml")


class ConfigError(SessionError):
    """A config file exists but cannot be used; the message names the file and the fix.

    A SessionError (so an ArroyoError and a ValueError): see the tree in ``api/errors.py``.
    """


@dataclass(frozen=True)
class Settings:
    url: str = ""  # empty: $ARROYO_URL, then localhost:5115, then the embedded server
    api_key_env: str = ""  # name of the env var that holds the API key
    rows: int = 20  # rows shown (and collected by previews) by default
    refresh_interval: float = 1.0  # seconds between widget refreshes
    preview_ttl: float = 0.0  # seconds after which previews are stopped client-side; 0 = server's TTL
    short_errors: bool = True  # one-line errors instead of tracebacks
    widgets: bool = True  # live widgets instead of plain text/DataFrames

    def updated(self, values: dict[str, Any], source: str = "settings") -> Settings:
        """A copy with ``values`` applied; unknown keys or wrong types raise ConfigError."""
        known = {f.name: f for f in fields(self)}
        clean: dict[str, Any] = {}
        for key, value in values.items():
            key = key.replace("-", "_")
            if key not in known:
                raise ConfigError(f"{source}: unknown setting {key!r}; known: {', '.join(known)}")
            clean[key] = _coerce(key, value, type(getattr(self, key)), source)
        return replace(self, **clean)


# The one place that says which values a setting takes (config files and %config alike).
_MINIMUM: dict[str, tuple[float, bool, str]] = {  # name: (bound, bound allowed, in words)
    "rows": (1, True, "at least 1"),
    "refresh_interval": (0, False, "a number of seconds > 0"),
    "preview_ttl": (0, True, "a number of seconds >= 0 (0: the server's TTL)"),
}


def check_setting(key: str, value: Any) -> None:
    """ConfigError when ``value`` is out of range for setting ``key``."""
    rule = _MINIMUM.get(key)
    if rule is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    bound, inclusive, words = rule
    if value < bound or (value == bound and not inclusive):
        raise ConfigError(f"{key} must be {words}, got {value!r}")


def _coerce(key: str, value: Any, kind: type, source: str) -> Any:
    # bool is a subclass of int: check it first so `rows = true` is refused.
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind in (int, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            try:
                check_setting(key, value)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
            return kind(value)
    elif isinstance(value, str):
        return value
    raise ConfigError(
        f"{source}: {key} must be a {'non-negative ' if kind in (int, float) else ''}{kind.__name__}"
    )


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml with a ``[tool.arroyo_jupyter]`` table, from ``start`` up."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and "arroyo_jupyter" in _read_toml(candidate).get("tool", {}):
            return candidate
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def load_settings(start: Path | None = None, user_config: Path | None = None) -> Settings:
    """Settings from the user config file and the nearest pyproject.toml (which wins)."""
    settings = Settings()
    user_file = (user_config or USER_CONFIG).expanduser()
    if user_file.is_file():
        settings = settings.updated(_read_toml(user_file), source=str(user_file))
    project = find_pyproject(start)
    if project is not None:
        table = _read_toml(project)["tool"]["arroyo_jupyter"]
        if not isinstance(table, dict):
            raise ConfigError(f"{project}: [tool.arroyo_jupyter] must be a table")
        settings = settings.updated(table, source=f"{project} [tool.arroyo_jupyter]")
    return settings
