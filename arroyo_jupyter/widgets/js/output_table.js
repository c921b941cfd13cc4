import { h } from "./common.js";

// The output table's front-end is the grid bundle built from the top-level js/ folder
// (ag-grid + Apache Arrow, ~1 MB). Like plotly.js it travels once per page from the
// kernel instead of inside every widget's state, so saved notebooks stay small.

function loadGrid(model) {
  const version = model.get("bundle_version") || "";
  const cached = window.__arroyoGrid;
  if (cached && cached.version === version) return cached.promise;
  const promise = new Promise((resolve, reject) => {
    const onMsg = (msg, buffers) => {
      if (!msg || msg.type !== "grid") return;
      model.off("msg:custom", onMsg);
      if (!buffers || !buffers.length) {
        reject(new Error(msg.error || "the kernel sent no grid bundle"));
        return;
      }
      const url = URL.createObjectURL(new Blob([buffers[0]], { type: "text/javascript" }));
      import(/* webpackIgnore: true */ url).then(resolve, reject);
    };
    model.on("msg:custom", onMsg);
    model.send({ type: "need_grid" });
  });
  window.__arroyoGrid = { version, promise };
  promise.catch(() => {
    if (window.__arroyoGrid && window.__arroyoGrid.promise === promise) window.__arroyoGrid = null;
  });
  return promise;
}

async function render({ model, el }) {
  const wait = h("div", "arroyo-widget arroyo-info", "loading the output table…");
  el.appendChild(wait);
  try {
    const grid = await loadGrid(model);
    wait.remove();
    return grid.default.render({ model, el });
  } catch (e) {
    wait.textContent = "The output table could not load: " + (e && e.message ? e.message : e);
    return () => {};
  }
}

export default { render };
