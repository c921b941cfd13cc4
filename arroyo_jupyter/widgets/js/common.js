// Helpers shared by every widget front-end; build.mjs inlines this file into each bundle.
// All data goes into the DOM through textContent, never innerHTML.

export function h(tag, cls, text) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  if (text !== undefined && text !== null) el.textContent = String(text);
  return el;
}

export function button(label, cls, onClick) {
  const b = h("button", "arroyo-btn " + (cls || ""), label);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

// µs since the epoch → "2025-08-01 12:00:00.123" (UTC)
export function fmtTime(us) {
  if (us === null || us === undefined || us === "") return "-";
  const d = new Date(Number(us) / 1000);
  if (isNaN(d.getTime())) return String(us);
  return d.toISOString().replace("T", " ").replace("Z", "");
}

// Arroyo console style durations from µs.
export function fmtDuration(us) {
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

export function fmtCell(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

export function fmtNumber(n) {
  if (n === null || n === undefined) return "-";
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: 1 });
}

// plotly.js travels once per page from the kernel (no CDN, nothing saved in the notebook).
export function loadPlotly(model) {
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
export function drawFigure(model, div, json) {
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

export function purgeFigure(div) {
  if (window.Plotly && div) {
    try {
      window.Plotly.purge(div);
    } catch (e) {
      /* already gone */
    }
  }
}

export function errorBox(model, root) {
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
