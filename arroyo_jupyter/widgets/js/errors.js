import { h, button, fmtTime, errorBox } from "./common.js";

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

export default { render };
