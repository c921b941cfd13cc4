"""Fixtures for the end-to-end tests: a temp Jupyter home, nbclient runs, one JupyterLab, Chromium.

Session-scoped where it is expensive (the Jupyter server, the browser) so the whole e2e
area stays within a few minutes on two cores. Artifacts (executed notebooks, their HTML,
screenshots, server logs) go to ``test-artifacts/e2e/`` at the repo root (git-ignored).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_browser import NotebookPage
from e2e_env import make_jupyter_env
from e2e_lab_server import LabServer, start_lab_server
from e2e_nbrun import NotebookRun, run_notebook

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "test-artifacts" / "e2e"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def jupyter_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jupyter-home")


@pytest.fixture(scope="session")
def jupyter_env(jupyter_home: Path) -> dict[str, str]:
    """Environment for kernels and servers: temp JUPYTER_* dirs, kernelspec = this venv."""
    return make_jupyter_env(jupyter_home)


@pytest.fixture(scope="session")
def notebook_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch copy of notebooks/ that the Jupyter server serves (the repo stays clean)."""
    work = tmp_path_factory.mktemp("notebooks")
    if NOTEBOOKS.is_dir():
        for nb in NOTEBOOKS.glob("*.ipynb"):
            shutil.copy(nb, work / nb.name)
        for extra in NOTEBOOKS.iterdir():  # sample data the notebooks read
            if extra.is_dir() and not extra.name.startswith(".") and extra.name != "src":
                shutil.copytree(extra, work / extra.name)
    return work


@pytest.fixture()
def execute_notebook(jupyter_env: dict[str, str], artifacts_dir: Path) -> Callable[..., NotebookRun]:
    """``execute_notebook(path, probe=None)``: run it headless; HTML copy in test-artifacts/e2e/executed/."""

    def _run(path: Path, probe: str | None = None, timeout_per_cell: int = 120) -> NotebookRun:
        return run_notebook(path, artifacts_dir / "executed", jupyter_env, probe, timeout_per_cell)

    return _run


@pytest.fixture(scope="session")
def lab_server(
    notebook_workdir: Path, jupyter_env: dict[str, str], artifacts_dir: Path
) -> Iterator[LabServer]:
    """One Jupyter server (JupyterLab + Notebook 7) on 127.0.0.1 for the whole session."""
    server = start_lab_server(notebook_workdir, jupyter_env, artifacts_dir / "jupyter-server.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def open_notebook(
    chromium, lab_server: LabServer, artifacts_dir: Path, request
) -> Iterator[Callable[..., NotebookPage]]:
    """``open_notebook(path, ui="lab"|"notebook")`` → a ready NotebookPage in a fresh browser context."""
    contexts = []

    def _open(path: str, ui: str = "lab") -> NotebookPage:
        context = chromium.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        nb_page = NotebookPage(page, lab_server.url, artifacts_dir / "screens" / request.node.name, ui)
        nb_page.open(path)
        return nb_page

    yield _open
    for context in contexts:
        context.close()
    lab_server.shutdown_kernels()
