"""``arroyo-jupyter demo`` (``make demo``): run the quickstart notebook headless and tell its story.

It executes ``notebooks/quickstart.ipynb`` top to bottom in a fresh kernel on this
Python (so the embedded engine is used, no cluster), shows one line per cell as it
runs, then prints the notebook's own account (the output of the cell tagged
``account``) and where the executed copy and its HTML rendering were written.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ACCOUNT_TAG = "account"


def find_quickstart() -> Path | None:
    """The quickstart next to this package (a checkout) or under the working directory."""
    for base in (REPO, Path.cwd()):
        path = base / "notebooks" / "quickstart.ipynb"
        if path.is_file():
            return path
    return None


def _first_line(source: str) -> str:
    lines = [ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    line = lines[0] if lines else ""
    return line if len(line) <= 70 else line[:67] + "..."


def _stream_text(cell: Any) -> str:
    texts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            texts.append(out.get("text", ""))
        elif "text/plain" in out.get("data", {}):
            texts.append(out["data"]["text/plain"])
    return "".join(texts).rstrip()


def _kernelspec_dir(root: Path) -> Path:
    """A kernelspec running *this* interpreter: the one with arroyo_jupyter installed."""
    spec_dir = root / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec_dir / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"})
    )
    return spec_dir.parent


def run_demo(notebook: Path, out_dir: Path, cell_timeout: int = 180) -> tuple[str, Path, Path]:
    """Execute ``notebook``; return (its account, executed .ipynb path, .html path)."""
    import nbformat
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    out_dir.mkdir(parents=True, exist_ok=True)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    started = time.monotonic()

    def on_start(cell: Any, cell_index: int) -> None:
        if cell.cell_type == "code":
            n = code_cells.index(cell) + 1
            print(
                f"  [{time.monotonic() - started:5.1f}s] cell {n:2d}/{len(code_cells)}  {_first_line(cell.source)}"
            )

    with tempfile.TemporaryDirectory(prefix="arroyo-demo-") as tmp:
        specs = KernelSpecManager(kernel_dirs=[str(_kernelspec_dir(Path(tmp)))])
        km = AsyncKernelManager(kernel_name="python3", kernel_spec_manager=specs)
        client = NotebookClient(
            nb,
            km=km,
            kernel_name="python3",
            timeout=cell_timeout,
            resources={"metadata": {"path": str(out_dir)}},  # files the notebook writes land here
            on_cell_start=on_start,
            # Without saved widget state the HTML shows each widget's own text/html snapshot.
            store_widget_state=False,
        )
        # The kernel's own stderr (transport warnings) is noise here; cell errors arrive as messages.
        client.execute(cleanup_kc=True, stderr=subprocess.DEVNULL)

    ipynb = out_dir / notebook.name
    nbformat.write(nb, ipynb)
    html = ipynb.with_suffix(".html")
    with warnings.catch_warnings():  # plotly JSON has no HTML form in nbconvert: not news to the reader
        warnings.simplefilter("ignore", UserWarning)
        html.write_text(HTMLExporter().from_notebook_node(nb)[0])
    account = "\n".join(_stream_text(c) for c in code_cells if ACCOUNT_TAG in c.metadata.get("tags", []))
    return account, ipynb, html


def main() -> int:
    try:
        import nbclient  # noqa: F401
        import nbconvert  # noqa: F401
    except ImportError:
        print(
            "arroyo-jupyter demo needs nbclient and nbconvert: pip install 'arroyo-jupyter[test]'",
            file=sys.stderr,
        )
        return 2
    notebook = find_quickstart()
    if notebook is None:
        print(
            "notebooks/quickstart.ipynb not found: run the demo from a checkout of arroyo_jupyter",
            file=sys.stderr,
        )
        return 2
    out_dir = (
        REPO / "test-artifacts" / "demo" if (REPO / "notebooks").is_dir() else Path.cwd() / "arroyo-demo"
    )
    print(f"Running {notebook} on the embedded Arroyo engine (no cluster needed)...")
    from nbclient.exceptions import CellExecutionError

    try:
        account, ipynb, html = run_demo(notebook, out_dir)
    except CellExecutionError as exc:
        # nbclient's message names the cell and the error; the traceback adds nothing for a user.
        print(f"\nThe quickstart failed:\n{str(exc).strip()[-2000:]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    print("\n" + (account or "(the notebook printed no account)"))
    print(f"\nExecuted notebook: {ipynb}\nRendered as HTML:  {html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
