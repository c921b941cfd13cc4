"""arroyo_jupyter — the Arroyo stream processor in Jupyter.

Magics (``%load_ext arroyo_jupyter``), live widgets, a Python API over Arroyo's REST
API, and an embedded Arroyo-compatible server for laptops and CI.
"""

from __future__ import annotations

from typing import Any

from .states import JobState, StopType

__version__ = "0.1.0"
__all__ = ["JobState", "StopType", "__version__"]


def load_ipython_extension(ipython: Any) -> None:  # pragma: no cover - wired by the magics module
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:  # pragma: no cover
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)
