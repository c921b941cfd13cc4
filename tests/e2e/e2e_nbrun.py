"""Execute a notebook headless with nbclient, ask its kernel questions, keep an HTML copy.

``run_notebook`` executes every cell in a fresh kernel (this venv's python, through the
temp kernelspec), then runs one extra *probe* expression in the same kernel so a test
can assert on the live objects the notebook made (rows, handles, frames). The probe cell
is removed again: the saved ``.ipynb`` and its nbconvert HTML are what a reader sees.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from e2e_env import KERNEL_NAME
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbconvert import HTMLExporter

PROBE_TAG = "e2e-probe"
PROBE_MARK = "@@E2E-PROBE@@"


@dataclass
class NotebookRun:
    notebook: nbformat.NotebookNode  # executed, probe cell removed
    probe: Any  # the probe expression's value (through JSON), or None
    ipynb_path: Path
    html_path: Path

    def outputs_text(self) -> str:
        """Everything a reader of the saved notebook could read: text, HTML, streams."""
        parts: list[str] = []
        for cell in self.notebook.cells:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream":
                    parts.append(out.get("text", ""))
                elif out.get("output_type") == "error":
                    parts.append(f"{out.get('ename')}: {out.get('evalue')}")
                for mime in ("text/plain", "text/html", "text/markdown"):
                    value = out.get("data", {}).get(mime)
                    if value:
                        parts.append(value if isinstance(value, str) else "".join(value))
        return "\n".join(parts)


def _probe_cell(expression: str) -> nbformat.NotebookNode:
    code = f"import json as _j\nprint({PROBE_MARK!r} + _j.dumps({expression}, default=str))"
    return nbformat.v4.new_code_cell(code, metadata={"tags": [PROBE_TAG]})


def _read_probe(cell: nbformat.NotebookNode) -> Any:
    for out in cell.get("outputs", []):
        for line in out.get("text", "").splitlines():
            if line.startswith(PROBE_MARK):
                return json.loads(line[len(PROBE_MARK) :])
    raise AssertionError(f"the probe printed nothing usable: {cell.get('outputs')!r}")


def strip_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as committed: no outputs, no execution counts, no widget state."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)
    return nb


def run_notebook(
    source: Path,
    out_dir: Path,
    env: dict[str, str],
    probe: str | None = None,
    timeout_per_cell: int = 120,
) -> NotebookRun:
    """Execute ``source`` in ``out_dir`` (copied there), write ``NAME.ipynb`` and ``NAME.html``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(source, as_version=4)
    if probe is not None:
        nb.cells.append(_probe_cell(probe))
    # Only our temp kernelspec dir: the venv's own python3 spec says argv "python" (PATH-dependent).
    specs = KernelSpecManager(kernel_dirs=[str(Path(env["JUPYTER_DATA_DIR"]) / "kernels")])
    km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
    client = NotebookClient(
        nb,
        km=km,
        timeout=timeout_per_cell,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(out_dir)}},
        store_widget_state=False,  # the widgets' own text/html snapshots tell the story
    )
    client.execute(env=env, cleanup_kc=True)
    value = None
    if probe is not None:
        value = _read_probe(nb.cells.pop())
    ipynb_path = out_dir / source.name
    nbformat.write(nb, ipynb_path)
    with warnings.catch_warnings():  # plotly's JSON has no HTML form in nbconvert; the text snapshots do
        warnings.simplefilter("ignore", UserWarning)
        html, _ = HTMLExporter().from_notebook_node(nb)
    html_path = ipynb_path.with_suffix(".html")
    html_path.write_text(html)
    return NotebookRun(nb, value, ipynb_path, html_path)
