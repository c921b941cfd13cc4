"""Checkpoint files: one directory per epoch, files per operator subtask.

    STATE/checkpoints/epoch-0000002/
        source_cars_1@0.json                  small state (offsets, counters, watermarks)
        tumbling_4@1.json, tumbling_4@1.cars.arrow   table state (Arrow IPC), one file per table
        _metadata.json                        written last: the epoch is complete

Subtasks without state write nothing (a flat layout: checkpoints are frequent and file
system calls are what they cost).

A checkpoint counts only once its ``_metadata.json`` exists, so a crash mid-write leaves
the previous epoch as the latest.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

META = "_metadata.json"


def epoch_dir(root: Path, epoch: int) -> Path:
    return root / "checkpoints" / f"epoch-{epoch:07d}"


def write_subtask(
    directory: Path, operator_id: str, index: int, small: dict[str, Any], tables: dict[str, pa.Table]
) -> int:
    """Write one subtask's state; returns the bytes written (0: stateless, nothing written)."""
    tables = {name: t for name, t in tables.items() if t.num_rows}
    if not small and not tables:
        return 0
    written = 0
    for name, table in tables.items():
        path = directory / f"{operator_id}@{index}.{name}.arrow"
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        written += path.stat().st_size
    text = json.dumps({"state": small, "tables": sorted(tables)})
    (directory / f"{operator_id}@{index}.json").write_text(text)
    return written + len(text)


def write_metadata(directory: Path, meta: dict[str, Any]) -> None:
    tmp = directory / (META + ".tmp")
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, directory / META)


def completed_epochs(root: Path) -> list[int]:
    base = root / "checkpoints"
    if not base.is_dir():
        return []
    out = []
    for d in base.iterdir():
        if d.name.startswith("epoch-") and (d / META).exists():
            out.append(int(d.name.split("-")[1]))
    return sorted(out)


def all_epochs(root: Path) -> list[int]:
    base = root / "checkpoints"
    if not base.is_dir():
        return []
    return sorted(int(d.name.split("-")[1]) for d in base.iterdir() if d.name.startswith("epoch-"))


class Restored:
    """The state of one completed epoch, read lazily per operator."""

    def __init__(self, root: Path, epoch: int):
        self.epoch = epoch
        self.dir = epoch_dir(root, epoch)
        self.meta = json.loads((self.dir / META).read_text())

    def subtasks(self, operator_id: str) -> list[tuple[int, dict[str, Any], dict[str, pa.Table]]]:
        out = []
        for path in sorted(self.dir.glob(f"{operator_id}@*.json")):
            index = int(path.name[len(operator_id) + 1 : -len(".json")])
            info = json.loads(path.read_text())
            tables = {}
            for name in info["tables"]:
                with pa.memory_map(str(self.dir / f"{operator_id}@{index}.{name}.arrow")) as source:
                    tables[name] = ipc.open_file(source).read_all()
            out.append((index, info["state"], tables))
        return out


def latest(root: Path, at_least: int | None = None) -> Restored | None:
    epochs = [e for e in completed_epochs(root) if at_least is None or e >= at_least]
    return Restored(root, epochs[-1]) if epochs else None


def compact(root: Path, keep: int = 3) -> None:
    """Delete all but the newest ``keep`` completed epochs (and unfinished older ones)."""
    done = completed_epochs(root)
    if not done:
        return
    cutoff = done[-keep] if len(done) >= keep else done[0]
    for e in all_epochs(root):
        if e < cutoff:
            shutil.rmtree(epoch_dir(root, e), ignore_errors=True)
