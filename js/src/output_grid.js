// The live output table: Arrow IPC deltas from the kernel, shown in ag-grid.
//
// Each sink's rows are kept here (append mode: the newest `view_rows`; changelog mode: the
// current result by key). Deltas are applied once per animation frame and acknowledged
// after they are drawn, so a slow browser makes the kernel coalesce instead of flooding.
// Every value reaches the DOM as text (ag-grid renders text; our renderers use textContent).

import {
  AllCommunityModule,
  ModuleRegistry,
  createGrid,
  themeQuartz,
} from "ag-grid-community";
import { tableFromIPC } from "apache-arrow";
import { h, button, errorBox } from "../../arroyo_jupyter/widgets/js/common.js";
import {
  columnValues,
  compact,
  compareValues,
  copyText,
  fmtNum,
  fmtRate,
  isJsonText,
  kindOf,
  parseTime,
  pretty,
  timeFormatter,
} from "./values.js";
import { STYLE } from "./style.js";

// ag-grid's community modules, all of them: column moving (header drag) is only in the
// whole set. The infinite row model asks this view for the rows it is about to draw, so a
// delta costs the visible rows only, however many rows the view holds: the rows
// themselves stay in SinkRows.
ModuleRegistry.registerModules([AllCommunityModule]);

const ROW_H = 26;
const LINE_H = 16;
const AUTO_HEIGHT_ROWS = 15; // up to this many rows the grid is as tall as its rows (no blank area)
const GRID_HEIGHT = 440;
const HEADER_H = 30;
const SCROLLBAR_H = 16;
const LONG_TEXT = 80;
const FLASH_MS = 1200; // how long an updated row stays highlighted // characters: longer text opens in full on click

// JupyterLab's theme variables, so light and dark themes both look right.
const theme = themeQuartz.withParams({
  backgroundColor: "var(--jp-layout-color1, #ffffff)",
  foregroundColor: "var(--jp-ui-font-color1, #1f1f1f)",
  headerBackgroundColor: "var(--jp-layout-color2, #f3f3f3)",
  headerTextColor: "var(--jp-ui-font-color1, #1f1f1f)",
  borderColor: "var(--jp-border-color2, #dddddd)",
  accentColor: "var(--jp-brand-color1, #1976d2)",
  oddRowBackgroundColor: "var(--jp-layout-color0, transparent)",
  fontFamily: "var(--jp-code-font-family, ui-monospace, monospace)",
  headerFontFamily: "var(--jp-ui-font-family, system-ui, sans-serif)",
  fontSize: 12,
  headerFontSize: 12,
  rowHeight: ROW_H,
  headerHeight: HEADER_H,
  spacing: 4,
  wrapperBorderRadius: 4,
});

function injectStyle() {
  if (document.getElementById("arroyo-grid-style")) return;
  const style = document.createElement("style");
  style.id = "arroyo-grid-style";
  style.textContent = STYLE;
  document.head.appendChild(style);
}

function bytesOf(view) {
  if (view instanceof DataView) return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  if (view instanceof ArrayBuffer) return new Uint8Array(view);
  return view;
}

// One payload (Arrow IPC) → {meta, seq[], id[], ts[], key[], op[], cols[][], types[]}
export function decodePayload(view) {
  const table = tableFromIPC(bytesOf(view));
  const meta = JSON.parse(table.schema.metadata.get("arroyo") || "{}");
  const nmeta = meta.nmeta || 3;
  const fields = table.schema.fields;
  const col = (i) => columnValues(table.getChildAt(i));
  const out = {
    meta,
    n: table.numRows,
    seq: col(0),
    id: col(1),
    ts: col(2),
    key: nmeta >= 5 ? col(3) : null,
    op: nmeta >= 5 ? col(4) : null,
    cols: [],
    types: [],
  };
  for (let i = nmeta; i < fields.length; i++) {
    out.cols.push(col(i));
    out.types.push(fields[i].type);
  }
  return out;
}

// Rows of one sink.
class SinkRows {
  constructor(name, cap) {
    this.name = name;
    this.cap = cap;
    this.mode = "append";
    this.columns = [];
    this.kinds = [];
    this.keyCols = [];
    this.clear();
  }
  clear() {
    // append mode keeps the payloads' columns as they came (chunks, oldest first) and makes
    // a row object only when the grid asks for that row: 50,000 rows a second cost no
    // per-row work unless they are looked at
    this.chunks = []; // {n, off, seq, id, ts, cols, at}
    this.n = 0;
    this.skip = 0; // rows of chunks[0] already trimmed away
    this.byKey = new Map(); // changelog: key → row
    this.sorted = null; // changelog: rows in key order (null: to be sorted)
    this.nextRid = 0;
  }
  get length() {
    return this.mode === "changelog" ? this.byKey.size : this.n;
  }
  // append mode: the k-th row kept (0 = oldest), as a row object
  rowAt(k) {
    let pos = k + this.skip;
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.chunks[mid].off - this.chunks[0].off <= pos) lo = mid;
      else hi = mid - 1;
    }
    const c = this.chunks[lo];
    pos -= c.off - this.chunks[0].off;
    const v = new Array(this.columns.length).fill(null);
    for (let j = 0; j < c.at.length; j++) v[c.at[j]] = c.cols[j][pos];
    return { k: c.seq[pos], rid: c.seq[pos], s: c.seq[pos], id: c.id[pos], ts: c.ts[pos] / 1000, op: null, v };
  }
  // append mode: one column's sort keys for every kept row, read from the chunks directly
  // (colId: "row", "event_time" or "c<i>"; `key` turns a value into what is compared)
  valuesOf(colId, key) {
    const out = new Array(this.n);
    let k = 0;
    this.chunks.forEach((c, ci) => {
      let src;
      if (colId === "row") src = c.id;
      else if (colId === "event_time") src = c.ts;
      else {
        const j = c.at.indexOf(Number(colId.slice(1)));
        src = j < 0 ? null : c.cols[j];
      }
      for (let pos = ci === 0 ? this.skip : 0; pos < c.n; pos++) out[k++] = src ? key(src[pos]) : null;
    });
    return out;
  }
  all() {
    if (!this.sorted) this.sorted = Array.from(this.byKey.values()).sort((a, b) => this.compareKeys(a, b));
    return this.sorted;
  }
  compareKeys(a, b) {
    const ka = a.kv;
    const kb = b.kv;
    for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
      const c = compareValues(ka[i], kb[i]);
      if (c) return c;
    }
    return a.s - b.s;
  }
  learn(p) {
    this.mode = p.meta.mode || "append";
    this.keyCols = p.meta.key || [];
    const names = p.meta.columns || [];
    const at = names.map((c) => {
      let i = this.columns.indexOf(c);
      if (i < 0) {
        i = this.columns.length;
        this.columns.push(c);
        this.kinds.push(null);
      }
      return i;
    });
    for (let j = 0; j < at.length; j++) {
      if (this.kinds[at[j]] && this.kinds[at[j]] !== "text") continue;
      const values = p.cols[j];
      let sample = null;
      for (let i = 0; i < values.length && sample === null; i++) if (values[i] !== null) sample = values[i];
      if (sample === null && this.kinds[at[j]]) continue;
      const kind = kindOf(p.types[j], sample);
      if (!this.kinds[at[j]] || kind !== "text") this.kinds[at[j]] = kind;
    }
    return at;
  }
  // Apply a payload; returns the rows updated in place (changelog mode).
  apply(p) {
    const at = this.learn(p);
    if (this.mode !== "changelog") {
      if (!p.n) return [];
      const last = this.chunks[this.chunks.length - 1];
      const off = last ? last.off + last.n : 0;
      this.chunks.push({ n: p.n, off, seq: p.seq, id: p.id, ts: p.ts, cols: p.cols, at });
      this.n += p.n;
      // keep the newest `cap` rows: whole chunks dropped, the first one trimmed by `skip`
      let excess = this.n - this.cap;
      while (excess > 0) {
        const head = this.chunks[0];
        const left = head.n - this.skip;
        if (left <= excess) {
          this.chunks.shift();
          this.skip = 0;
          this.n -= left;
          excess -= left;
        } else {
          this.skip += excess;
          this.n -= excess;
          excess = 0;
        }
      }
      return [];
    }
    const made = [];
    for (let i = 0; i < p.n; i++) {
      const v = new Array(this.columns.length).fill(null);
      for (let j = 0; j < at.length; j++) v[at[j]] = p.cols[j][i];
      made.push({ k: p.key[i], rid: 0, s: p.seq[i], id: p.id[i], ts: p.ts[i] / 1000, op: p.op[i], v });
    }
    for (const k of p.meta.deletes || []) this.byKey.delete(k);
    const updated = [];
    for (const r of made) {
      r.kv = this.keyValues(r);
      const old = this.byKey.get(r.k);
      r.rid = old ? old.rid : this.nextRid++; // the grid's row id: stable per key
      if (old) updated.push(r);
      this.byKey.set(r.k, r);
    }
    this.sorted = null;
    return updated;
  }
  keyValues(r) {
    if (this.keyCols.length) return this.keyCols.map((c) => r.v[this.columns.indexOf(c)]);
    return r.v; // no key given: the whole row is the key
  }
}

function copyToClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text).catch(() => fallbackCopy(text));
  }
  fallbackCopy(text);
  return Promise.resolve();
}

function fallbackCopy(text) {
  const ta = document.createElement("textarea");
  ta.value = text;
  ta.style.position = "fixed";
  ta.style.opacity = "0";
  document.body.appendChild(ta);
  ta.select();
  try {
    document.execCommand("copy");
  } finally {
    ta.remove();
  }
}

function render({ model, el }) {
  injectStyle();
  const root = h("div", "arroyo-widget arroyo-output arroyo-output-grid");
  el.appendChild(root);
  const cap = model.get("view_rows") || 20000;
  const sinks = new Map();
  let current = null;
  let stats = model.get("stats") || {};
  let lastSeq = 0;
  let pendingAck = 0;
  let frame = 0;
  let queue = []; // payloads waiting for the next frame: {reset, sinks: [[name, payload]]}
  let fmtTime = timeFormatter(model.get("time_zone"));
  let showOp = false;
  let autoHeight = null;
  let selected = null; // {row, col} of the detail panel
  let destroyed = false;

  // --- layout
  const bar = h("div", "arroyo-toolbar");
  const title = h("span", "arroyo-title", "Output of " + (model.get("pipeline_name") || "pipeline"));
  const pause = button("Pause", "arroyo-pause", () => {
    model.set("paused", !model.get("paused"));
    model.save_changes();
  });
  const order = button("", "arroyo-order", () => {
    model.set("newest_first", !model.get("newest_first"));
    model.save_changes();
  });
  const zone = h("select", "arroyo-select arroyo-zone");
  zone.title = "time zone of every time shown";
  for (const z of ["UTC", "local"]) {
    const o = h("option", null, z === "local" ? "local time" : z);
    o.value = z;
    zone.appendChild(o);
  }
  zone.addEventListener("change", () => {
    model.set("time_zone", zone.value);
    model.save_changes();
  });
  const opLabel = h("label", "arroyo-op-toggle");
  const opBox = h("input");
  opBox.type = "checkbox";
  opBox.addEventListener("change", () => {
    showOp = opBox.checked;
    setColumns(true);
  });
  opLabel.append(opBox, h("span", null, " op column"));
  const status = h("span", "arroyo-status");
  bar.append(title, pause, order, zone, opLabel, status);
  const tabs = h("div", "arroyo-tabs");
  const info = h("div", "arroyo-info");
  const runsLine = h("div", "arroyo-runs");
  const gridEl = h("div", "arroyo-grid");
  const gridWrap = h("div", "arroyo-grid-wrap");
  const detail = h("div", "arroyo-detail");
  detail.style.display = "none";
  gridWrap.appendChild(gridEl);
  root.append(bar, tabs, info, runsLine, gridWrap, detail);
  const offError = errorBox(model, root);

  function sink(name) {
    let s = sinks.get(name);
    if (!s) {
      s = new SinkRows(name, cap);
      sinks.set(name, s);
      if (current === null) current = name;
      drawTabs();
    }
    return s;
  }

  function drawTabs() {
    tabs.textContent = "";
    tabs.style.display = sinks.size > 1 ? "" : "none";
    for (const name of sinks.keys()) {
      const t = button(name, "arroyo-tab" + (name === current ? " arroyo-tab-active" : ""), () => {
        current = name;
        selected = null;
        drawTabs();
        setColumns(true);
        setRows(true);
        drawInfo();
        drawDetail();
      });
      tabs.appendChild(t);
    }
  }

  // --- cells
  class NestedCell {
    init(p) {
      this.gui = h("span", "arroyo-nested");
      this.refresh(p);
    }
    getGui() {
      return this.gui;
    }
    refresh(p) {
      const value = p.value;
      const colId = p.colDef.colId;
      if (!p.data) return true; // a row not loaded yet
      this.gui.textContent = "";
      if (value === null || value === undefined) {
        this.gui.appendChild(h("span", "arroyo-null", "null"));
        return true;
      }
      const nested = typeof value === "object" ? value : JSON.parse(value);
      const open = !!(expanded && expanded.rid === p.data.rid && expanded.colId === colId);
      const toggle = h("button", "arroyo-toggle", open ? "▾" : "▸");
      toggle.type = "button";
      toggle.title = open ? "collapse" : "expand in place";
      toggle.addEventListener("click", (e) => {
        e.stopPropagation();
        if (open) collapse();
        else expand(p.data, colId, nested, this.gui.closest(".ag-cell"));
      });
      this.gui.appendChild(toggle);
      this.gui.appendChild(h("span", "arroyo-inline", compact(nested)));
      return true;
    }
  }

  // A struct, list or JSON value opens right where it is: a panel over the rows below its
  // cell (the infinite row model draws rows of one height, so the row itself cannot grow).
  let expanded = null; // {row, colId}
  const pop = h("div", "arroyo-pop");
  pop.style.display = "none";
  gridWrap.appendChild(pop);
  function expand(row, colId, value, cellEl) {
    expanded = { rid: row.rid, colId };
    pop.textContent = "";
    const close = h("button", "arroyo-toggle arroyo-pop-close", "▾");
    close.type = "button";
    close.title = "collapse";
    close.addEventListener("click", collapse);
    pop.append(close, h("pre", "arroyo-json", pretty(value)));
    const host = gridEl.getBoundingClientRect();
    const cell = cellEl ? cellEl.getBoundingClientRect() : host;
    pop.style.left = Math.max(0, cell.left - host.left) + "px";
    pop.style.top = cell.top - host.top + "px";
    pop.style.minWidth = Math.max(cell.width, 200) + "px";
    pop.style.display = "";
    grid.refreshCells({ force: true });
  }
  pop.addEventListener("keydown", (e) => {
    if (e.key === "Escape") collapse();
  });
  function collapse() {
    if (!expanded) return;
    expanded = null;
    pop.style.display = "none";
    grid.refreshCells({ force: true });
  }

  function colDefs(s) {
    const defs = [
      {
        colId: "row",
        headerName: "row",
        headerTooltip: "the row's id on the server (resets when a run starts without state)",
        valueGetter: (p) => (p.data ? p.data.id : null),
        valueFormatter: (p) => fmtNum(p.value),
        type: "rightAligned",
        width: 90,
        pinned: "left",
      },
      {
        colId: "event_time",
        headerName: "event time",
        headerTooltip: "the row's event time",
        valueGetter: (p) => (p.data ? p.data.ts : null),
        valueFormatter: (p) => fmtTime(p.value),
        width: 232,
      },
    ];
    if (s.mode === "changelog" && showOp) {
      defs.push({
        colId: "op",
        headerName: "op",
        headerTooltip: "the last change to this row: c (insert), u (update)",
        valueGetter: (p) => (p.data ? p.data.op : null),
        width: 60,
      });
    }
    s.columns.forEach((name, i) => {
      const kind = s.kinds[i] || "text";
      const def = {
        colId: "c" + i,
        headerName: name,
        headerTooltip: `${name} (${kind})`,
        valueGetter: (p) => (p.data ? p.data.v[i] : null),
        comparator: compareValues,
      };
      if (kind === "number") {
        def.type = "rightAligned";
        def.valueFormatter = (p) => fmtNum(p.value);
        def.width = 120;
      } else if (kind === "time") {
        def.valueFormatter = (p) => {
          const ms = parseTime(p.value);
          return isNaN(ms) ? (p.value === null ? "" : String(p.value)) : fmtTime(ms);
        };
        def.width = 232;
      } else if (kind === "window") {
        def.valueFormatter = (p) => {
          const w = p.value;
          if (!w || typeof w !== "object") return w === null ? "" : String(w);
          const a = parseTime(w.start);
          const b = parseTime(w.end);
          return `${isNaN(a) ? String(w.start) : fmtTime(a)} – ${isNaN(b) ? String(w.end) : fmtTime(b)}`;
        };
        def.comparator = (a, b) => compareValues(a && parseTime(a.start), b && parseTime(b.start));
        def.width = 460;
      } else if (kind === "struct" || kind === "list") {
        def.cellRenderer = NestedCell;
        def.width = 260;
      } else {
        // plain text is drawn by the grid itself (fewer DOM nodes while rows stream);
        // JSON text gets the expandable cell
        def.cellRendererSelector = (p) => (isJsonText(p.value) ? { component: TextCell } : undefined);
        def.valueFormatter = (p) => (p.value === null || p.value === undefined ? "null" : String(p.value));
        def.tooltipValueGetter = (p) =>
          typeof p.value === "string" && p.value.length > LONG_TEXT ? "long text: click to read it in full" : undefined;
        def.width = 180;
      }
      def.cellClass = kind === "number" ? ["ag-right-aligned-cell", "arroyo-cell-number"] : "arroyo-cell-" + kind;
      def.cellClassRules = { "arroyo-null": (p) => p.value === null || p.value === undefined };
      defs.push(def);
    });
    return defs;
  }

  class TextCell {
    init(p) {
      this.gui = h("span", "arroyo-text");
      this.refresh(p);
    }
    getGui() {
      return this.gui;
    }
    refresh(p) {
      if (isJsonText(p.value)) {
        if (!(this.nested instanceof NestedCell)) this.nested = new NestedCell();
        this.nested.init(p);
        this.gui.textContent = "";
        this.gui.appendChild(this.nested.getGui());
        return true;
      }
      const v = p.value;
      this.gui.className = v === null || v === undefined ? "arroyo-text arroyo-null" : "arroyo-text";
      this.gui.textContent = v === null || v === undefined ? "null" : String(v);
      if (typeof v === "string" && v.length > LONG_TEXT) this.gui.title = "long text: click to read it in full";
      return true;
    }
  }

  // The rows of the current sink in the order shown (sorted by the user's column, or
  // by arrival / key), computed again only when rows, sort or order change.
  let sortModel = [];
  let shownCache = null;
  let dataVersion = 0;
  // {length, slice(a, b)} over the current sink's rows in the order shown
  function shownRows() {
    const s = current !== null ? sinks.get(current) : null;
    if (!s) return { length: 0, slice: () => [], at: () => undefined };
    const newest = model.get("newest_first");
    const key = `${dataVersion}|${JSON.stringify(sortModel)}|${newest}|${s.name}`;
    if (shownCache && shownCache.key === key) return shownCache.rows;
    let rows;
    if (s.mode === "changelog") {
      let all = s.all();
      if (sortModel.length) all = sortRows(all, (r) => r);
      rows = { length: all.length, slice: (a, b) => all.slice(a, b), at: (i) => all[i] };
    } else if (sortModel.length) {
      // sort row positions by the column values, then make rows for the asked slice only
      const idx = Array.from({ length: s.n }, (_, k) => k);
      const keys = sortModel.map((m) => [s.valuesOf(m.colId, sortKey(m.colId)), m.sort === "desc" ? -1 : 1]);
      idx.sort((a, b) => {
        for (const [vals, dir] of keys) {
          const c = compareValues(vals[a], vals[b]);
          if (c) return c * dir;
        }
        return newest ? b - a : a - b;
      });
      rows = { length: idx.length, slice: (a, b) => idx.slice(a, b).map((k) => s.rowAt(k)), at: (i) => s.rowAt(idx[i]) };
    } else {
      const n = s.n;
      rows = {
        length: n,
        slice: (a, b) => {
          const out = [];
          for (let i = a; i < Math.min(b, n); i++) out.push(s.rowAt(newest ? n - 1 - i : i));
          return out;
        },
        at: (i) => s.rowAt(newest ? n - 1 - i : i),
      };
    }
    shownCache = { key, rows };
    return rows;
  }
  function sortRows(all, id) {
    const getters = sortModel.map((m) => [valueOf(m.colId), m.sort === "desc" ? -1 : 1]);
    return all.slice().sort((a, b) => {
      for (const [get, dir] of getters) {
        const c = compareValues(get(id(a)), get(id(b)));
        if (c) return c * dir;
      }
      return 0;
    });
  }
  function sortKey(colId) {
    const s = sinks.get(current);
    const kind = colId.startsWith("c") && s ? s.kinds[Number(colId.slice(1))] : null;
    if (kind === "time") return parseTime;
    if (kind === "window") return (w) => (w && typeof w === "object" ? parseTime(w.start) : null);
    return (v) => v;
  }
  function valueOf(colId) {
    if (colId === "row") return (r) => r.id;
    if (colId === "event_time") return (r) => r.ts;
    if (colId === "op") return (r) => r.op;
    const i = Number(colId.slice(1));
    const s = sinks.get(current);
    const kind = s ? s.kinds[i] : "text";
    if (kind === "time") return (r) => parseTime(r.v[i]);
    if (kind === "window") return (r) => (r.v[i] && typeof r.v[i] === "object" ? parseTime(r.v[i].start) : null);
    return (r) => r.v[i];
  }

  const grid = createGrid(gridEl, {
    theme,
    columnDefs: [],
    rowModelType: "infinite",
    cacheBlockSize: 100,
    maxBlocksInCache: 3, // loaded rows get new data on every delta: keep them few
    infiniteInitialRowCount: 1, // after a sort resets the cache, the first block is asked for
    datasource: {
      getRows(params) {
        // answered right after the grid's own call returns (it may be mid-refresh)
        Promise.resolve().then(() => {
          if (destroyed) return;
          sortModel = params.sortModel || [];
          const rows = shownRows();
          const block = rows.slice(params.startRow, params.endRow);
          for (const r of block) r.dv = dataVersion;
          params.successCallback(block, rows.length);
        });
      },
    },
    // no getRowId: rows are the grid's by position, so a refresh of streaming rows updates
    // the cells already drawn instead of tearing rows down and building new ones
    defaultColDef: { resizable: true, sortable: true, minWidth: 50 },
    suppressDragLeaveHidesColumns: true,
    animateRows: false,
    enableCellTextSelection: true,
    ensureDomOrder: false,
    rowBuffer: 4,
    suppressColumnVirtualisation: false,
    rowClassRules: {
      "arroyo-run-start": (p) => !!(p.data && runStarts.has(p.data.s)),
      "arroyo-updated": (p) => !!(p.data && p.data.u && Date.now() - p.data.u < FLASH_MS),
    },
    overlayNoRowsTemplate: "<span>no rows yet</span>",
    onColumnResized: () => fitHeight(),
    onViewportChanged: () => {
      if (!destroyed) refreshRendered(shownRows());
    },
    onDisplayedColumnsChanged: () => fitHeight(),
    onCellClicked: (e) => {
      if (expanded && !(e.event && e.event.target && e.event.target.closest(".arroyo-toggle"))) collapse();
      const v = e.value;
      const long = typeof v === "string" && v.length > LONG_TEXT;
      if (long || (e.event && e.event.detail >= 2)) {
        selected = { row: e.data, colId: e.column.getColId(), name: e.colDef.headerName };
        drawDetail();
      }
    },
    onCellKeyDown: (e) => {
      const ev = e.event;
      if (!ev || !(ev.ctrlKey || ev.metaKey) || (ev.key !== "c" && ev.key !== "C")) return;
      if (ev.shiftKey) copyToClipboard(rowText(e.data));
      else copyToClipboard(copyText(e.value));
      ev.preventDefault();
    },
  });

  let runStarts = new Set();
  function computeRunStarts() {
    const out = new Set();
    const runs = model.get("runs") || [];
    for (const r of runs) {
      if (r.event !== "started" || !r.rows || current === null) continue;
      const at = r.rows[current];
      if (at > 0) out.add(at);
    }
    runStarts = out;
    const last = runs.filter((r) => r.event !== "started").slice(-3);
    const started = runs.filter((r) => r.event === "started");
    runsLine.textContent = "";
    if (started.length > 1 || last.length) {
      const parts = runs.slice(-4).map((r) => {
        const when = r.time_ms ? fmtTime(r.time_ms) : "";
        const run = r.run !== null && r.run !== undefined ? `run ${r.run}` : "run";
        return r.event === "started" ? `${run} started ${when}` : `${run} ${r.event} ${when}`;
      });
      runsLine.textContent = parts.join(" · ");
    }
  }

  function rowText(row) {
    const s = sinks.get(current);
    if (!s || !row) return "";
    const obj = {};
    s.columns.forEach((c, i) => (obj[c] = row.v[i]));
    return JSON.stringify(obj);
  }

  function drawDetail() {
    detail.textContent = "";
    if (!selected) {
      detail.style.display = "none";
      return;
    }
    detail.style.display = "";
    const s = sinks.get(current);
    const colId = selected.colId;
    let value;
    if (colId === "row") value = selected.row.id;
    else if (colId === "event_time") value = fmtTime(selected.row.ts);
    else if (colId === "op") value = selected.row.op;
    else value = selected.row.v[Number(colId.slice(1))];
    const head = h("div", "arroyo-detail-head");
    head.append(
      h("b", null, selected.name),
      h("span", "arroyo-detail-meta", ` · row ${fmtNum(selected.row.id)}`),
      button("Copy cell", "arroyo-copy-cell", () => copyToClipboard(copyText(value))),
      button("Copy row", "arroyo-copy-row", () => copyToClipboard(rowText(selected.row))),
      button("Close", "arroyo-close", () => {
        selected = null;
        drawDetail();
      }),
    );
    const nested = isJsonText(value) ? JSON.parse(value) : value;
    const body = h("pre", "arroyo-detail-body", typeof nested === "object" && nested !== null ? pretty(nested) : copyText(nested));
    detail.append(head, body);
    void s;
  }

  let columnsKey = "";
  function setColumns(force) {
    const s = current !== null ? sinks.get(current) : null;
    if (!s) return;
    opLabel.style.display = s.mode === "changelog" ? "" : "none";
    const key = [s.mode, showOp, ...s.columns, ...s.kinds].join("\u0000");
    if (!force && key === columnsKey) return;
    columnsKey = key;
    grid.setGridOption("columnDefs", colDefs(s));
  }

  let rowCount = 0;
  // New rows: the grid keeps its rows (by position) and each loaded one gets the row now at
  // its position, so drawn cells change their text in place; nothing is torn down or rebuilt.
  function setRows(purge) {
    dataVersion++;
    const rows = shownRows();
    const n = rows.length;
    if (purge) {
      rowCount = n;
      grid.setRowCount(n, true);
      grid.refreshInfiniteCache();
    } else {
      if (n !== rowCount) {
        rowCount = n;
        grid.setRowCount(n, true); // the last row is known (no "loading more")
      }
      refreshRendered(rows);
    }
    fitHeight();
  }

  // Only the rows on screen get their new data now; rows loaded but off screen are brought
  // up to date when they scroll into view (onViewportChanged), so a delta costs the visible
  // rows whatever the cache holds.
  function refreshRendered(rows) {
    const n = rows.length;
    for (const node of grid.getRenderedNodes()) {
      const i = node.rowIndex;
      if (i === null || i === undefined || !node.data || i >= n) continue;
      if (node.data.dv === dataVersion) continue;
      const r = rows.at(i);
      r.dv = dataVersion;
      node.setData(r);
    }
  }

  // No blank area under a short result: up to AUTO_HEIGHT_ROWS rows the grid is as tall as
  // its rows; beyond, a fixed height with virtual scrolling.
  let gridHeight = -1;
  function fitHeight() {
    const s = current !== null ? sinks.get(current) : null;
    const n = s ? s.length : 0;
    const small = n <= AUTO_HEIGHT_ROWS;
    // room for the horizontal scrollbar when the columns are wider than the grid
    const cols = grid.getAllDisplayedColumns ? grid.getAllDisplayedColumns() : [];
    const wide = cols.reduce((a, c) => a + c.getActualWidth(), 0) > gridEl.clientWidth;
    const px = small ? HEADER_H + Math.max(n, 1) * ROW_H + 2 + (wide ? SCROLLBAR_H : 0) : GRID_HEIGHT;
    if (px === gridHeight) return;
    gridHeight = px;
    gridEl.style.height = px + "px";
  }

  // --- applying deltas (once per frame)
  const timings = { handler: 0, draw: 0 }; // longest of each, ms (benchmarks and tests read them)
  function applyQueued() {
    const t0 = performance.now();
    try {
      applyQueuedNow();
    } finally {
      timings.draw = Math.max(timings.draw, performance.now() - t0);
    }
  }
  function applyQueuedNow() {
    frame = 0;
    const items = queue;
    queue = [];
    let touchedCurrent = false;
    let resetCurrent = false;
    const flash = [];
    for (const item of items) {
      if (item.reset) {
        for (const s of sinks.values()) s.clear();
        resetCurrent = true;
      }
      for (const [name, p] of item.payloads) {
        const s = sink(p.meta.sink || name);
        const updated = s.apply(p);
        if (s.name !== current) continue;
        touchedCurrent = true;
        const now = Date.now();
        for (const r of updated) {
          r.u = now;
          flash.push(r.rid);
        }
      }
    }
    const s = current !== null ? sinks.get(current) : null;
    if (s && (touchedCurrent || resetCurrent)) {
      setColumns(false);
      setRows(resetCurrent);
      if (flash.length) {
        // updated rows are highlighted briefly (a row class with a fading background)
        grid.redrawRows();
        setTimeout(() => {
          if (!destroyed) grid.redrawRows();
        }, FLASH_MS + 50);
      }
    }
    computeRunStarts();
    drawInfo();
    if (pendingAck) {
      model.send({ type: "ack", seq: pendingAck });
      pendingAck = 0;
    }
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(applyQueued);
  }

  function drawInfo() {
    const paused = model.get("paused");
    pause.textContent = paused ? "Resume" : "Pause";
    order.textContent = model.get("newest_first") ? "newest first" : "newest last";
    order.title = "order of arrival (click to flip); click a column header to sort by it";
    status.textContent = paused ? "paused" : model.get("status") || "";
    // nothing streams while the pipeline is stopped or over: Pause has nothing to pause
    const over = !paused && /stopped|ended|failed|deleted|finished|no more rows/.test(status.textContent);
    status.classList.toggle("arroyo-status-stopped", over);
    pause.disabled = over;
    const cur = current !== null ? sinks.get(current) : null;
    order.style.display = cur && cur.mode === "changelog" ? "none" : ""; // changelog rows are in key order
    zone.value = model.get("time_zone") === "local" ? "local" : "UTC";
    const st = current !== null ? stats[current] : null;
    const s = current !== null ? sinks.get(current) : null;
    if (!st || !s) {
      info.textContent = sinks.size ? "" : "no rows yet";
      return;
    }
    const shown = s.length;
    const rate = `${fmtRate(st.rate)} rows/s`;
    if (s.mode === "changelog") {
      const ops = st.ops || {};
      info.textContent =
        `${fmtNum(st.accounted ?? st.total)} changes received · ${rate} · ` +
        `${fmtNum(ops.c || 0)} inserts, ${fmtNum(ops.u || 0)} updates, ${fmtNum(ops.d || 0)} deletes · ` +
        `${fmtNum(shown)} rows in the result, in key order`;
    } else {
      // received = shown + skipped: "received" is what the kernel had accounted for when it
      // sent the rows this view holds (sent, or coalesced away), so the three add up.
      const received = Math.max(st.accounted ?? st.total, shown);
      let text = `${fmtNum(received)} ${received === 1 ? "row" : "rows"} received · ${rate}`;
      if (received > shown) text += ` · showing latest ${fmtNum(shown)} of ${fmtNum(received)}, skipped ${fmtNum(received - shown)}`;
      info.textContent = text;
    }
    if (st.lost > 0) info.textContent += ` · ${fmtNum(st.lost)} rows dropped by the server`;
    if (paused && st.total > (st.accounted ?? 0)) info.textContent += ` · ${fmtNum(st.total - st.accounted)} more since pausing`;
  }

  function onMsg(msg, buffers) {
    if (!msg || (msg.type !== "delta" && msg.type !== "reset")) return;
    const t0 = performance.now();
    try {
      take(msg, buffers);
    } finally {
      timings.handler = Math.max(timings.handler, performance.now() - t0);
    }
  }
  function take(msg, buffers) {
    if (msg.type === "delta" && msg.seq <= lastSeq) return; // already in a reset
    const payloads = (buffers || []).map((b, i) => [(msg.sinks || [])[i], decodePayload(b)]);
    queue.push({ reset: msg.type === "reset", payloads });
    lastSeq = Math.max(lastSeq, msg.seq || 0);
    if (msg.stats) stats = msg.stats;
    if (msg.type === "delta") pendingAck = Math.max(pendingAck, msg.seq);
    schedule();
  }

  // A reloaded page or late view: draw the saved snapshot, then ask for the latest rows.
  const snap = model.get("snapshot") || [];
  if (snap.length) {
    try {
      queue.push({ reset: true, payloads: snap.map((b) => [null, decodePayload(b)]) });
      lastSeq = model.get("snapshot_seq") || 0;
    } catch (e) {
      queue = []; // an unreadable snapshot only means an empty start
    }
  }
  const onStats = () => {
    stats = model.get("stats") || {};
    schedule();
  };
  const onOrder = () => {
    setRows(true);
    drawInfo();
  };
  const onZone = () => {
    fmtTime = timeFormatter(model.get("time_zone"));
    grid.refreshCells({ force: true });
    computeRunStarts();
    drawInfo();
    drawDetail();
  };
  const onRuns = () => {
    computeRunStarts();
    grid.redrawRows();
  };
  model.on("msg:custom", onMsg);
  model.on("change:stats", onStats);
  model.on("change:status", schedule);
  model.on("change:paused", schedule);
  model.on("change:newest_first", onOrder);
  model.on("change:time_zone", onZone);
  model.on("change:runs", onRuns);
  model.send({ type: "hello" });
  fitHeight();
  schedule();

  // for tests and benchmarks: the grid API and this view's rows
  root.__arroyo = { grid, sinks, current: () => current, timings };

  return () => {
    if (frame) cancelAnimationFrame(frame);
    model.off("msg:custom", onMsg);
    model.off("change:stats", onStats);
    model.off("change:status", schedule);
    model.off("change:paused", schedule);
    model.off("change:newest_first", onOrder);
    model.off("change:time_zone", onZone);
    model.off("change:runs", onRuns);
    offError();
    destroyed = true;
    grid.destroy();
  };
}

// (the small loader in widgets/js/output_table.js announces the view and calls this)
export default { render };
