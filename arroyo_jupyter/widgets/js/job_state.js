import { h, button, fmtTime, fmtDuration, errorBox } from "./common.js";

// Job state header: state badge, the console's action buttons (from the shared table,
// computed in the kernel), a stop-mode menu, confirmation before stopping, details and
// the timeline of states seen.

const TRANSITIONAL = new Set([
  "Created", "Compiling", "Scheduling", "Rescaling", "CheckpointStopping", "Recovering",
  "Restarting", "Stopping", "Finishing", "Failing",
]);

function render({ model, el }) {
  const root = h("div", "arroyo-widget arroyo-job-state");
  el.appendChild(root);
  const head = h("div", "arroyo-toolbar");
  const name = h("span", "arroyo-title");
  const badge = h("span", "arroyo-state");
  const spinner = h("span", "arroyo-spinner");
  const buttons = h("span", "arroyo-buttons");
  const modeSel = h("select", "arroyo-stop-mode");
  modeSel.title = "stop mode";
  const confirmBar = h("div", "arroyo-confirm");
  const details = h("div", "arroyo-info");
  const failure = h("div", "arroyo-failure");
  const timeline = h("div", "arroyo-timeline");
  head.append(name, badge, spinner, buttons, modeSel);
  root.append(head, confirmBar, details, failure);
  const offError = errorBox(model, root);
  root.append(timeline);

  let confirming = null;

  function send(b, mode) {
    model.send({ type: "action", method: b.method, mode: mode || null, ignore_state: !!b.ignore_state, confirmed: true });
    confirming = null;
    draw();
  }

  function click(b) {
    const mode = b.method === "stop" ? modeSel.value || b.mode : null;
    if (b.method === "stop" && model.get("confirm_stop")) {
      confirming = { b, mode };
      draw();
      return;
    }
    send(b, mode);
  }

  function drawConfirm() {
    confirmBar.textContent = "";
    confirmBar.style.display = confirming ? "" : "none";
    if (!confirming) return;
    const { b, mode } = confirming;
    confirmBar.append(
      h("span", null, `Stop ${model.get("pipeline_name")} (${mode})? `),
      button("Confirm", "arroyo-confirm-yes", () => send(b, mode)),
      button("Cancel", "arroyo-confirm-no", () => {
        confirming = null;
        draw();
      }),
    );
  }

  function uptime(job) {
    if (!job.start_time) return "-";
    const end = job.finish_time || Date.now() * 1000;
    return fmtDuration(end - job.start_time);
  }

  // Only the details line ticks (uptime): rebuilding the buttons every second could swallow a click.
  function drawDetails() {
    const job = model.get("job") || {};
    const busy = model.get("busy");
    details.textContent =
      `job ${job.id || "-"} · run ${job.run_id ?? "-"} · uptime ${uptime(job)} · tasks ${job.tasks ?? "n/a"}` +
      ` · parallelism ${model.get("parallelism") || "-"}` + (model.get("preview") ? " · preview" : "") +
      (busy ? ` · ${busy}…` : "");
  }

  function draw() {
    const job = model.get("job") || {};
    const busy = model.get("busy");
    const state = job.state || "…";
    name.textContent = model.get("pipeline_name") || model.get("pipeline_id");
    badge.textContent = state;
    badge.className = "arroyo-state arroyo-state-" + state;
    buttons.textContent = "";
    let anyStop = false;
    for (const b of model.get("buttons") || []) {
      const btn = button(b.label, "arroyo-action", () => click(b));
      btn.dataset.method = b.method || "";
      btn.disabled = !b.enabled || !!busy;
      if (b.in_progress) btn.prepend(h("span", "arroyo-spinner arroyo-spinner-inline"));
      buttons.appendChild(btn);
      if (b.method === "stop" && b.enabled) anyStop = true;
    }
    if (modeSel.options.length === 0) {
      for (const m of model.get("stop_modes") || []) {
        const o = h("option", null, m);
        o.value = m;
        modeSel.appendChild(o);
      }
    }
    modeSel.style.display = anyStop ? "" : "none";
    spinner.style.display = busy || TRANSITIONAL.has(state) ? "" : "none";
    spinner.title = busy ? busy + "…" : state;
    drawDetails();
    failure.textContent = job.failure ? `Failure (${job.failure_domain || "internal"}): ${job.failure}` : "";
    failure.style.display = job.failure ? "" : "none";
    timeline.textContent = "";
    for (const s of model.get("timeline") || []) {
      const chip = h("span", "arroyo-chip arroyo-state-" + s.state, s.state);
      chip.title = fmtTime(s.time * 1000);
      timeline.appendChild(chip);
    }
    drawConfirm();
  }

  const keys = ["job", "buttons", "busy", "timeline", "pipeline_name", "parallelism"];
  for (const k of keys) model.on("change:" + k, draw);
  const ticker = setInterval(drawDetails, 1000); // uptime
  let observer = null;
  if (typeof IntersectionObserver !== "undefined") {
    observer = new IntersectionObserver((entries) => {
      for (const e of entries) model.send({ type: "visible", visible: e.isIntersecting });
    });
    observer.observe(root);
  }
  draw();
  return () => {
    for (const k of keys) model.off("change:" + k, draw);
    clearInterval(ticker);
    if (observer) observer.disconnect();
    offError();
  };
}

export default { render };
