"""The job controller: Arroyo's state machine (API.md §6), one machine per job.

The API only writes desired config (``stop``, ``restart_nonce``, parallelism override,
…) to the store and calls :meth:`Controller.notify`; each job's machine thread reacts at
once (and re-checks every 0.5 s), drives the engine's runner, and records the state.
Engine callbacks (checkpoints, errors, output, end of run) arrive via :class:`RunListener`.
"""

from __future__ import annotations

import logging
import random
import shutil
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..states import JobState
from .config import ServerConfig
from .ids import now_micros
from .metrics import MetricsWindow
from .output import OutputHub
from .planning import engine_entry, plan
from .store import Store

log = logging.getLogger(__name__)
S = JobState
POLL_S = 0.5
PREVIEW_CHECKPOINT_INTERVAL_MICROS = 86_400_000_000
# States that end a run: named by the output stream's ``run_end`` event.
ENDING_STATES = frozenset(
    {
        S.STOPPING,
        S.CHECKPOINT_STOPPING,
        S.RESTARTING,
        S.RESCALING,
        S.FINISHING,
        S.FAILING,
        S.RECOVERING,
        S.STOPPED,
        S.FINISHED,
        S.FAILED,
    }
)
_OUTCOME_STATE = {"finished": S.FINISHING, "failed": S.FAILING, "stopped": S.STOPPING}
# Controller-restart recovery (StateMachine::start): where a job resumes after a restart.
RECOVERY = {
    S.COMPILING: S.COMPILING,
    S.SCHEDULING: S.COMPILING,
    S.RUNNING: S.COMPILING,
    S.RECOVERING: S.COMPILING,
    S.RESCALING: S.COMPILING,
    S.RESTARTING: S.COMPILING,
    S.STOPPING: S.STOPPED,
    S.CHECKPOINT_STOPPING: S.STOPPED,
    S.FINISHING: S.FINISHED,
    S.FAILING: S.FAILED,
}


class RunListener:
    """The engine's ``JobListener`` for one run of a job; stale runs are ignored."""

    def __init__(self, machine: JobMachine, run_id: int):
        self._m = machine
        self._run_id = run_id

    def _current(self) -> bool:
        return self._m.run_id == self._run_id

    def on_output(
        self, operator_id: str, subtask_idx: int, rows: Any, timestamps: list[int], start_id: int
    ) -> None:
        if self._current():
            self._m.hub.publish(operator_id, subtask_idx, rows, timestamps, start_id)

    def on_sink_closed(self, operator_id: str, subtask_idx: int) -> None:
        # While Running the engine's outcome (finished / stopped / failed) follows and says
        # why the run ended; otherwise the controller asked for it and knows why.
        if self._current() and self._m.state in ENDING_STATES:
            self._m.close_output()

    def on_checkpoint(self, report: Any) -> None:
        self._m.store.upsert_checkpoint(
            self._m.job_id,
            {
                "epoch": report.epoch,
                "stopping": int(report.stopping),
                "start_time": report.start_time,
                "finish_time": report.finish_time,
                "events": [asdict(e) for e in report.events],
                "operators": [asdict(o) for o in report.operators],
            },
        )
        if report.finish_time is not None:
            self._m.wake()

    def on_error(
        self, operator_id: str, subtask_idx: int, message: str, details: str, retryable: bool
    ) -> None:
        self._m.store.add_log_message(
            self._m.job_id,
            operator_id=operator_id,
            task_index=subtask_idx,
            level="error",
            message=message,
            details=details,
            error_domain="user",
        )
        if self._current():
            self._m.last_error_retryable = retryable

    def on_finished(self) -> None:
        self._end("finished")

    def on_stopped(self) -> None:
        self._end("stopped")

    def on_failed(self, reason: str) -> None:
        self._end("failed", reason)

    def _end(self, outcome: str, reason: str | None = None) -> None:
        if self._current():
            self._m.outcome = outcome
            self._m.failure = reason
            self._m.close_output(outcome)
            self._m.wake()


class JobMachine:
    """One job's state machine; its thread runs while the job has something to do."""

    def __init__(self, controller: Controller, job_id: str, applied_nonce: int):
        self.c = controller
        self.store = controller.store
        self.config = controller.config
        self.job_id = job_id
        job = self.store.get_job(job_id)
        preview = job is not None and job["ttl_micros"] is not None
        self.state: JobState | None = JobState(job["state"]) if job is not None else None
        self.hub = OutputHub(
            self._report_drops,
            max_events=self.config.output_queue_events,
            # a preview keeps its output from the first row, for subscribers that come late
            replay=(self.config.preview_replay_rows, self.config.preview_replay_bytes) if preview else None,
            on_replay_drops=self._report_replay_drops,
        )
        self.metrics = MetricsWindow()
        self.applied_nonce = applied_nonce
        self.run_id = -1
        self.runner: Any = None
        self.program: Any = None
        self.program_parallelism: int | None = None
        self.outcome: str | None = None
        self.failure: str | None = None
        self.last_error_retryable = True
        self.restarts = 0
        self.running_since = 0.0
        self.next_checkpoint = 0.0
        self.phase_deadline = 0.0
        self.backoff_until = 0.0
        self.applied_env: Any = None
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- thread management ---------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def ensure_running(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name=f"arroyo-job-{self.job_id}", daemon=True
                )
                self._thread.start()
        self.wake()

    def join(self, timeout: float) -> None:
        t = self._thread
        if t is not None:
            t.join(timeout)

    def _loop(self) -> None:
        while not self.c.shutting_down.is_set():
            self._wake.clear()
            try:
                job = self.store.get_job(self.job_id)
                if job is None:
                    break  # deleted
                pipeline = self.store.get_pipeline(job["pipeline_id"])
                if pipeline is None:
                    break  # deleted in between
                wait = self.step(job, pipeline)
            except Exception as e:  # a bug must not kill the machine silently
                log.exception("controller error for %s", self.job_id)
                self._set(S.FAILING, failure_message=f"controller error: {e}", failure_domain="internal")
                wait = 0.0
            if wait is None:
                break  # idle in a terminal state; notify() starts a new thread
            self._wake.wait(wait)
        if self.c.shutting_down.is_set():
            self._teardown("immediate")

    # -- helpers -------------------------------------------------------------------------
    def _set(self, state: JobState, **fields: Any) -> None:
        self.store.update_job(self.job_id, state=state.value, **fields)
        self.state = state
        log.debug("job %s -> %s", self.job_id, state.value)
        if state in (S.STOPPED, S.FINISHED, S.FAILED):
            self.close_output()  # also ends subscribers that waited for a run that never came

    def close_output(self, outcome: str | None = None) -> None:
        """End every output stream of this run, naming the state that ended it."""
        state = self.state
        if state not in ENDING_STATES:
            state = _OUTCOME_STATE.get(outcome or "", state)
        self.hub.close_all(state.value if state is not None else None)

    def _parallelism(self, job: dict, pipeline: dict) -> int:
        if pipeline["preview"]:
            return 1
        return int(job["parallelism_override"] or pipeline["parallelism"])

    def _interval_s(self, job: dict, pipeline: dict) -> float:
        micros = (
            PREVIEW_CHECKPOINT_INTERVAL_MICROS
            if pipeline["preview"]
            else pipeline["checkpoint_interval_micros"]
        )
        return micros / 1e6

    def _teardown(self, mode: str) -> None:
        """Stop the current runner (if any) and wait for its threads."""
        runner, self.runner = self.runner, None
        if runner is None:
            return
        try:
            runner.stop(mode)
            if not runner.join(self.config.stop_timeout_s):
                runner.stop("force")
                runner.join(5)
        except Exception:
            log.exception("stopping runner of %s", self.job_id)
        self.close_output()

    def _runner_done(self) -> bool:
        if self.runner is None:
            return True
        return bool(self.runner.join(0.2))  # every engine thread has ended

    def _report_drops(self, rows: int) -> None:
        self.store.add_log_message(
            self.job_id,
            operator_id=None,
            task_index=None,
            level="warn",
            message="output dropped for a slow client",
            details=f"{rows} rows were not sent to an output subscriber whose queue was full",
            error_domain="external",
        )

    def _report_replay_drops(self, rows: int) -> None:
        self.store.add_log_message(
            self.job_id,
            operator_id=None,
            task_index=None,
            level="warn",
            message="preview output not kept in full",
            details=(
                f"{rows} of the oldest rows were dropped from the preview's replay buffer "
                f"(at most {self.config.preview_replay_rows} rows / {self.config.preview_replay_bytes} bytes "
                "are kept); subscribers that connected late did not get them"
            ),
            error_domain="external",
        )

    def sample_metrics(self) -> None:
        runner = self.runner
        if runner is not None:
            try:
                self.metrics.sample(runner.metrics(), now_micros())
            except Exception:
                log.debug("metrics of %s unavailable", self.job_id, exc_info=True)

    def _fail(self, message: str, domain: str) -> None:
        self._set(S.FAILING, failure_message=message, failure_domain=domain)
        self.store.add_log_message(
            self.job_id,
            operator_id=None,
            task_index=None,
            level="error",
            message="job failed",
            details=message,
            error_domain=domain,
        )

    # -- the state machine ----------------------------------------------------------------
    def step(self, job: dict, pipeline: dict) -> float | None:
        """Act on the current state; returns how long to wait, or None when idle."""
        state = JobState(job["state"])
        stop = job["stop"]
        handler = getattr(self, "_on_" + state.name.lower())
        return handler(job, pipeline, stop)

    def _on_created(self, job: dict, pipeline: dict, stop: str) -> float | None:
        if stop != "none":
            return None  # created stopped: waits for Start
        self._set(S.COMPILING)
        return 0.0

    def _plan(self, job: dict, pipeline: dict) -> bool:
        """Plan at the parallelism the job should run at; a PlanError fails the job."""
        from .engine.interface import PlanError

        parallelism = self._parallelism(job, pipeline)
        try:
            self.program = plan(
                self.store,
                pipeline["query"],
                parallelism=parallelism,
                preview=bool(pipeline["preview"]),
                enable_sinks=bool(pipeline["enable_sinks"]),
                udfs=pipeline["udfs"],
            )
        except PlanError as e:
            self._fail(e.arroyo_message(), "user")
            return False
        self.program_parallelism = parallelism
        return True

    def _on_compiling(self, job: dict, pipeline: dict, stop: str) -> float | None:
        if self._plan(job, pipeline):
            self._set(S.SCHEDULING)
        return 0.0

    def _on_scheduling(self, job: dict, pipeline: dict, stop: str) -> float | None:
        start_job = engine_entry("start_job")
        if stop != "none":
            self._set(S.STOPPING)
            return 0.0
        parallelism = self._parallelism(job, pipeline)
        if self.program is None or self.program_parallelism != parallelism:
            if not self._plan(job, pipeline):  # rescaling: the same query at the new parallelism
                return 0.0
        run_id = job["run_id"] + 1
        tasks = sum(int(n["parallelism"]) for n in self.program.graph["nodes"])
        fresh = job["start_time"] is None or job["finish_time"] is not None
        self.outcome, self.failure, self.last_error_retryable = None, None, True
        self.run_id = run_id
        self.metrics = MetricsWindow()  # a new set per scheduling, as in Arroyo
        self.hub.open(run_id)  # before the engine starts: its first batch may come at once
        try:
            self.runner = start_job(
                self.program,
                state_dir=str(self.c.job_state_dir(self.job_id)),
                listener=RunListener(self, run_id),
                checkpoint_interval_s=None,  # the controller triggers checkpoints itself
                restore=True,
                ignore_state_before_epoch=job["ignore_state_before_epoch"],
                batch_size=self.config.batch_size,
            )
        except Exception as e:
            log.exception("starting %s", self.job_id)
            self.store.update_job(self.job_id, run_id=run_id, tasks=tasks)
            self.failure = f"could not start the job: {e}"
            self._set(S.RECOVERING)
            return 0.0
        now = time.monotonic()
        self.running_since = now
        self.next_checkpoint = now + self._interval_s(job, pipeline)
        self.applied_env = (job["env_vars"], job["scheduler_config"])
        fields: dict[str, Any] = {"run_id": run_id, "tasks": tasks, "finish_time": None}
        if fresh:
            fields["start_time"] = now_micros()
        self._set(S.RUNNING, **fields)
        # graph shows the parallelism the job runs at (the console reads it from there)
        if not pipeline["preview"]:
            self.store.update_pipeline(pipeline["id"], graph=self.program.graph)
        return 0.0

    def _on_running(self, job: dict, pipeline: dict, stop: str) -> float | None:
        now = time.monotonic()
        if self.runner is None:  # e.g. a machine re-created while the DB says Running
            self._set(S.COMPILING)
            return 0.0
        if self.outcome == "finished":
            self._set(S.FINISHING)
            return 0.0
        if self.outcome in ("failed", "stopped"):
            return self._runtime_failure(pipeline, self.failure or "the job stopped unexpectedly")
        if stop == "checkpoint":
            self._set(S.CHECKPOINT_STOPPING)
            self.phase_deadline = now + self.config.stop_timeout_s
            self.runner.checkpoint(stop=True)
            return POLL_S
        if stop in ("graceful", "immediate", "force"):
            self._set(S.STOPPING)
            self.phase_deadline = now + self.config.stop_timeout_s
            self.runner.stop(stop)
            return POLL_S
        if pipeline["preview"] and now - self.running_since >= self.config.preview_ttl_s:
            # TTL expiry: an immediate stop that is also the desired state, so the job reads
            # Stopped / running_desired false / action Start (not a "Starting" spinner)
            self._set(S.STOPPING, stop="immediate")
            self.phase_deadline = now + self.config.stop_timeout_s
            self.runner.stop("immediate")
            return POLL_S
        if job["restart_nonce"] != self.applied_nonce or self.applied_env != (
            job["env_vars"],
            job["scheduler_config"],
        ):
            self.applied_nonce = job["restart_nonce"]
            self._begin_restart(job["restart_mode"])
            return POLL_S
        if self._parallelism(job, pipeline) != self.program_parallelism:
            self._set(S.RESCALING)
            self.phase_deadline = now + self.config.stop_timeout_s
            self.runner.checkpoint(stop=True)
            return POLL_S
        if now - self.running_since > self.config.healthy_duration_s:
            self.restarts = 0
        if now >= self.next_checkpoint:
            self.runner.checkpoint(stop=False)
            self.next_checkpoint = now + self._interval_s(job, pipeline)
        waits = [POLL_S, max(0.0, self.next_checkpoint - now)]
        if pipeline["preview"]:
            waits.append(max(0.0, self.running_since + self.config.preview_ttl_s - now))
        return min(waits)

    def _begin_restart(self, mode: str) -> None:
        self._set(S.RESTARTING)
        self.restart_mode = mode
        self.phase_deadline = time.monotonic() + self.config.stop_timeout_s
        if mode == "force":
            self.runner.stop("force")
        else:
            self.runner.checkpoint(stop=True)

    def _runtime_failure(self, pipeline: dict, reason: str) -> float | None:
        self._teardown("force")
        if pipeline["preview"]:
            self._fail("Job encountered a fatal error; see worker logs for details", "user")
        elif not self.last_error_retryable:
            self._fail(reason, "user")
        else:
            self.failure = reason
            self._set(S.RECOVERING)
        return 0.0

    def _wait_for_runner(self, job: dict, pipeline: dict, stop: str, then: JobState) -> float | None:
        """Shared by CheckpointStopping / Stopping / Rescaling / Restarting."""
        now = time.monotonic()
        if self.outcome == "failed":
            return self._runtime_failure(pipeline, self.failure or "the job failed")
        if self._runner_done():
            self.runner = None
            self.close_output()
            if then in (S.STOPPED, S.FINISHED):
                self._set(then, finish_time=now_micros())
                return 0.0
            self._set(then)
            return 0.0
        if now >= self.phase_deadline:
            self.runner.stop("force")
            self.phase_deadline = now + 5
        return POLL_S

    def _on_checkpoint_stopping(self, job: dict, pipeline: dict, stop: str) -> float | None:
        if stop in ("immediate", "force", "graceful") and self.runner is not None:
            self._set(S.STOPPING)
            self.runner.stop(stop)
            return POLL_S
        return self._wait_for_runner(job, pipeline, stop, S.STOPPED)

    def _on_stopping(self, job: dict, pipeline: dict, stop: str) -> float | None:
        return self._wait_for_runner(job, pipeline, stop, S.STOPPED)

    def _on_rescaling(self, job: dict, pipeline: dict, stop: str) -> float | None:
        if stop != "none" and self.runner is not None:
            self._set(S.STOPPING)
            self.runner.stop("force" if stop == "force" else "immediate")
            return POLL_S
        return self._wait_for_runner(job, pipeline, stop, S.SCHEDULING)

    def _on_restarting(self, job: dict, pipeline: dict, stop: str) -> float | None:
        if stop != "none" and self.runner is not None:
            self._set(S.STOPPING)
            self.runner.stop("force" if stop == "force" else "immediate")
            return POLL_S
        if (
            job["restart_mode"] == "force"
            and getattr(self, "restart_mode", "safe") != "force"
            and self.runner
        ):
            self.restart_mode = "force"  # a safe restart still waiting switches to force
            self.runner.stop("force")
        return self._wait_for_runner(job, pipeline, stop, S.SCHEDULING)

    def _on_finishing(self, job: dict, pipeline: dict, stop: str) -> float | None:
        if self.runner is not None and not self.runner.join(0.5):
            return POLL_S
        self.runner = None
        self.close_output()
        self._set(S.FINISHED, finish_time=now_micros())
        return 0.0

    def _on_recovering(self, job: dict, pipeline: dict, stop: str) -> float | None:
        self._teardown("force")
        reason = self.failure or job["failure_message"] or "task failed"
        if pipeline["preview"]:
            self._fail("Job encountered a fatal error; see worker logs for details", "user")
            return 0.0
        if stop != "none":
            self._set(S.STOPPED, finish_time=now_micros())
            return 0.0
        allowed = self.config.allowed_restarts
        if allowed >= 0 and self.restarts >= allowed:
            self._fail(f"Exhausted retries: {reason}", "user")
            return 0.0
        now = time.monotonic()
        if self.backoff_until == 0.0:
            backoff = min(self.config.max_backoff_s, self.config.initial_backoff_s * 2**self.restarts)
            self.backoff_until = now + backoff * random.uniform(0.8, 1.2)
        if now < self.backoff_until:
            return min(POLL_S, self.backoff_until - now)
        self.backoff_until = 0.0
        self.restarts += 1
        self._set(S.COMPILING)
        return 0.0

    def _on_failing(self, job: dict, pipeline: dict, stop: str) -> float | None:
        self._teardown("force")
        self._set(S.FAILED, finish_time=now_micros())
        return 0.0

    def _on_failed(self, job: dict, pipeline: dict, stop: str) -> float | None:
        if job["restart_nonce"] != self.applied_nonce:
            self.applied_nonce = job["restart_nonce"]
            self.restarts = 0
            self._set(S.COMPILING, failure_message=None, failure_domain=None)
            return 0.0
        return None

    def _on_stopped(self, job: dict, pipeline: dict, stop: str) -> float | None:
        if stop == "none" and not pipeline["preview"]:
            # a restart requested while stopped is fulfilled by this start (Arroyo would
            # run an extra Restarting cycle once Running)
            self.applied_nonce = job["restart_nonce"]
            self._set(S.COMPILING)
            return 0.0
        return None

    def _on_finished(self, job: dict, pipeline: dict, stop: str) -> float | None:
        return None


class Controller:
    """Owns every job machine, the metrics sampler and the preview cleaner."""

    def __init__(self, store: Store, state_dir: Path, config: ServerConfig):
        self.store = store
        self.state_dir = state_dir
        self.config = config
        self.shutting_down = threading.Event()
        self._machines: dict[str, JobMachine] = {}
        self._lock = threading.Lock()
        self._background: list[threading.Thread] = []

    def job_state_dir(self, job_id: str) -> Path:
        path = self.state_dir / "jobs" / job_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def start(self) -> None:
        """Apply Arroyo's controller-restart rules, then resume what should run."""
        for job in self.store.all_jobs(include_previews=True):
            state = JobState(job["state"])
            target = RECOVERY.get(state)
            pipeline = self.store.get_pipeline(job["pipeline_id"])
            fields: dict[str, Any] = {}
            if target is S.COMPILING and pipeline and pipeline["preview"]:
                target = S.STOPPED  # a preview does not outlive its server: a desired stop
                fields["stop"] = "immediate"
            if target is not None and target is not state:
                if target in (S.STOPPED, S.FINISHED, S.FAILED):
                    fields["finish_time"] = now_micros()
                self.store.update_job(job["id"], state=target.value, **fields)
            self.notify(job["id"])
        for name, loop in (("metrics", self._metrics_loop), ("cleanup", self._cleanup_loop)):
            t = threading.Thread(target=loop, name=f"arroyo-{name}", daemon=True)
            t.start()
            self._background.append(t)

    def machine(self, job_id: str) -> JobMachine:
        with self._lock:
            m = self._machines.get(job_id)
            if m is None:
                job = self.store.get_job(job_id)
                nonce = job["restart_nonce"] if job else 0
                m = self._machines[job_id] = JobMachine(self, job_id, nonce)
            return m

    def notify(self, job_id: str) -> None:
        """Something changed for this job: let its machine act now."""
        if not self.shutting_down.is_set():
            self.machine(job_id).ensure_running()

    def metrics(self, job_id: str) -> list[dict[str, Any]]:
        with self._lock:
            m = self._machines.get(job_id)
        return m.metrics.to_json() if m is not None else []

    def forget(self, job_id: str) -> None:
        with self._lock:
            m = self._machines.pop(job_id, None)
        if m is not None:
            m.wake()
            m.join(5)

    def stop(self) -> None:
        """Stop every runner (the DB keeps the states so a restart resumes) and join."""
        self.shutting_down.set()
        with self._lock:
            machines = list(self._machines.values())
        for m in machines:
            m.wake()
        for m in machines:
            m.join(self.config.stop_timeout_s + 5)
        for t in self._background:
            t.join(10)

    def _metrics_loop(self) -> None:
        while not self.shutting_down.wait(self.config.metrics_every_s):
            with self._lock:
                machines = list(self._machines.values())
            for m in machines:
                m.sample_metrics()

    def _cleanup_loop(self) -> None:
        while not self.shutting_down.wait(self.config.cleanup_every_s):
            cutoff = now_micros() - int(self.config.preview_cleanup_after_s * 1e6)
            for pipeline_id in self.store.expired_previews(cutoff):
                jobs = self.store.jobs_of(pipeline_id)
                self.store.delete_pipeline(pipeline_id)
                for job in jobs:
                    self.forget(job["id"])
                    shutil.rmtree(self.state_dir / "jobs" / job["id"], ignore_errors=True)
