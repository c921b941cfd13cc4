"""A throw-away Jupyter home: config, data, runtime, settings and IPython dirs in one temp dir.

Why: the e2e tests must not read or write the user's ~/.jupyter, must not show
JupyterLab's news toast over the widgets, and must run kernels on *this* venv's python
(the one that has ``arroyo_jupyter`` installed), whatever kernelspecs the machine has.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

KERNEL_NAME = "python3"  # the name notebooks ask for; ours shadows any other python3 spec


def install_kernelspec(data_dir: Path, python: str = sys.executable) -> Path:
    """Write a ``python3`` kernelspec that starts ``python`` (default: the running venv)."""
    spec_dir = data_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (arroyo_jupyter tests)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return spec_dir


def _quiet_lab_settings(settings_dir: Path) -> None:
    """No news toast, no update check: they would cover the notebook in screenshots."""
    path = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


def make_jupyter_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for Jupyter processes rooted at ``root`` (created if missing)."""
    dirs = {
        "JUPYTER_CONFIG_DIR": root / "config",
        "JUPYTER_DATA_DIR": root / "data",
        "JUPYTER_RUNTIME_DIR": root / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": root / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": root / "lab-workspaces",
        "IPYTHONDIR": root / "ipython",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    install_kernelspec(dirs["JUPYTER_DATA_DIR"])
    _quiet_lab_settings(dirs["JUPYTERLAB_SETTINGS_DIR"])
    env = dict(os.environ)
    env.update({name: str(path) for name, path in dirs.items()})
    env["JUPYTER_PLATFORM_DIRS"] = "1"  # silence the platformdirs migration warning
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # debugpy's frozen-modules warning in kernels
    env.update(extra or {})
    return env
