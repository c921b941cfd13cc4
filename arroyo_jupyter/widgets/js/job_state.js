import { h, button, fmtTime, fmtUptime, errorBox, isDisconnected } from "./common.js";

// Job state header: one state badge, the console's action buttons (from the shared table,
// computed in the kernel), a stop-mode menu, confirmation before stopping or dropping
// state, details, and the history of states the server reports.

const TRANSITIONAL = new Set([
  "Created", "Compiling", "Scheduling", "Rescaling", "CheckpointStopping", "Recovering",
  "Restarting", "Stopping", "Finishing", "Failing",
]);
const DEFAULT_MODE = "checkpoint";

function render({ model, el }) {
  const root = h("div", "arroyo-widget arroyo-job-state");
  el.appendChild(root);
  const head = h("div", "arroyo-toolbar");
  const name = h("span", "arroyo-title");
  const badge = h("span", "arroyo-state");
  const spinner = h("span", "arroyo-spinner");
  const buttons = h("span", "arroyo-buttons");
  const modeSel = h("select", "arroyo-select arroyo-stop-mode");
  modeSel.title = "how Stop stops the job";
  modeSel.setAttribute("aria-label", "stop mode");
  const confirmBar = h("div", "arroyo-confirm");
  const details = h("div", "arroyo-info");
  const gone = h("div", "arroyo-gone");
  const failure = h("div", "arroyo-failure");
  const history = h("details", "arroyo-history");
  const historySummary = h("summary", null, "history");
  const timeline = h("div", "arroyo-timeline");
  history.append(historySummary, timeline);
  head.append(name, badge, spinner, buttons, modeSel);
  root.append(head, confirmBar, details, gone, failure);
  const offError = errorBox(model, root);
  root.append(history);

  let confirming = null;
  let lastRun = (model.get("job") || {}).run_id;

  function resetMode() {
    if (modeSel.querySelector(`option[value="${DEFAULT_MODE}"]`)) modeSel.value = DEFAULT_MODE;
  }

  function send(b, mode) {
    model.send({ type: "action", method: b.method, mode: mode || null, ignore_state: !!b.ignore_state, confirmed: true });
    confirming = null;
    if (b.method === "stop") resetMode(); // the next Stop starts from the safe default again
    draw();
  }

  function needsConfirm(b) {
    return model.get("confirm_stop") && (b.method === "stop" || b.ignore_state);
  }

  function click(b) {
    const mode = b.method === "stop" ? modeSel.value || b.mode : null;
    if (needsConfirm(b)) {
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
    const who = model.get("pipeline_name");
    const question =
      b.method === "stop"
        ? `Stop ${who} (${mode})? `
        : `${b.label} for ${who}? Its saved state is dropped and the job starts from scratch. `;
    confirmBar.append(
      h("span", null, question),
      button("Confirm", "arroyo-confirm-yes", () => send(b, mode)),
      button("Cancel", "arroyo-confirm-no", () => {
        confirming = null;
        draw();
      }),
    );
  }

  function stateOf(job) {
    return model.get("gone") ? "Deleted" : job.state || "…";
  }

  function uptime(job) {
    if (!job.start_time) return "uptime -";
    if (job.finish_time) return "ran " + fmtUptime(job.finish_time - job.start_time);
    if (job.state !== "Running") return "uptime -";
    return "uptime " + fmtUptime(Date.now() * 1000 - job.start_time);
  }

  // Only the details line ticks (uptime): rebuilding the buttons every second could swallow a click.
  function drawDetails() {
    const job = model.get("job") || {};
    const busy = model.get("busy");
    const asOf = model.get("as_of");
    if (model.get("gone")) {
      details.textContent = `job ${job.id || "-"} · run ${job.run_id ?? "-"} · no longer on the server`;
      return;
    }
    details.textContent =
      `job ${job.id || "-"} · run ${job.run_id ?? "-"} · ${uptime(job)} · tasks ${job.tasks ?? "n/a"}` +
      ` · parallelism ${model.get("parallelism") || "-"}` + (model.get("preview") ? " · preview" : "") +
      (asOf ? ` · as of ${fmtTime(asOf * 1000).slice(11, 19)} UTC` : "") +
      (busy ? ` · ${busy}…` : "");
  }

  function drawHistory() {
    const chips = model.get("timeline") || [];
    timeline.textContent = "";
    const sampled = model.get("timeline_source") === "polls";
    historySummary.textContent =
      `history: ${chips.length} state${chips.length === 1 ? "" : "s"}` + (sampled ? " (as polled)" : "");
    history.style.display = chips.length ? "" : "none";
    let run = null;
    for (const s of chips) {
      if (s.run_id !== undefined && s.run_id !== null && run !== null && s.run_id !== run) {
        timeline.appendChild(h("span", "arroyo-run-mark", `run ${s.run_id}`));
      }
      run = s.run_id ?? run;
      const chip = h("span", "arroyo-chip arroyo-state-" + s.state);
      chip.append(h("span", "arroyo-chip-state", s.state), h("span", "arroyo-chip-time", fmtTime(s.time * 1000).slice(11, 19)));
      chip.title = `${s.state} at ${fmtTime(s.time * 1000)} UTC` + (s.sampled ? " (seen by a poll)" : "");
      timeline.appendChild(chip);
    }
  }

  function draw() {
    const job = model.get("job") || {};
    const busy = model.get("busy");
    const deleted = !!model.get("gone");
    const state = stateOf(job);
    if (job.run_id !== lastRun) {
      lastRun = job.run_id;
      resetMode(); // a new run (restart, start): the menu does not keep "force"
    }
    name.textContent = model.get("pipeline_name") || model.get("pipeline_id");
    badge.textContent = state;
    badge.className = "arroyo-state arroyo-state-" + state;
    buttons.textContent = "";
    let anyStop = false;
    for (const b of deleted ? [] : model.get("buttons") || []) {
      const btn = button(b.label, "arroyo-action", () => click(b));
      btn.dataset.method = b.method || "";
      btn.disabled = !b.enabled || !!busy;
      if (b.ignore_state) btn.classList.add("arroyo-btn-secondary");
      buttons.appendChild(btn);
      if (b.method === "stop" && b.enabled) anyStop = true;
    }
    if (modeSel.options.length === 0) {
      for (const m of model.get("stop_modes") || []) {
        const o = h("option", null, m);
        o.value = m;
        modeSel.appendChild(o);
      }
      resetMode();
    }
    modeSel.style.display = anyStop ? "" : "none";
    modeSel.disabled = !!busy;
    spinner.style.display = !deleted && (busy || TRANSITIONAL.has(state)) ? "" : "none";
    spinner.title = busy ? busy + "…" : state;
    root.classList.toggle("arroyo-is-gone", deleted);
    gone.textContent = deleted
      ? `${model.get("pipeline_name") || "This pipeline"} was deleted: nothing here is live any more.`
      : "";
    gone.style.display = deleted ? "" : "none";
    if (deleted) confirming = null;
    drawDetails();
    failure.textContent = job.failure ? `Failure (${job.failure_domain || "internal"}): ${job.failure}` : "";
    failure.style.display = job.failure ? "" : "none";
    drawHistory();
    drawConfirm();
  }

  const keys = ["job", "buttons", "busy", "timeline", "timeline_source", "pipeline_name", "parallelism", "gone", "as_of"];
  for (const k of keys) model.on("change:" + k, draw);
  // The uptime ticks only while the job runs and the view is connected and current.
  const ticker = setInterval(() => {
    if (!isDisconnected(root) && !model.get("as_of") && !model.get("gone")) drawDetails();
  }, 1000);
  draw();
  return () => {
    for (const k of keys) model.off("change:" + k, draw);
    clearInterval(ticker);
    offError();
  };
}

render.handlesGone = true; // the header shows "Deleted" itself

export default { render };
