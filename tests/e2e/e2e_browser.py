"""Drive a notebook in JupyterLab or Notebook 7 through Playwright and Debian's Chromium.

Both front-ends expose the app as ``window.jupyterapp`` (``expose_app_in_browser``);
the helpers use it to wait for the kernel, run all cells and ask the kernel questions
(``requestExecute``), and Playwright to click and read the DOM like a user.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

# The notebook panel in either UI: JupyterLab's current widget, or Notebook 7's only one.
_PANEL_JS = """
() => {
  const app = window.jupyterapp;
  const w = app.shell.currentWidget;
  if (w && w.sessionContext) return w;
  for (const w2 of app.shell.widgets('main')) { if (w2.sessionContext) return w2; }
  return null;
}
"""

_KERNEL_IDLE_JS = f"""
async () => {{
  const panel = ({_PANEL_JS})();
  if (!panel) return 'no-panel';
  await panel.context.ready;
  await panel.sessionContext.ready;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  if (!kernel) return 'no-kernel';
  return kernel.status;
}}
"""

_EXEC_JS = f"""
async (code) => {{
  const panel = ({_PANEL_JS})();
  const kernel = panel.sessionContext.session.kernel;
  const future = kernel.requestExecute({{code, silent: false, store_history: false}});
  let out = '', err = null;
  future.onIOPub = (msg) => {{
    const t = msg.header.msg_type;
    if (t === 'stream') out += msg.content.text;
    if (t === 'error') err = msg.content.ename + ': ' + msg.content.evalue;
  }};
  await future.done;
  return {{out, err}};
}}
"""


_SELECT_TAGGED_JS = f"""
(tag) => {{
  const notebook = ({_PANEL_JS})().content;
  const tagsOf = (cell) => (cell.model.getMetadata ? cell.model.getMetadata('tags') : null) || [];
  const index = notebook.widgets.findIndex((cell) => tagsOf(cell).includes(tag));
  if (index >= 0) notebook.activeCellIndex = index;
  return index;
}}
"""


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


class NotebookPage:
    """One open notebook in one browser page, with screenshots numbered per test."""

    def __init__(self, page: Page, base_url: str, artifacts: Path, ui: str = "lab"):
        if ui not in ("lab", "notebook"):
            raise ValueError("ui must be 'lab' or 'notebook'")
        self.page, self.base_url, self.ui = page, base_url, ui
        self.artifacts = artifacts
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self._shot = 0
        self._t0 = time.monotonic()
        self.console: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        # An alert() would mean injected script ran: record it and dismiss it.
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def url_for(self, path: str) -> str:
        if self.ui == "lab":
            return f"{self.base_url}/lab/tree/{path}?reset"
        return f"{self.base_url}/notebooks/{path}"

    def open(self, path: str, timeout: float = 90.0) -> None:
        """Open ``path`` and return once its kernel is idle."""
        self.page.goto(self.url_for(path), wait_until="domcontentloaded", timeout=timeout * 1000)
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 90.0) -> None:
        self.page.wait_for_function("() => !!window.jupyterapp", timeout=timeout * 1000)
        self.page.evaluate("async () => { await jupyterapp.started; await jupyterapp.restored; }")
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
        wait_until(lambda: self.page.evaluate(_KERNEL_IDLE_JS) == "idle", timeout, "an idle kernel")

    def command(self, name: str) -> None:
        """Start a JupyterLab/Notebook command (e.g. ``notebook:run-all-above``); returns at once."""
        self.page.evaluate("(name) => { jupyterapp.commands.execute(name); }", name)

    def select_cell_tagged(self, tag: str) -> int:
        """Make the first cell carrying ``tag`` the active cell; return its index."""
        index = self.page.evaluate(_SELECT_TAGGED_JS, tag)
        if index < 0:
            raise AssertionError(f"no cell tagged {tag!r} in the notebook")
        return index

    def save(self) -> None:
        self.page.evaluate("async () => { await jupyterapp.commands.execute('docmanager:save'); }")

    def run_all(self) -> None:
        """Start running every cell (returns at once; cells run in the kernel's order)."""
        self.page.evaluate("() => { jupyterapp.commands.execute('notebook:run-all-cells'); }")

    def kernel(self, code: str, timeout: float = 120.0) -> str:
        """Run ``code`` in the notebook's kernel (after queued cells); return its stdout."""
        self.page.set_default_timeout(timeout * 1000)
        result = self.page.evaluate(_EXEC_JS, code)
        if result["err"]:
            raise AssertionError(f"kernel raised {result['err']} running:\n{code}")
        return result["out"]

    def kernel_json(self, expression: str, timeout: float = 120.0) -> Any:
        """Evaluate a Python expression in the kernel and return it through JSON."""
        out = self.kernel(f"import json as _j; print(_j.dumps({expression}, default=str))", timeout)
        return json.loads(out.strip().splitlines()[-1])

    def wait_cells_done(self, timeout: float = 120.0) -> None:
        """All queued cells finished: the kernel answers a trivial request after them."""
        self.kernel("pass", timeout=timeout)

    def cell_errors(self) -> list[str]:
        return self.page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        ).all_inner_texts()

    def screenshot(self, name: str) -> Path:
        self._shot += 1
        print(f"[{time.monotonic() - self._t0:6.1f}s] screenshot {name}")  # shown with -s: where time goes
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
        path = self.artifacts / f"{self._shot:02d}-{self.ui}-{safe}.png"
        self.page.screenshot(path=str(path), full_page=False)
        return path
