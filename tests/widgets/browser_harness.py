"""A page on 127.0.0.1 that loads a widget's ESM (as the kernel assembles it) and renders it with a model stub.

The stub implements what anywidget gives ``render``: get/set/save_changes/on/off/send and
custom messages with DataView buffers. It records what the widget sends, answers
``need_plotly`` and ``need_grid`` the way the kernel does (with plotly.js and the output
grid's bundle), so figures and the grid really render, and beats like a live kernel once
the view announces itself (``model.stopBeats()`` plays a kernel that went away;
``model.fire(ev)`` fires a widget-manager event).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import plotly

from arroyo_jupyter.widgets._bundle import grid_bundle
from arroyo_jupyter.widgets._esm import JS_DIR, assemble, stylesheet

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

HARNESS = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="stylesheet" href="/static/arroyo.css"></head>
<body><script>
window.__widgets = {};
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(String(e.message)));
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longtasks.push({ start: e.startTime, duration: e.duration });
}).observe({ type: "longtask", buffered: true });

function makeModel(state) {
  const listeners = {};
  const sent = [];
  const fire = (ev, ...args) => (listeners[ev] || []).slice().forEach((f) => f(...args));
  const model = {
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; fire("change:" + k); },
    save_changes: () => sent.push({ type: "__save__", state: JSON.parse(JSON.stringify(state, (k, v) => v instanceof DataView ? null : v)) }),
    on: (ev, f) => { (listeners[ev] = listeners[ev] || []).push(f); },
    off: (ev, f) => { listeners[ev] = (listeners[ev] || []).filter((g) => g !== f); },
    send: (msg) => {
      sent.push(msg);
      if (msg && msg.type === "need_grid") {  // as OutputTable._msg_need_grid answers
        fetch("/grid.js").then((r) => r.arrayBuffer()).then((b) => fire("msg:custom", { type: "grid" }, [new DataView(b)]));
      }
      if (msg && msg.type === "__view__" && !model.beat) {
        fire("msg:custom", { type: "__beat__" }, []);
        model.beat = setInterval(() => fire("msg:custom", { type: "__beat__" }, []), 1000);
      }
      if (msg && msg.type === "need_plotly") {
        fetch("/plotly.min.js").then((r) => r.arrayBuffer()).then((b) => fire("msg:custom", { type: "plotly" }, [new DataView(b)]));
      }
    },
    emit: (msg, buffers) => fire("msg:custom", msg, buffers || []),
    update: (k, v) => model.set(k, v),
    stopBeats: () => { clearInterval(model.beat); model.beat = -1; },
    fire,
    sent,
    listeners,
  };
  return model;
}

function encode(obj) {
  const bytes = new TextEncoder().encode(JSON.stringify(obj));
  return new DataView(bytes.buffer);
}

async function mount(id, name, state) {
  const mod = await import("/static/" + name + ".js");
  const el = document.createElement("div");
  el.id = id;
  document.body.appendChild(el);
  const model = makeModel(state);
  const cleanup = await mod.default.render({ model, el });
  window.__widgets[id] = { model, el, cleanup };
  return true;
}
</script></body></html>
"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output quiet
        pass


class HarnessServer:
    """Serves the harness, every widget's assembled ESM and plotly.min.js from a temp dir."""

    def __init__(self, root: Path) -> None:
        static = root / "static"
        static.mkdir()
        for source in JS_DIR.glob("*.js"):
            if source.stem != "common":
                (static / source.name).write_text(assemble(source.stem), encoding="utf-8")
        (static / "arroyo.css").write_text(stylesheet(), encoding="utf-8")
        shutil.copy(PLOTLY_JS, root / "plotly.min.js")
        (root / "grid.js").write_bytes(grid_bundle())
        (root / "index.html").write_text(HARNESS, encoding="utf-8")
        handler = functools.partial(_Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="widget-harness-http", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
