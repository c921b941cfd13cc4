"""arroyo_jupyter — the Arroyo stream processor in Jupyter.

Magics (``%load_ext arroyo_jupyter``), live widgets, a Python API over Arroyo's REST
API, and an embedded Arroyo-compatible server for laptops and CI.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .states import JobState, StopType  # noqa: E402

__all__ = ["JobState", "StopType", "__version__"]


def load_ipython_extension(ipython):  # pragma: no cover - wired by the magics module
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython):  # pragma: no cover
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)
