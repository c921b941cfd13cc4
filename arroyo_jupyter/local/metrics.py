"""Operator metric groups: engine counters sampled into per-second rates over a window.

Like Arroyo's controller: a sample about every 2 s, rates from counter deltas smoothed
with an EWMA (α = 0.1), backpressure from the output queue fill, 150 points (5 minutes)
per subtask and metric; the first sample yields no rate point.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

_RATES = ("bytes_recv", "bytes_sent", "messages_recv", "messages_sent")
_ALPHA = 0.1
WINDOW_POINTS = 150


class MetricsWindow:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: dict[tuple[int, str, int], deque[tuple[int, float]]] = {}
        self._last: dict[tuple[int, int], tuple[int, Any]] = {}
        self._ewma: dict[tuple[int, str, int], float] = {}

    def sample(self, counters: dict[int, dict[int, Any]], now_us: int) -> None:
        """Fold one reading of ``Runner.metrics()`` (node → subtask → counters) in."""
        with self._lock:
            for node_id, subtasks in counters.items():
                for idx, c in subtasks.items():
                    prev = self._last.get((node_id, idx))
                    self._last[(node_id, idx)] = (now_us, c)
                    size, rem = c.queue_size, c.queue_rem
                    self._add((node_id, "backpressure", idx), now_us, 1 - (rem + 1) / (size + 1))
                    if prev is None:
                        continue
                    dt = (now_us - prev[0]) / 1e6
                    if dt <= 0:
                        continue
                    for name in _RATES:
                        rate = max(0.0, (getattr(c, name) - getattr(prev[1], name)) / dt)
                        key = (node_id, name, idx)
                        smoothed = self._ewma.get(key)
                        smoothed = rate if smoothed is None else _ALPHA * rate + (1 - _ALPHA) * smoothed
                        self._ewma[key] = smoothed
                        self._add(key, now_us, smoothed)

    def _add(self, key: tuple[int, str, int], t: int, v: float) -> None:
        series = self._points.get(key)
        if series is None:
            series = self._points[key] = deque(maxlen=WINDOW_POINTS)
        series.append((t, v))

    def to_json(self) -> list[dict[str, Any]]:
        """``OperatorMetricGroup[]``; subtasks without points are left out."""
        with self._lock:
            by_node: dict[int, dict[str, dict[int, list]]] = {}
            for (node_id, name, idx), series in self._points.items():
                by_node.setdefault(node_id, {}).setdefault(name, {})[idx] = [
                    {"time": t, "value": v} for t, v in series
                ]
        out = []
        for node_id in sorted(by_node):
            groups = []
            for name in (*_RATES, "backpressure"):
                subtasks = by_node[node_id].get(name)
                if subtasks is None:
                    continue
                groups.append(
                    {
                        "name": name,
                        "subtasks": [
                            {"index": i, "metrics": pts} for i, pts in sorted(subtasks.items()) if pts
                        ],
                    }
                )
            out.append({"node_id": node_id, "metric_groups": groups})
        return out
