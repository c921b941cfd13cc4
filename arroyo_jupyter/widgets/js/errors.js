import { h, button, fmtTime, errorBox } from "./common.js";

// The job's error log, a page at a time; pages are fetched by the kernel on request.
// Grouping (operator + message with numbers and ids masked) is done in the kernel by
// frames.error_groups_frame, the same function notebooks use.

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
  // A page size outside SIZES (set from Python) gets one extra option, replaced when it
  // changes: never a new copy on every redraw.
  let extra = null;
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

  function pageLabel() {
    const index = model.get("page_index") + 1;
    const total = model.get("total");
    const loading = model.get("loading") ? " (loading…)" : "";
    if (total === 0 && index === 1) return "no errors" + loading;
    if (total === undefined || total === null || total < 0) return `page ${index}` + loading;
    const plus = model.get("total_capped") ? "+" : "";
    const pages = Math.max(1, Math.ceil(total / model.get("page_size")));
    const noun = total === 1 ? "error" : "errors";
    return `page ${index} of ${pages}${plus} · ${total.toLocaleString("en-US")}${plus} ${noun}` + loading;
  }

  function drawSize() {
    const current = model.get("page_size");
    if (SIZES.includes(current)) {
      if (extra) extra.remove();
      extra = null;
    } else if (!extra || extra.value !== String(current)) {
      if (extra) extra.remove();
      extra = h("option", null, current + " / page");
      extra.value = String(current);
      size.appendChild(extra);
    }
    size.value = String(current);
  }

  function draw() {
    const page = model.get("page") || [];
    title.textContent = "Errors of " + (model.get("pipeline_name") || "pipeline");
    label.textContent = pageLabel();
    prev.disabled = model.get("page_index") === 0;
    next.disabled = !model.get("has_more");
    drawSize();
    table.textContent = "";
    const head = h("tr");
    cells(head, ["time", "operator", "task", "level", "message", "details"], "th");
    table.appendChild(head);
    if (!page.length) {
      const tr = h("tr");
      const td = h("td", "arroyo-empty", model.get("page_index") === 0 ? "No errors." : "No errors on this page.");
      td.colSpan = 6;
      tr.appendChild(td);
      table.appendChild(tr);
    }
    for (const m of page) {
      const tr = h("tr", "arroyo-level-" + m.level);
      cells(tr, [fmtTime(m.created_at), m.operator_id ?? "(job)", m.task_index ?? "", m.level, m.message, m.details], "td");
      tr.children[0].className = "arroyo-nowrap";
      table.appendChild(tr);
    }
    groups.textContent = "";
    const g = model.get("groups") || [];
    if (g.length) {
      groups.appendChild(
        h(
          "div",
          "arroyo-subtitle",
          `${g.length} ${g.length === 1 ? "kind" : "kinds"} of error in ${model.get("grouped_over")} messages` +
            " (numbers and ids masked as N and <id>)",
        ),
      );
      const gt = h("table", "arroyo-table");
      const gh = h("tr");
      cells(gh, ["operator", "message", "count", "first seen", "last seen", "latest example"], "th");
      gt.appendChild(gh);
      for (const r of g) {
        const tr = h("tr");
        cells(tr, [r.operator_id ?? "(job)", r.pattern, r.count, fmtIso(r.first_seen), fmtIso(r.last_seen), r.example], "td");
        tr.children[2].className = "arroyo-num";
        tr.children[3].className = tr.children[4].className = "arroyo-nowrap";
        gt.appendChild(tr);
      }
      groups.appendChild(gt);
    }
  }
  const keys = ["page", "page_index", "has_more", "loading", "groups", "page_size", "total", "total_capped"];
  for (const k of keys) model.on("change:" + k, draw);
  draw();
  return () => {
    for (const k of keys) model.off("change:" + k, draw);
    offError();
  };
}

// "2025-08-01T12:00:00.123000+00:00" → "2025-08-01 12:00:00.123" (UTC, as fmtTime shows)
function fmtIso(s) {
  if (!s) return "-";
  const d = new Date(s);
  return isNaN(d.getTime()) ? String(s) : d.toISOString().replace("T", " ").replace("Z", "");
}

export default { render };
