import { h, button, fmtNumber, drawFigure, purgeFigure, errorBox } from "./common.js";

// Metrics: a table of each operator's latest events in/out per second and backpressure,
// the charts of the same numbers over the window (built in the kernel from the same rows,
// so the table is the last point of each line), and the pipeline graph.

function render({ model, el }) {
  const root = h("div", "arroyo-widget arroyo-metrics");
  el.appendChild(root);
  const bar = h("div", "arroyo-toolbar");
  const title = h("span", "arroyo-title");
  const perSubtask = h("input", "arroyo-per-subtask");
  perSubtask.type = "checkbox";
  perSubtask.addEventListener("change", () => {
    model.set("per_subtask", perSubtask.checked);
    model.save_changes();
  });
  const perLabel = h("label", "arroyo-check");
  perLabel.append(perSubtask, document.createTextNode(" per subtask"));
  bar.append(title, perLabel, button("Refresh", "arroyo-refresh", () => model.send({ type: "refresh" })));
  const caption = h("div", "arroyo-info arroyo-metrics-caption");
  const table = h("table", "arroyo-table arroyo-metrics-table");
  const plot = h("div", "arroyo-plot arroyo-plot-metrics");
  const graph = h("div", "arroyo-plot arroyo-plot-graph");
  root.append(bar);
  const offError = errorBox(model, root);
  root.append(caption, table, graph, plot);

  function draw() {
    title.textContent = "Metrics of " + (model.get("pipeline_name") || "pipeline");
    perSubtask.checked = !!model.get("per_subtask");
    const minutes = Math.round((model.get("window_s") || 300) / 60);
    caption.textContent =
      `Latest values (subtasks summed; backpressure: worst subtask) — the last point of the charts below, which show the last ${minutes} min.`;
    table.textContent = "";
    const head = h("tr");
    for (const c of ["node", "operator", "parallelism", "events in/s", "events out/s", "backpressure"]) {
      head.appendChild(h("th", ["events in/s", "events out/s", "parallelism"].includes(c) ? "arroyo-num" : null, c));
    }
    table.appendChild(head);
    const rows = model.get("operators") || [];
    if (!rows.length) {
      const tr = h("tr");
      const td = h("td", "arroyo-empty", "No metrics yet (the server samples every 2 s once the job runs).");
      td.colSpan = 6;
      tr.appendChild(td);
      table.appendChild(tr);
    }
    for (const r of rows) {
      const tr = h("tr");
      const name = h("td");
      const swatch = h("span", "arroyo-swatch", "■");
      swatch.style.color = r.colour || "";
      name.append(swatch, document.createTextNode(" " + r.operator));
      tr.append(
        h("td", null, r.node_id),
        name,
        h("td", "arroyo-num", r.parallelism ?? "-"),
        h("td", "arroyo-num", fmtNumber(r.recv)),
        h("td", "arroyo-num", fmtNumber(r.sent)),
      );
      const td = h("td");
      const badge = h("span", "arroyo-bp arroyo-bp-" + (r.level || "none"), r.level || "n/a");
      if (r.backpressure !== null && r.backpressure !== undefined) badge.title = r.backpressure.toFixed(3);
      td.appendChild(badge);
      tr.appendChild(td);
      table.appendChild(tr);
    }
  }
  const onFig = () => drawFigure(model, plot, model.get("figure_json"));
  const onGraph = () => drawFigure(model, graph, model.get("graph_json"));
  const keys = ["operators", "per_subtask", "window_s", "pipeline_name"];
  for (const k of keys) model.on("change:" + k, draw);
  model.on("change:figure_json", onFig);
  model.on("change:graph_json", onGraph);
  draw();
  onFig();
  onGraph();
  return () => {
    for (const k of keys) model.off("change:" + k, draw);
    model.off("change:figure_json", onFig);
    model.off("change:graph_json", onGraph);
    purgeFigure(plot);
    purgeFigure(graph);
    offError();
  };
}

export default { render };
