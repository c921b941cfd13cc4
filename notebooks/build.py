"""Build the teaching notebooks from their readable sources: ``src/NAME.py`` → ``NAME.ipynb``.

The sources use the "percent" format (``# %%`` starts a code cell, ``# %% [markdown]``
a markdown cell whose lines are ``# ``-commented; ``# %% tags=raises-exception`` tags a
cell). Edit the sources, then run ``python notebooks/build.py``. Notebooks are written
without outputs: git keeps only the code; executed copies are test artifacts.

``python notebooks/build.py --check`` exits 1 if a committed notebook is out of date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
_MARKER = re.compile(r"^# %%(?P<kind> \[markdown\])?(?: tags=(?P<tags>[\w,-]+))?\s*$")

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _cell(kind: str, lines: list[str], tags: list[str]) -> nbformat.NotebookNode:
    while lines and not lines[-1].strip():
        lines.pop()
    meta = {"tags": tags} if tags else {}
    if kind == "markdown":
        text = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines)
        return nbformat.v4.new_markdown_cell(text, metadata=meta)
    return nbformat.v4.new_code_cell("\n".join(lines), metadata=meta)


def build_notebook(source: Path) -> nbformat.NotebookNode:
    """The notebook for one percent-format source, cells in order, no outputs."""
    cells, kind, tags, lines = [], None, [], []
    for line in source.read_text().splitlines():
        match = _MARKER.match(line)
        if match:
            if kind is not None:
                cells.append(_cell(kind, lines, tags))
            kind = "markdown" if match["kind"] else "code"
            tags = match["tags"].split(",") if match["tags"] else []
            lines = []
        elif kind is not None:
            lines.append(line)
    if kind is not None:
        cells.append(_cell(kind, lines, tags))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = KERNELSPEC
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{source.stem[:20]}-{i:02d}"  # stable ids: rebuilding gives no diff
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for source in sorted((HERE / "src").glob("*.py")):
        target = HERE / f"{source.stem}.ipynb"
        text = nbformat.writes(build_notebook(source)) + "\n"
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        else:
            target.write_text(text)
            print(f"wrote {target.relative_to(HERE.parent)}")
    if stale:
        print(f"out of date (run python notebooks/build.py): {', '.join(stale)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
