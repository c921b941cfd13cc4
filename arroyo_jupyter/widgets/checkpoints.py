"""CheckpointsWidget: checkpoint history, one epoch's timeline and bytes, live."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pandas as pd
import traitlets as t

from .. import charts
from ..frames import checkpoints_frame, field
from ..states import TERMINAL_STATES, parse_state
from ._base import ArroyoWidget, PlotlyHost, esc
from ._source import Source, short_error

DETAILS_CACHE = 32  # epochs whose operator details are kept (sizes for the history)
SIZE_HISTORY = 20  # the newest finished epochs whose sizes are fetched for the history


class CheckpointsWidget(PlotlyHost, ArroyoWidget):
    """``CheckpointsWidget(pipeline, refresh=5.0)``; ``refresh=0`` turns live refresh off."""

    _esm_name = "checkpoints"

    pipeline_name = t.Unicode("").tag(sync=True)
    epochs: t.List[Any] = t.List().tag(
        sync=True
    )  # newest first: {epoch, start_time, finish_time, duration, type}
    selected_epoch = t.Int(0).tag(sync=True)  # 0: follow the latest finished epoch
    shown_epoch = t.Int(0).tag(sync=True)
    summary = t.Dict().tag(sync=True)  # the stats box of the shown epoch
    hint = t.Unicode("").tag(sync=True)
    history_json = t.Unicode("").tag(sync=True)
    timeline_json = t.Unicode("").tag(sync=True)
    bytes_json = t.Unicode("").tag(sync=True)

    def __init__(self, pipeline: Any, *, refresh: float = 5.0, **kwargs: Any) -> None:
        if refresh < 0:
            raise ValueError("refresh must be >= 0 seconds (0 turns live refresh off)")
        self._source = Source(pipeline)
        super().__init__(pipeline_name=self._source.name, **kwargs)
        self._refresh = refresh
        self._checkpoints: list[Any] = []
        self._details: OrderedDict[int, list[Any]] = OrderedDict()
        self._poller = self._poll("checkpoints", self._poll_once)

    # ---- data

    def _poll_once(self) -> float | None:
        if self.closed:
            return None
        try:
            self.update()
        except Exception as exc:
            self.error = short_error(exc)
        if not self._refresh:
            return None
        try:
            if parse_state(str(getattr(self._source.job(), "state", "Running"))) in TERMINAL_STATES:
                return None  # nothing changes any more; refresh() or an epoch pick wakes us
        except Exception:
            pass
        return self._refresh

    def details(self, epoch: int) -> list[Any]:
        """Operator checkpoint groups of ``epoch`` (cached: a finished epoch never changes)."""
        with self._lock:
            if epoch in self._details:
                self._details.move_to_end(epoch)
                return self._details[epoch]
        groups = self._source.checkpoint_details(epoch)
        cp = next((c for c in self._checkpoints if field(c, "epoch") == epoch), None)
        with self._lock:
            if cp is not None and field(cp, "finish_time"):
                self._details[epoch] = groups
                while len(self._details) > DETAILS_CACHE:
                    self._details.popitem(last=False)
        return groups

    def update(self) -> None:
        """Fetch the checkpoint list (and sizes of new epochs); redraw what changed."""
        cps = self._source.checkpoints()
        changed = [(field(c, "epoch"), field(c, "finish_time")) for c in cps] != [
            (field(c, "epoch"), field(c, "finish_time")) for c in self._checkpoints
        ]
        self._checkpoints = cps
        if changed:
            self._fetch_sizes()
            self._epochs()
        target = self.selected_epoch or self._latest_epoch()
        if changed or target != self.shown_epoch:
            self._show(target)

    def _fetch_sizes(self) -> None:
        """Details of the newest finished epochs: their bytes make the size subplot."""
        finished = [int(field(c, "epoch")) for c in self._checkpoints if field(c, "finish_time")]
        for epoch in sorted(finished)[-SIZE_HISTORY:]:
            self.details(epoch)

    def _latest_epoch(self) -> int:
        finished = [field(c, "epoch") for c in self._checkpoints if field(c, "finish_time")]
        every = [field(c, "epoch") for c in self._checkpoints]
        return int(max(finished or every or [0]))

    def _sizes(self) -> dict[int, float]:
        with self._lock:
            return {e: float(sum(field(g, "bytes") or 0 for g in gs)) for e, gs in self._details.items()}

    def _epochs(self) -> None:
        table = checkpoints_frame(self._checkpoints)
        epochs = [
            {
                "epoch": int(row.epoch),
                "start_time": row.start_time.value // 1000,
                "finish_time": None if pd.isna(row.finish_time) else row.finish_time.value // 1000,
                "type": row.checkpoint_type,
            }
            for row in table.iloc[::-1].head(500).itertuples()
        ]
        self.epochs = epochs

    def _show(self, epoch: int) -> None:
        cp = next((c for c in self._checkpoints if field(c, "epoch") == epoch), None)
        if cp is None:
            return
        groups = self.details(epoch)
        start, finish = field(cp, "start_time"), field(cp, "finish_time")
        total = sum(field(g, "bytes") or 0 for g in groups)
        interval = self._source.checkpoint_interval_micros
        sizes = self._sizes()
        history = charts.checkpoint_history(
            self._checkpoints, interval_micros=interval, sizes=sizes, selected_epoch=epoch
        )
        hint = charts.checkpoint_hint(self._checkpoints, interval, sizes=sizes, groups=groups)
        with self.hold_sync():  # shown_epoch last: it signals "all of this epoch is in"
            self.summary = {
                "epoch": epoch,
                "start_time": start,
                "finish_time": finish,
                "duration": charts.format_duration((finish - start) if finish else None),
                "size": charts.format_bytes(total),
                "operators": len(groups),
                "type": field(cp, "checkpoint_type"),
            }
            self.hint = hint or ""
            self.history_json = history.to_json()
            self.timeline_json = charts.checkpoint_timeline(groups, cp).to_json()
            self.bytes_json = charts.checkpoint_bytes(groups).to_json()
            self.shown_epoch = epoch

    def select(self, epoch: int) -> None:
        """Show ``epoch`` (0: follow the latest)."""
        self.selected_epoch = int(epoch)

    @t.observe("selected_epoch")
    def _selected(self, _change: dict) -> None:
        self._poller.wake()

    def _msg_refresh(self, _content: dict, _buffers: list) -> None:
        self._poller.wake()

    # ---- snapshot

    def _snapshot_text(self) -> str:
        if not self._checkpoints:
            return f"CheckpointsWidget {self.pipeline_name}: no checkpoints yet"
        s = self.summary
        text = (
            f"CheckpointsWidget {self.pipeline_name}: {len(self._checkpoints)} checkpoints; "
            f"epoch {s.get('epoch')} took {s.get('duration')}, {s.get('size')}"
        )
        return text + (f"\n  {self.hint}" if self.hint else "")

    def _snapshot_html(self) -> str:
        if not self._checkpoints:
            return f"<b>Checkpoints of {esc(self.pipeline_name)}</b>: none yet"
        s = self.summary
        return (
            f"<b>Checkpoints of {esc(self.pipeline_name)}</b>: {len(self._checkpoints)}; last shown epoch "
            f"{esc(s.get('epoch'))}: {esc(s.get('duration'))}, {esc(s.get('size'))} over {esc(s.get('operators'))} operators"
            + (f"<div>{esc(self.hint)}</div>" if self.hint else "")
        )
