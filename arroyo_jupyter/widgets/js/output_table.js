import { h, button, fmtTime, fmtCell, fmtNumber, errorBox } from "./common.js";

// Live output table: binary columnar deltas in, a virtualised table out.
// Each delta is acknowledged after it has been drawn, so a slow browser makes the kernel
// hold back and coalesce instead of flooding the page.

const ROW_H = 22; // px, fixed so that only visible rows need DOM nodes
const OVERSCAN = 8;
const decoder = new TextDecoder();

// Rows of one sink, columnar. Append mode: arrays trimmed to `cap`; changelog mode: a
// Map key → row index kept as the current result.
class SinkStore {
  constructor(name, cap) {
    this.name = name;
    this.cap = cap;
    this.mode = "append";
    this.columns = [];
    this.clear();
  }
  clear() {
    this.ids = [];
    this.ts = [];
    this.cols = this.columns.map(() => []);
    this.byKey = new Map(); // changelog: key → {id, ts, vals}
    this.view = null; // changelog: cached array of Map values
  }
  get length() {
    return this.mode === "changelog" ? this.byKey.size : this.ids.length;
  }
  _columns(columns) {
    for (const c of columns) {
      if (!this.columns.includes(c)) {
        this.columns.push(c);
        this.cols.push(new Array(this.ids.length)); // holes read as undefined
      }
    }
  }
  apply(p) {
    this.mode = p.mode || "append";
    this._columns(p.columns || []);
    const at = (p.columns || []).map((c) => this.columns.indexOf(c));
    const n = p.ids.length;
    if (this.mode === "changelog") {
      for (const k of p.deletes || []) this.byKey.delete(k);
      for (let i = 0; i < n; i++) {
        const vals = new Array(this.columns.length);
        for (let j = 0; j < at.length; j++) vals[at[j]] = p.cols[j][i];
        this.byKey.delete(p.keys[i]); // re-insert: the updated row moves to the end
        this.byKey.set(p.keys[i], { id: p.ids[i], ts: p.ts[i], vals });
      }
      this.view = null;
      return;
    }
    for (let i = 0; i < n; i++) {
      this.ids.push(p.ids[i]);
      this.ts.push(p.ts[i]);
    }
    for (let c = 0; c < this.columns.length; c++) {
      const j = at.indexOf(c);
      const dst = this.cols[c];
      if (j < 0) {
        dst.length += n;
        continue;
      }
      const src = p.cols[j];
      for (let i = 0; i < n; i++) dst.push(src[i]);
    }
    // Trim in batches (amortised), keeping the newest `cap` rows.
    if (this.ids.length > this.cap * 1.25) {
      const drop = this.ids.length - this.cap;
      this.ids.splice(0, drop);
      this.ts.splice(0, drop);
      for (const col of this.cols) col.splice(0, drop);
    }
  }
  // Row at storage position i: [id, ts, ...values]
  row(i) {
    if (this.mode === "changelog") {
      if (!this.view) this.view = Array.from(this.byKey.values());
      const r = this.view[i];
      return [r.id, r.ts, ...this.columns.map((_, c) => r.vals[c])];
    }
    return [this.ids[i], this.ts[i], ...this.cols.map((col) => col[i])];
  }
}

function decode(view) {
  // anywidget gives DataViews; tests may pass ArrayBuffers or typed arrays.
  const bytes = view instanceof DataView ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength) : view;
  return JSON.parse(decoder.decode(bytes));
}

function render({ model, el }) {
  const root = h("div", "arroyo-widget arroyo-output");
  el.appendChild(root);
  const cap = model.get("view_rows") || 20000;
  const stores = new Map();
  let current = null;
  let stats = model.get("stats") || {};
  let pendingAck = 0;
  let frame = 0;
  let lastSeq = 0;

  // --- layout
  const bar = h("div", "arroyo-toolbar");
  const title = h("span", "arroyo-title", "Output of " + (model.get("pipeline_name") || "pipeline"));
  const pause = button("Pause", "arroyo-pause", () => {
    model.set("paused", !model.get("paused"));
    model.save_changes();
  });
  const orderLabel = h("label", "arroyo-order");
  const order = h("input");
  order.type = "checkbox";
  order.checked = model.get("newest_first");
  order.addEventListener("change", () => {
    model.set("newest_first", order.checked);
    model.save_changes();
  });
  orderLabel.append(order, h("span", null, " newest first"));
  const status = h("span", "arroyo-status");
  bar.append(title, pause, orderLabel, status);
  const tabs = h("div", "arroyo-tabs");
  const info = h("div", "arroyo-info");
  const header = h("div", "arroyo-row arroyo-header");
  const viewport = h("div", "arroyo-viewport");
  const spacer = h("div", "arroyo-spacer");
  const rowsEl = h("div", "arroyo-rows");
  viewport.append(spacer, rowsEl);
  root.append(bar, tabs, info, header, viewport);
  const offError = errorBox(model, root);

  function store(name) {
    let s = stores.get(name);
    if (!s) {
      s = new SinkStore(name, cap);
      stores.set(name, s);
      if (current === null) current = name;
      drawTabs();
    }
    return s;
  }

  function drawTabs() {
    tabs.textContent = "";
    tabs.style.display = stores.size > 1 ? "" : "none";
    for (const name of stores.keys()) {
      const t = button(name, "arroyo-tab" + (name === current ? " arroyo-tab-active" : ""), () => {
        current = name;
        drawTabs();
        drawHeader();
        schedule();
      });
      tabs.appendChild(t);
    }
  }

  let headerKey = "";
  function drawHeader() {
    const s = current !== null ? stores.get(current) : null;
    const cols = s ? ["id", "timestamp", ...s.columns] : [];
    const key = cols.join("\u0000");
    if (key === headerKey) return;
    headerKey = key;
    const template = cols.length ? `70px 200px repeat(${cols.length - 2}, minmax(90px, 1fr))` : "1fr";
    root.style.setProperty("--arroyo-cols", template);
    header.textContent = "";
    for (const c of cols) header.appendChild(h("span", "arroyo-cell", c));
    rowPool.length = 0;
    rowsEl.textContent = "";
  }

  const rowPool = [];
  function rowEl(i, ncols) {
    let r = rowPool[i];
    if (!r || r.children.length !== ncols) {
      r = h("div", "arroyo-row");
      for (let c = 0; c < ncols; c++) r.appendChild(h("span", "arroyo-cell"));
      if (rowPool[i]) rowsEl.replaceChild(r, rowPool[i]);
      else rowsEl.appendChild(r);
      rowPool[i] = r;
    }
    return r;
  }

  function draw() {
    frame = 0;
    const s = current !== null ? stores.get(current) : null;
    drawHeader();
    const n = s ? s.length : 0;
    spacer.style.height = n * ROW_H + "px";
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_H) - OVERSCAN);
    const count = Math.min(n - first, Math.ceil((viewport.clientHeight || 400) / ROW_H) + 2 * OVERSCAN);
    rowsEl.style.transform = `translateY(${first * ROW_H}px)`;
    const newestFirst = model.get("newest_first");
    const ncols = s ? s.columns.length + 2 : 0;
    for (let k = 0; k < Math.max(count, 0); k++) {
      const d = first + k;
      const i = newestFirst ? n - 1 - d : d;
      const vals = s.row(i);
      const r = rowEl(k, ncols);
      r.style.display = "";
      const cells = r.children;
      cells[0].textContent = vals[0];
      cells[1].textContent = fmtTime(vals[1]);
      for (let c = 2; c < ncols; c++) {
        const v = vals[c];
        cells[c].textContent = fmtCell(v);
        cells[c].classList.toggle("arroyo-null", v === null || v === undefined);
      }
    }
    for (let k = Math.max(count, 0); k < rowPool.length; k++) rowPool[k].style.display = "none";
    drawInfo();
    if (pendingAck) {
      model.send({ type: "ack", seq: pendingAck });
      pendingAck = 0;
    }
  }

  function drawInfo() {
    const paused = model.get("paused");
    pause.textContent = paused ? "Resume" : "Pause";
    status.textContent = paused ? "paused" : model.get("status") || "";
    const st = current !== null ? stats[current] : null;
    const s = current !== null ? stores.get(current) : null;
    if (!st || !s) {
      info.textContent = stores.size ? "" : "no rows yet";
      return;
    }
    // received = shown + skipped: "received" is what the kernel had accounted for when it
    // sent the rows this view holds (sent or coalesced away), so the three always add up.
    const shown = s.length;
    const received = st.accounted ?? st.total;
    const rate = st.rate >= 10 ? Math.round(st.rate) : st.rate;
    let text = `${fmtNumber(received)} rows received · ${fmtNumber(rate)} rows/s · ${st.mode || "append"} mode`;
    if (st.mode === "changelog") text += ` · ${fmtNumber(shown)} rows in the result`;
    else if (received > shown)
      text += ` · showing latest ${fmtNumber(shown)} of ${fmtNumber(received)}, skipped ${fmtNumber(received - shown)}`;
    if (st.lost > 0) text += ` · ${fmtNumber(st.lost)} rows dropped by the server`;
    info.textContent = text;
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(draw);
  }

  function load(names, buffers, reset) {
    for (let i = 0; i < buffers.length; i++) {
      const p = decode(buffers[i]);
      const s = store(p.sink || names[i]);
      if (reset) s.clear();
      s.apply(p);
    }
  }

  function onMsg(msg, buffers) {
    if (!msg || (msg.type !== "delta" && msg.type !== "reset")) return;
    if (msg.type === "delta" && msg.seq <= lastSeq) return; // already in a reset
    load(msg.sinks || [], buffers || [], msg.type === "reset");
    lastSeq = Math.max(lastSeq, msg.seq || 0);
    if (msg.stats) stats = msg.stats;
    if (msg.type === "delta") pendingAck = Math.max(pendingAck, msg.seq);
    schedule();
  }

  // A reloaded page or late view: draw the saved snapshot, then ask for the latest rows.
  const snap = model.get("snapshot");
  if (snap && snap.byteLength) {
    try {
      const s = decode(snap);
      for (const p of s.sinks || []) store(p.sink).apply(p);
      lastSeq = s.seq || 0;
    } catch (e) {
      /* an unreadable snapshot only means an empty start */
    }
  }
  const onStats = () => {
    stats = model.get("stats") || {};
    schedule();
  };
  model.on("msg:custom", onMsg);
  model.on("change:stats", onStats);
  model.on("change:status", schedule);
  model.on("change:paused", schedule);
  model.on("change:newest_first", schedule);
  viewport.addEventListener("scroll", schedule, { passive: true });
  model.send({ type: "hello" });
  schedule();

  return () => {
    if (frame) cancelAnimationFrame(frame);
    model.off("msg:custom", onMsg);
    model.off("change:stats", onStats);
    model.off("change:status", schedule);
    model.off("change:paused", schedule);
    model.off("change:newest_first", schedule);
    offError();
  };
}

export default { render };
