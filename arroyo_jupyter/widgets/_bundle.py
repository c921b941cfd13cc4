"""The output grid's front-end bundle (built from the top-level ``js/`` folder by esbuild).

An installed package carries it (``static/output_table.js``, made by the package build's
hook, ``hatch_build.py``). In a source checkout it is rebuilt here on first use when it is
missing or older than its sources, so editing ``js/`` needs no manual step either.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
from functools import cache
from pathlib import Path

STATIC = Path(__file__).parent / "static"
BUNDLE = STATIC / "output_table.js"
JS_ROOT = Path(__file__).resolve().parents[2] / "js"  # only in a source checkout
_COMMON = Path(__file__).parent / "js" / "common.js"
_lock = threading.Lock()
_failed: list[str] = []  # why the last build failed: not tried again in this process


class BundleMissing(RuntimeError):
    pass


def _sources() -> list[Path]:
    if not (JS_ROOT / "build.mjs").exists():
        return []
    return [JS_ROOT / "build.mjs", JS_ROOT / "package-lock.json", _COMMON, *(JS_ROOT / "src").glob("*.js")]


def _stale() -> bool:
    sources = _sources()
    if not sources:
        return False  # an installed package: the bundle is what it is
    if not BUNDLE.exists():
        return True
    built = BUNDLE.stat().st_mtime
    return any(p.exists() and p.stat().st_mtime > built for p in sources)


def build(force: bool = False) -> None:
    """Build the bundle from ``js/`` (``npm ci`` first if its packages are missing)."""
    with _lock:
        if not force and not _stale():
            return
        if _failed and not force:
            raise BundleMissing(_failed[0])
        try:
            _build()
        except BundleMissing as exc:
            _failed[:] = [str(exc)]
            raise


def _build() -> None:
    if not (JS_ROOT / "build.mjs").exists():
        raise BundleMissing(f"{BUNDLE} is missing and there is no js/ folder to build it from")
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise BundleMissing(
            "the output table's front-end is not built and Node.js is not installed: "
            "install node/npm, then `pip install -e .` (or `npm --prefix js ci && node js/build.mjs`)"
        )
    if not (JS_ROOT / "node_modules" / "esbuild").exists():
        _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"])
    _run([node, "build.mjs"])
    grid_bundle.cache_clear()


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, cwd=JS_ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise BundleMissing(
            f"`{' '.join(cmd[-2:])}` in {JS_ROOT} failed: {(done.stderr or done.stdout)[-800:]}"
        )


@cache
def grid_bundle() -> bytes:
    """The bundle's bytes (built first if needed)."""
    build()
    if not BUNDLE.exists():
        raise BundleMissing(f"{BUNDLE} is missing; reinstall arroyo-jupyter")
    return BUNDLE.read_bytes()


def bundle_version() -> str:
    """A short hash of the bundle, so a page that has an older one loads the new one."""
    try:
        return hashlib.sha256(grid_bundle()).hexdigest()[:12]
    except BundleMissing:
        return ""
