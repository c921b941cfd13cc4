import { h, button, fmtNumber, drawFigure, purgeFigure, errorBox } from "./common.js";

// Metrics: per operator events in/out per second and a backpressure badge, plus the
// 5-minute charts built in the kernel.

function render({ model, el }) {
  const root = h("div", "arroyo-widget arroyo-metrics");
  el.appendChild(root);
  const bar = h("div", "arroyo-toolbar");
  const title = h("span", "arroyo-title");
  bar.append(title, button("Refresh", "arroyo-refresh", () => model.send({ type: "refresh" })));
  const table = h("table", "arroyo-table");
  const plot = h("div", "arroyo-plot");
  root.append(bar);
  const offError = errorBox(model, root);
  root.append(table, plot);

  function draw() {
    title.textContent = "Metrics of " + (model.get("pipeline_name") || "pipeline");
    table.textContent = "";
    const head = h("tr");
    for (const c of ["node", "operator", "events in/s", "events out/s", "backpressure"]) head.appendChild(h("th", null, c));
    table.appendChild(head);
    for (const r of model.get("operators") || []) {
      const tr = h("tr");
      tr.append(h("td", null, r.node_id), h("td", null, r.operator), h("td", null, fmtNumber(r.recv)), h("td", null, fmtNumber(r.sent)));
      const td = h("td");
      const badge = h("span", "arroyo-bp arroyo-bp-" + (r.level || "none"), r.level || "n/a");
      if (r.backpressure !== null && r.backpressure !== undefined) badge.title = String(r.backpressure);
      td.appendChild(badge);
      tr.appendChild(td);
      table.appendChild(tr);
    }
  }
  const onFig = () => drawFigure(model, plot, model.get("figure_json"));
  model.on("change:operators", draw);
  model.on("change:figure_json", onFig);
  draw();
  onFig();
  return () => {
    model.off("change:operators", draw);
    model.off("change:figure_json", onFig);
    purgeFigure(plot);
    offError();
  };
}

export default { render };
