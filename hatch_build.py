"""Package build hook: bundles the output grid's front-end (``js/``) with esbuild.

Runs for wheels and editable installs (``pip install -e .``, ``make install``), so a
fresh clone needs no manual step; the bundle (``arroyo_jupyter/widgets/static/``) is
ignored by git and shipped in the wheel. Needs Node.js and npm.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLE = "arroyo_jupyter/widgets/static/output_table.js"


class GridBundleHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return  # the sdist carries js/ and builds the bundle when its wheel is made
        js = Path(self.root) / "js"
        bundle = Path(self.root) / BUNDLE
        if (js / "build.mjs").exists():
            node, npm = shutil.which("node"), shutil.which("npm")
            if node is None or npm is None:
                raise RuntimeError(
                    "building arroyo-jupyter needs Node.js and npm (for the output grid's bundle)"
                )
            if not (js / "node_modules" / "esbuild").exists():
                subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=js, check=True)
            subprocess.run([node, "build.mjs"], cwd=js, check=True)
        if not bundle.exists():
            raise RuntimeError(f"{BUNDLE} was not built")
        build_data["artifacts"].append(BUNDLE)
