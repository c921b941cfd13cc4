"""SQLite persistence for the embedded server: one file under the state directory.

Rows come back as plain dicts; JSON columns (``*_json``) are decoded on read. One
connection guarded by a lock: the server's request handlers, the controller threads and
engine callbacks all write here, and SQLite serialises writers anyway.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from .config import ServerConfig
from .ids import new_id, now_micros

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pipelines (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    udfs_json TEXT NOT NULL DEFAULT '[]',
    parallelism INTEGER NOT NULL,
    checkpoint_interval_micros INTEGER NOT NULL,
    graph_json TEXT NOT NULL,
    preview INTEGER NOT NULL DEFAULT 0,
    enable_sinks INTEGER NOT NULL DEFAULT 0,
    tags_json TEXT NOT NULL DEFAULT '{}',
    state_url TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    stop TEXT NOT NULL DEFAULT 'none',
    state TEXT NOT NULL DEFAULT 'Created',
    run_id INTEGER NOT NULL DEFAULT 0,
    start_time INTEGER,
    finish_time INTEGER,
    tasks INTEGER,
    failure_message TEXT,
    failure_domain TEXT,
    parallelism_override INTEGER,
    restart_nonce INTEGER NOT NULL DEFAULT 0,
    restart_mode TEXT NOT NULL DEFAULT 'safe',
    ignore_state_before_epoch INTEGER,
    env_vars_json TEXT NOT NULL DEFAULT '{}',
    scheduler_config_json TEXT NOT NULL DEFAULT '{}',
    ttl_micros INTEGER
);
CREATE TABLE IF NOT EXISTS job_state_log (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS job_log_messages (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    operator_id TEXT,
    task_index INTEGER,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    details TEXT NOT NULL,
    error_domain TEXT
);
CREATE TABLE IF NOT EXISTS checkpoints (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    stopping INTEGER NOT NULL,
    start_time INTEGER NOT NULL,
    finish_time INTEGER,
    events_json TEXT NOT NULL,
    operators_json TEXT NOT NULL,
    PRIMARY KEY (job_id, epoch)
);
CREATE TABLE IF NOT EXISTS connection_profiles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    connector TEXT NOT NULL,
    config_json TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS connection_tables (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    connector TEXT NOT NULL,
    table_type TEXT NOT NULL,
    config_json TEXT NOT NULL,
    schema_json TEXT NOT NULL,
    profile_id TEXT REFERENCES connection_profiles(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS connection_table_pipelines (
    table_id TEXT NOT NULL REFERENCES connection_tables(id) ON DELETE CASCADE,
    pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    PRIMARY KEY (table_id, pipeline_id)
);
CREATE TABLE IF NOT EXISTS udfs (
    id TEXT PRIMARY KEY,
    prefix TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    language TEXT NOT NULL,
    definition TEXT NOT NULL,
    description TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
"""


class DuplicateError(Exception):
    """A row with that unique name or id exists."""


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in row.keys():
        value = row[key]
        if key.endswith("_json"):
            out[key[: -len("_json")]] = json.loads(value) if value is not None else None
        else:
            out[key] = value
    return out


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        (k + "_json" if k in _JSON_FIELDS else k): (json.dumps(v) if k in _JSON_FIELDS else v)
        for k, v in fields.items()
    }


_JSON_FIELDS = {
    "udfs",
    "graph",
    "tags",
    "env_vars",
    "scheduler_config",
    "events",
    "operators",
    "config",
    "schema",
}


class Store:
    """The server's tables; every method is one short transaction."""

    def __init__(self, state_dir: Path, config: ServerConfig | None = None):
        self.config = config or ServerConfig()  # the limits planning and retention use
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "arroyo.sqlite"
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            self._add_columns()

    def _add_columns(self) -> None:
        """Columns added after a state directory may have been created (additive only)."""
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(job_state_log)").fetchall()}
        if "run_id" not in cols:
            self._db.execute("ALTER TABLE job_state_log ADD COLUMN run_id INTEGER")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- generic helpers -------------------------------------------------------------
    def _all(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        with self._lock:
            return [_decode(r) for r in self._db.execute(sql, args).fetchall()]

    def _one(self, sql: str, args: tuple = ()) -> dict[str, Any] | None:
        rows = self._all(sql, args)
        return rows[0] if rows else None

    def _insert(self, table: str, fields: dict[str, Any]) -> None:
        enc = _encode(fields)
        cols = ", ".join(enc)
        marks = ", ".join("?" for _ in enc)
        try:
            with self._lock:
                self._db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", tuple(enc.values()))
        except sqlite3.IntegrityError as e:
            raise DuplicateError(str(e)) from None

    def _update(self, table: str, key: str, fields: dict[str, Any]) -> int:
        if not fields:
            return 0
        enc = _encode(fields)
        sets = ", ".join(f"{k} = ?" for k in enc)
        with self._lock:
            cur = self._db.execute(f"UPDATE {table} SET {sets} WHERE id = ?", (*enc.values(), key))
            return cur.rowcount

    def _page(
        self, table: str, where: str, args: tuple, limit: int, starting_after: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        """Newest first; the cursor compares (created_at, rowid) so nothing is skipped."""
        if starting_after is not None:
            cursor = f"(SELECT created_at, rowid FROM {table} WHERE id = ?)"
            where += f" AND ({table}.created_at, {table}.rowid) < {cursor}"
            args = (*args, starting_after)
        rows = self._all(
            f"SELECT {table}.* FROM {table} WHERE {where} "
            f"ORDER BY {table}.created_at DESC, {table}.rowid DESC LIMIT ?",
            (*args, limit + 1),
        )
        return rows[:limit], len(rows) > limit

    # -- pipelines and jobs ----------------------------------------------------------
    def create_pipeline(self, pipeline: dict[str, Any], job: dict[str, Any]) -> None:
        """Pipeline and its one job in one transaction: a rejected create leaves nothing."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._insert("pipelines", pipeline)
                self._insert("jobs", job)
                self._log_state(job["id"], job["state"])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def get_pipeline(self, pipeline_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM pipelines WHERE id = ?", (pipeline_id,))

    def list_pipelines(self, limit: int, starting_after: str | None) -> tuple[list[dict[str, Any]], bool]:
        return self._page(
            "pipelines",
            "preview = 0 AND EXISTS (SELECT 1 FROM jobs WHERE jobs.pipeline_id = pipelines.id)",
            (),
            limit,
            starting_after,
        )

    def update_pipeline(self, pipeline_id: str, **fields: Any) -> None:
        fields["updated_at"] = now_micros()
        self._update("pipelines", pipeline_id, fields)

    def delete_pipeline(self, pipeline_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM pipelines WHERE id = ?", (pipeline_id,))

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM jobs WHERE id = ?", (job_id,))

    def jobs_of(self, pipeline_id: str) -> list[dict[str, Any]]:
        return self._all(
            "SELECT * FROM jobs WHERE pipeline_id = ? ORDER BY created_at DESC, rowid DESC", (pipeline_id,)
        )

    def all_jobs(self, include_previews: bool = False) -> list[dict[str, Any]]:
        where = "" if include_previews else "WHERE ttl_micros IS NULL"
        return self._all(f"SELECT * FROM jobs {where} ORDER BY created_at DESC, rowid DESC")

    def update_job(self, job_id: str, **fields: Any) -> None:
        with self._lock:
            self._update("jobs", job_id, fields)
            if "state" in fields:
                self._log_state(job_id, fields["state"])

    def _log_state(self, job_id: str, state: str) -> None:
        """Record a transition with the job's run id after it (caller holds the lock)."""
        self._db.execute(
            "INSERT INTO job_state_log (job_id, state, at, run_id) SELECT ?, ?, ?, run_id FROM jobs WHERE id = ?",
            (job_id, state, now_micros(), job_id),
        )

    def state_transitions(self, job_id: str) -> list[dict[str, Any]]:
        """Every state the job entered, oldest first, with the server time (µs) it entered
        it and the run id it had then."""
        return self._all(
            "SELECT state, at, run_id FROM job_state_log WHERE job_id = ? ORDER BY rowid", (job_id,)
        )

    def state_history(self, job_id: str) -> list[str]:
        """Every state the job entered, in order (Arroyo keeps this in its controller log)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT state FROM job_state_log WHERE job_id = ? ORDER BY rowid", (job_id,)
            ).fetchall()
        return [r[0] for r in rows]

    def count_running_jobs(self) -> int:
        """Arroyo's count: non-preview jobs desired running and not Failed/Finished."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM jobs WHERE ttl_micros IS NULL AND stop = 'none' "
                "AND state NOT IN ('Failed', 'Finished')"
            ).fetchone()
        return int(row[0])

    def expired_previews(self, ended_before: int) -> list[str]:
        """Previews that ended (Stopped/Finished/Failed) before the given time."""
        rows = self._all(
            "SELECT pipeline_id FROM jobs WHERE ttl_micros IS NOT NULL "
            "AND state IN ('Stopped', 'Finished', 'Failed') AND coalesce(finish_time, created_at) < ?",
            (ended_before,),
        )
        return [r["pipeline_id"] for r in rows]

    # -- job log messages ------------------------------------------------------------
    def add_log_message(self, job_id: str, **fields: Any) -> str:
        log_id = new_id("jlm")
        self._insert(
            "job_log_messages", {"id": log_id, "job_id": job_id, "created_at": now_micros(), **fields}
        )
        return log_id

    def list_errors(
        self, job_id: str, limit: int, starting_after: str | None
    ) -> tuple[list[dict[str, Any]], bool]:
        return self._page(
            "job_log_messages", "job_id = ? AND level = 'error'", (job_id,), limit, starting_after
        )

    def log_messages(self, job_id: str) -> list[dict[str, Any]]:
        """Every level, oldest first (warnings included; the API lists only errors)."""
        return self._all(
            "SELECT * FROM job_log_messages WHERE job_id = ? ORDER BY created_at, rowid", (job_id,)
        )

    # -- checkpoints -----------------------------------------------------------------
    def upsert_checkpoint(self, job_id: str, record: dict[str, Any]) -> None:
        enc = _encode({"job_id": job_id, **record})
        cols = ", ".join(enc)
        marks = ", ".join("?" for _ in enc)
        keep = max(1, self.config.checkpoints_to_keep)
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO checkpoints ({cols}) VALUES ({marks})", tuple(enc.values())
            )
            # retention: only the newest rows (Arroyo keeps a bounded history too)
            self._db.execute(
                "DELETE FROM checkpoints WHERE job_id = ? AND epoch <= "
                "(SELECT epoch FROM checkpoints WHERE job_id = ? ORDER BY epoch DESC LIMIT 1 OFFSET ?)",
                (job_id, job_id, keep),
            )

    def checkpoints(self, job_id: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Oldest first; with ``limit``, only the newest ``limit`` of them."""
        if limit is None:
            return self._all("SELECT * FROM checkpoints WHERE job_id = ? ORDER BY epoch", (job_id,))
        rows = self._all(
            "SELECT * FROM checkpoints WHERE job_id = ? ORDER BY epoch DESC LIMIT ?", (job_id, limit)
        )
        return rows[::-1]

    def checkpoint(self, job_id: str, epoch: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM checkpoints WHERE job_id = ? AND epoch = ?", (job_id, epoch))

    def max_epoch(self, job_id: str) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT max(epoch) FROM checkpoints WHERE job_id = ?", (job_id,)
            ).fetchone()
        return row[0]

    # -- connection profiles and tables ----------------------------------------------
    def add_profile(self, profile: dict[str, Any]) -> None:
        self._insert("connection_profiles", profile)

    def get_profile(self, profile_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM connection_profiles WHERE id = ?", (profile_id,))

    def list_profiles(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM connection_profiles ORDER BY updated_at DESC, rowid DESC")

    def delete_profile(self, profile_id: str) -> bool:
        with self._lock:
            return (
                self._db.execute("DELETE FROM connection_profiles WHERE id = ?", (profile_id,)).rowcount > 0
            )

    def add_table(self, table: dict[str, Any]) -> None:
        self._insert("connection_tables", table)

    def list_tables(self, limit: int, starting_after: str | None) -> tuple[list[dict[str, Any]], bool]:
        return self._page("connection_tables", "1 = 1", (), limit, starting_after)

    def all_tables(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM connection_tables ORDER BY created_at, rowid")

    def delete_table(self, table_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM connection_tables WHERE id = ?", (table_id,)).rowcount > 0

    def link_tables(self, pipeline_id: str, table_ids: list[str]) -> None:
        with self._lock:
            for tid in table_ids:
                self._db.execute(
                    "INSERT OR IGNORE INTO connection_table_pipelines VALUES (?, ?)", (tid, pipeline_id)
                )

    def consumers(self, table_id: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM connection_table_pipelines WHERE table_id = ?", (table_id,)
            ).fetchone()
        return int(row[0])

    # -- UDFs ------------------------------------------------------------------------
    def add_udf(self, udf: dict[str, Any]) -> None:
        self._insert("udfs", udf)

    def list_udfs(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM udfs ORDER BY created_at, rowid")

    def delete_udf(self, udf_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM udfs WHERE id = ?", (udf_id,)).rowcount > 0
