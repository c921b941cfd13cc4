"""Why a target was missed: cProfile over a call or over new threads, summarised by layer.

``summarize`` files each function's own time (tottime) under its package
(``arroyo_jupyter``, ``httpcore``, ``pandas``…; C calls under their own name, e.g.
``msgspec.json.Decoder.decode``) and lists the functions of ``arroyo_jupyter`` with the
most cumulative time. cProfile inflates pure-Python parts somewhat; the shares are
for finding the culprit, not for comparing with the timings.
"""

from __future__ import annotations

import cProfile
import pstats
import re
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

PACKAGE = "arroyo_jupyter"


def _layer(file: str, func: str) -> str:
    if file == "~":  # a C function: name it, e.g. "<method 'decode' of 'msgspec.json.Decoder' objects>"
        m = re.match(r"<(?:built-in )?method '?(\w+)'? of '?([\w.]+)'? ", func + " ")
        return f"{m.group(2)}.{m.group(1)}" if m else func.strip("<>")
    if f"/{PACKAGE}/" in file:
        return PACKAGE
    if "site-packages/" in file:
        return file.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    return Path(file).stem


def summarize(stats: pstats.Stats, top: int = 4) -> str:
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    if total <= 0:
        return ""
    layers: Counter[str] = Counter()
    for (file, _line, func), (_cc, _nc, tt, _ct, _callers) in raw.items():
        layers[_layer(file, func)] += tt
    ours = sorted(
        (
            (ct, f"{Path(file).name}:{func}")
            for (file, _l, func), (_cc, _nc, _tt, ct, _c) in raw.items()
            if f"/{PACKAGE}/" in file
        ),
        reverse=True,
    )
    pct = lambda x: f"{100 * x / total:.0f}%"  # noqa: E731
    by_layer = ", ".join(f"{k} {pct(v)}" for k, v in layers.most_common(top))
    funcs = ", ".join(f"{name} {pct(ct)}" for ct, name in ours[1 : top + 1] or ours[:top])
    return f"own time by layer: {by_layer}; heaviest {PACKAGE} functions (cumulative): {funcs or 'none'} (cProfile)"


def profile_call(fn: Callable[[], Any]) -> str:
    prof = cProfile.Profile()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    return summarize(pstats.Stats(prof))


class ThreadProfiles:
    """Profiles every thread started inside the ``with`` whose name starts with ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _hook(self, frame: Any, event: str, arg: Any) -> None:
        # Runs once, as the first profile event of a new thread: hand over to cProfile.
        import sys

        sys.setprofile(None)
        if threading.current_thread().name.startswith(self.prefix):
            prof = cProfile.Profile()
            with self._lock:
                self.profiles.append(prof)
            prof.enable()

    def __enter__(self) -> ThreadProfiles:
        threading.setprofile(self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        threading.setprofile(None)  # type: ignore[arg-type]

    def summary(self) -> str:
        for prof in self.profiles:
            try:
                prof.disable()  # a no-op from another thread; threads have ended by now
            except Exception:
                pass
        if not self.profiles:
            return ""
        stats = pstats.Stats(self.profiles[0])
        for prof in self.profiles[1:]:
            stats.add(prof)
        return summarize(stats)
