"""Each widget's front-end as one ES module, assembled from ``js/`` when its class is defined.

anywidget loads a widget's ESM from a string, so relative imports cannot work: the shared
helpers of ``js/common.js`` are inlined in front of the widget's own module. Every view
also announces itself with a ``__view__`` message (see ``_saved.py``), watches its kernel
side's heartbeat (``liveness`` in common.js: "disconnected — run the cell again") and
reports whether it is on screen (``__visible__``, for the pipeline watcher's cadence).
No build step, and nothing generated is kept in git.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

JS_DIR = Path(__file__).parent / "js"

_IMPORT_COMMON = re.compile(r'^import .* from "\./common\.js";\n', re.M)
_EXPORT = re.compile(r"^export ", re.M)
_DEFAULT_EXPORT = "export default { render };"
_ANNOUNCING_EXPORT = "export default { render(ctx) { return renderLive(ctx, render); } };"


@cache
def _common() -> str:
    return _EXPORT.sub("", (JS_DIR / "common.js").read_text(encoding="utf-8"))


def assemble(name: str) -> str:
    """``js/<name>.js`` with ``js/common.js`` inlined, ready for anywidget's ``_esm``."""
    source = _IMPORT_COMMON.sub("", (JS_DIR / f"{name}.js").read_text(encoding="utf-8"))
    if source.count(_DEFAULT_EXPORT) != 1:
        raise ValueError(f"js/{name}.js must end with `{_DEFAULT_EXPORT}`")
    return _common() + "\n" + source.replace(_DEFAULT_EXPORT, _ANNOUNCING_EXPORT)


@cache
def stylesheet() -> str:
    return (JS_DIR / "arroyo.css").read_text(encoding="utf-8")
