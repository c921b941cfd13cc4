import { h, button, fmtTime, drawFigure, purgeFigure, errorBox, loadPlotly } from "./common.js";

// Checkpoints: epoch selector (or follow the latest), stats box, tuning hint, and the
// history (durations on their own scale, sizes below, the shown epoch ringed) / timeline /
// bytes figures built in the kernel by charts.py.

function render({ model, el }) {
  const root = h("div", "arroyo-widget arroyo-checkpoints");
  el.appendChild(root);
  const bar = h("div", "arroyo-toolbar");
  const title = h("span", "arroyo-title");
  const select = h("select", "arroyo-epoch");
  select.addEventListener("change", () => {
    model.set("selected_epoch", Number(select.value));
    model.save_changes();
  });
  const refresh = button("Refresh", "arroyo-refresh", () => model.send({ type: "refresh" }));
  bar.append(title, select, refresh);
  const summary = h("div", "arroyo-info arroyo-summary");
  const hint = h("div", "arroyo-hint");
  const history = h("div", "arroyo-plot arroyo-plot-history");
  const timeline = h("div", "arroyo-plot arroyo-plot-timeline");
  const bytes = h("div", "arroyo-plot arroyo-plot-bytes");
  root.append(bar, summary, hint);
  const offError = errorBox(model, root);
  root.append(history, timeline, bytes);

  function drawControls() {
    title.textContent = "Checkpoints of " + (model.get("pipeline_name") || "pipeline");
    select.textContent = "";
    const follow = h("option", null, "latest (follow)");
    follow.value = "0";
    select.appendChild(follow);
    for (const e of model.get("epochs") || []) {
      const o = h("option", null, `epoch ${e.epoch} · ${fmtTime(e.start_time)}` + (e.finish_time ? "" : " (in progress)"));
      o.value = String(e.epoch);
      select.appendChild(o);
    }
    select.value = String(model.get("selected_epoch") || 0);
    const s = model.get("summary") || {};
    summary.textContent = s.epoch
      ? `epoch ${s.epoch} · started ${fmtTime(s.start_time)} · finished ${s.finish_time ? fmtTime(s.finish_time) : "-"}` +
        ` · duration ${s.duration} · total size ${s.size} · ${s.operators} operators` + (s.type ? ` · ${s.type}` : "")
      : "No checkpoints yet.";
    hint.textContent = model.get("hint") || "";
    hint.style.display = model.get("hint") ? "" : "none";
  }
  const figs = { history_json: history, timeline_json: timeline, bytes_json: bytes };
  const onFig = {};
  for (const [k, div] of Object.entries(figs)) {
    onFig[k] = () => drawFigure(model, div, model.get(k));
    model.on("change:" + k, onFig[k]);
    onFig[k]();
  }
  // Clicking a point of the history shows that epoch (an outlier's timeline is one click away).
  // drawFigure's Plotly.react runs first on the same promise, so the div has .on by then.
  const select_epoch = (ev) => {
    const epoch = Number(ev && ev.points && ev.points[0] && ev.points[0].customdata && ev.points[0].customdata[0]);
    if (!epoch) return;
    model.set("selected_epoch", epoch);
    model.save_changes();
  };
  const onHistory = () => {
    if (!model.get("history_json")) return;
    loadPlotly(model).then(() => {
      if (history.on && !history.__arroyoClick) {
        history.__arroyoClick = true;
        history.on("plotly_click", select_epoch);
      }
    }, () => {});
  };
  model.on("change:history_json", onHistory);
  onHistory();
  const keys = ["epochs", "selected_epoch", "summary", "hint", "pipeline_name"];
  for (const k of keys) model.on("change:" + k, drawControls);
  drawControls();
  return () => {
    for (const k of keys) model.off("change:" + k, drawControls);
    model.off("change:history_json", onHistory);
    for (const [k, div] of Object.entries(figs)) {
      model.off("change:" + k, onFig[k]);
      purgeFigure(div);
    }
    offError();
  };
}

export default { render };
