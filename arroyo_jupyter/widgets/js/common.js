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

// Uptimes and run lengths, one style everywhere (job_state.format_uptime is the same):
// "0.4 s", "9.1 s", "14 s", "3 m 41 s", "2 h 05 m".
export function fmtUptime(us) {
  if (us === null || us === undefined || isNaN(us) || us < 0) return "-";
  const s = us / 1e6;
  if (s < 10) return s.toFixed(1) + " s";
  const whole = Math.floor(s);
  if (whole < 60) return whole + " s";
  if (whole < 3600) return Math.floor(whole / 60) + " m " + String(whole % 60).padStart(2, "0") + " s";
  return Math.floor(whole / 3600) + " h " + String(Math.floor((whole % 3600) / 60)).padStart(2, "0") + " m";
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

// ---- every view's lifecycle (the kernel-side half is widgets/_base.py)

export const BEAT_MS = 2000; // the kernel's heartbeat interval (_base.BEAT_S)
export const DEAD_MS = 3 * BEAT_MS + 1000; // no beat for this long: the kernel side is gone

// Grey the view out and say so when its kernel side is gone (kernel restarted or dead,
// comm closed): no heartbeat for DEAD_MS, or the widget manager marks the comm dead.
// A beat arriving again (a busy kernel catching up) brings the view back.
export function liveness(model, el) {
  const banner = h("div", "arroyo-disconnected-banner", "disconnected — run the cell again");
  banner.title = "This view lost its kernel (restarted, shut down or the widget was closed); its controls do nothing.";
  banner.style.display = "none";
  el.prepend(banner);
  let last = Date.now();
  let dead = false;
  const set = (isDead) => {
    if (isDead === dead) return;
    dead = isDead;
    el.classList.toggle("arroyo-disconnected", dead);
    banner.style.display = dead ? "" : "none";
    for (const child of el.children) if (child !== banner) child.inert = dead;
    el.dispatchEvent(new CustomEvent("arroyo-liveness", { detail: { live: !dead } }));
  };
  const onMsg = (msg) => {
    if (msg && msg.type === "__beat__") {
      last = Date.now();
      set(false);
    }
  };
  const onCommGone = () => set(true); // comm_live_update fires as the kernel restarts; beats revive
  model.on("msg:custom", onMsg);
  model.on("comm_live_update", onCommGone);
  model.on("comm:close", onCommGone);
  const timer = setInterval(() => {
    if (!dead && Date.now() - last > DEAD_MS) set(true);
  }, 1000);
  return () => {
    clearInterval(timer);
    model.off("msg:custom", onMsg);
    model.off("comm_live_update", onCommGone);
    model.off("comm:close", onCommGone);
    banner.remove();
  };
}

export function isDisconnected(el) {
  return !!(el && el.closest && el.closest(".arroyo-disconnected"));
}

// Tell the kernel whether the view is on screen (the pipeline watcher polls slower for hidden views).
function visibility(model, el) {
  if (typeof IntersectionObserver === "undefined") return () => {};
  let shown = null;
  const observer = new IntersectionObserver((entries) => {
    const visible = entries.some((e) => e.isIntersecting);
    if (visible === shown) return;
    shown = visible;
    try {
      model.send({ type: "__visible__", visible });
    } catch (e) {
      /* the comm is gone: liveness says so */
    }
  });
  observer.observe(el);
  return () => observer.disconnect();
}

// A view whose pipeline was deleted (the synced `gone` trait) says so and greys out;
// a widget that shows it itself sets `render.handlesGone = true` (job_state.js).
function goneNotice(model, el) {
  const banner = h("div", "arroyo-gone-banner");
  banner.style.display = "none";
  el.prepend(banner);
  const update = () => {
    const gone = model.get("gone");
    banner.textContent = gone ? `pipeline ${gone}: this shows what it last reported` : "";
    banner.style.display = gone ? "" : "none";
    el.classList.toggle("arroyo-gone-view", !!gone);
  };
  update();
  model.on("change:gone", update);
  return () => {
    model.off("change:gone", update);
    banner.remove();
  };
}

// Every widget module's default export calls this (widgets/_esm.py assembles it).
export function renderLive(ctx, render) {
  ctx.model.send({ type: "__view__" });
  const offLive = liveness(ctx.model, ctx.el);
  const offVisible = visibility(ctx.model, ctx.el);
  const offGone = render.handlesGone ? () => {} : goneNotice(ctx.model, ctx.el);
  return Promise.resolve(render(ctx)).then((cleanup) => () => {
    offLive();
    offVisible();
    offGone();
    if (typeof cleanup === "function") cleanup();
  });
}
