// Built from js/errors.js and js/common.js by js/build.mjs — edit those, then `npm run build`.
// Helpers shared by every widget front-end; build.mjs inlines this file into each bundle.
// All data goes into the DOM through textContent, never innerHTML.

function h(tag, cls, text) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text !== undefined && text !== null) el.textContent = String(text);
  return el;
}

function button(label, cls, onClick) {
  const b = h("button", "arroyo-btn " + (cls || ""), label);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

// µs since the epoch → "2025-08-01 12:00:00.123" (UTC)
function fmtTime(us) {
  if (us === null || us === undefined || us === "") return "-";
  const d = new Date(Number(us) / 1000);
  if (isNaN(d.getTime())) return String(us);
  return d.toISOString().replace("T", " ").replace("Z", "");
}

// Arroyo console style durations from µs.
function fmtDuration(us) {
  if (us === null || us === undefined || isNaN(us)) return "-";
  const ms = us / 1000;
  if (ms < 1000) return ms.toFixed(1) + " ms";
  if (ms < 10000) return Math.round(ms) + " ms";
  let s = Math.floor(ms / 1000);
  if (s < 60) return s + " s";
  let m = Math.floor(s / 60);
  s = s % 60;
  if (m < 60) return m + ":" + String(s).padStart(2, "0");
  const hr = Math.floor(m / 60);
  m = m % 60;
  return hr + ":" + String(m).padStart(2, "0") + ":" + String(s).padStart(2, "0");
}

function fmtCell(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function fmtNumber(n) {
  if (n === null || n === undefined) return "-";
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: 1 });
}

// plotly.js travels once per page from the kernel (no CDN, nothing saved in the notebook).
function loadPlotly(model) {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (window.__arroyoPlotly) return window.__arroyoPlotly;
  window.__arroyoPlotly = new Promise((resolve, reject) => {
    const onMsg = (msg, buffers) => {
      if (!msg || msg.type !== "plotly") return;
      model.off("msg:custom", onMsg);
      const url = URL.createObjectURL(new Blob([buffers[0]], { type: "text/javascript" }));
      const script = document.createElement("script");
      const savedDefine = window.define; // an AMD loader would swallow the UMD global
      window.define = undefined;
      script.onload = () => {
        window.define = savedDefine;
        resolve(window.Plotly);
      };
      script.onerror = () => {
        window.define = savedDefine;
        window.__arroyoPlotly = null;
        reject(new Error("could not load plotly.js"));
      };
      script.src = url;
      document.head.appendChild(script);
    };
    model.on("msg:custom", onMsg);
    model.send({ type: "need_plotly" });
  });
  return window.__arroyoPlotly;
}

// Draw figure JSON (a string trait) into `div`; no-op for an empty string.
function drawFigure(model, div, json) {
  if (!json) {
    div.textContent = "";
    return;
  }
  loadPlotly(model)
    .then((Plotly) => {
      const fig = JSON.parse(json);
      return Plotly.react(div, fig.data || [], fig.layout || {}, { responsive: true, displaylogo: false });
    })
    .catch((e) => {
      div.textContent = "Chart unavailable: " + e.message;
    });
}

function purgeFigure(div) {
  if (window.Plotly && div) {
    try {
      window.Plotly.purge(div);
    } catch (e) {
      /* already gone */
    }
  }
}

function errorBox(model, root) {
  const box = h("div", "arroyo-error");
  const update = () => {
    box.textContent = model.get("error") || "";
    box.style.display = model.get("error") ? "" : "none";
  };
  update();
  model.on("change:error", update);
  root.appendChild(box);
  return () => model.off("change:error", update);
}


// The job's error log, a page at a time; pages are fetched by the kernel on request.

const SIZES = [10, 25, 50, 100, 500];

function render({ model, el }) {
  const root = h("div", "arroyo-widget arroyo-errors");
  el.appendChild(root);
  const bar = h("div", "arroyo-toolbar");
  const title = h("span", "arroyo-title");
  const prev = button("◀ Previous", "arroyo-prev", () => model.send({ type: "page", dir: "prev" }));
  const next = button("Next ▶", "arroyo-next", () => model.send({ type: "page", dir: "next" }));
  const label = h("span", "arroyo-page");
  const size = h("select", "arroyo-page-size");
  for (const s of SIZES) {
    const o = h("option", null, s + " / page");
    o.value = String(s);
    size.appendChild(o);
  }
  size.addEventListener("change", () => model.send({ type: "page_size", value: Number(size.value) }));
  const refresh = button("Refresh", "arroyo-refresh", () => model.send({ type: "refresh" }));
  const group = button("Group by operator & message", "arroyo-group", () => model.send({ type: "group" }));
  bar.append(title, prev, label, next, size, refresh, group);
  const table = h("table", "arroyo-table");
  const groups = h("div", "arroyo-groups");
  root.append(bar);
  const offError = errorBox(model, root);
  root.append(table, groups);

  function cells(tr, values, tag) {
    for (const v of values) tr.appendChild(h(tag, null, v === null || v === undefined ? "" : v));
  }

  function draw() {
    const page = model.get("page") || [];
    title.textContent = "Errors of " + (model.get("pipeline_name") || "pipeline");
    label.textContent = `page ${model.get("page_index") + 1}` + (model.get("loading") ? " (loading…)" : "");
    prev.disabled = model.get("page_index") === 0;
    next.disabled = !model.get("has_more");
    if (!SIZES.includes(model.get("page_size"))) {
      const o = h("option", null, model.get("page_size") + " / page");
      o.value = String(model.get("page_size"));
      size.appendChild(o);
    }
    size.value = String(model.get("page_size"));
    table.textContent = "";
    const head = h("tr");
    cells(head, ["time", "operator", "task", "level", "message", "details"], "th");
    table.appendChild(head);
    if (!page.length) {
      const tr = h("tr");
      const td = h("td", "arroyo-empty", "No errors.");
      td.colSpan = 6;
      tr.appendChild(td);
      table.appendChild(tr);
    }
    for (const m of page) {
      const tr = h("tr", "arroyo-level-" + m.level);
      cells(tr, [fmtTime(m.created_at), m.operator_id ?? "(job)", m.task_index ?? "", m.level, m.message, m.details], "td");
      table.appendChild(tr);
    }
    groups.textContent = "";
    const g = model.get("groups") || [];
    if (g.length) {
      groups.appendChild(h("div", "arroyo-subtitle", `Grouped (${model.get("grouped_over")} messages)`));
      const gt = h("table", "arroyo-table");
      const gh = h("tr");
      cells(gh, ["operator", "message", "count", "first seen", "last seen"], "th");
      gt.appendChild(gh);
      for (const r of g) {
        const tr = h("tr");
        cells(tr, [r.operator_id, r.message, r.count, r.first_seen, r.last_seen], "td");
        gt.appendChild(tr);
      }
      groups.appendChild(gt);
    }
  }
  const keys = ["page", "page_index", "has_more", "loading", "groups", "page_size"];
  for (const k of keys) model.on("change:" + k, draw);
  draw();
  return () => {
    for (const k of keys) model.off("change:" + k, draw);
    offError();
  };
}

export default { render(ctx) { ctx.model.send({ type: "__view__" }); return render(ctx); } };
