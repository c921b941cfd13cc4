"""ErrorsWidget: a job's error log, paginated lazily with ``starting_after``."""

from __future__ import annotations

from typing import Any

import pandas as pd
import traitlets as t

from ..frames import error_groups_frame, errors_frame, field
from ..states import TERMINAL_STATES, parse_state
from ._base import ArroyoWidget, esc
from ._source import Source, short_error

MAX_GROUPED = 10_000  # messages read to count and group the log (bounded: logs can be long)
COLUMNS = ["id", "created_at", "operator_id", "task_index", "level", "message", "details", "error_domain"]


def message_dict(m: Any) -> dict:
    return {k: field(m, k) for k in COLUMNS}


def _iso(ts: Any) -> str | None:
    return None if pd.isna(ts) else ts.isoformat()


class ErrorsWidget(ArroyoWidget):
    """The job's error log, a page at a time: ``ErrorsWidget(pipeline, page_size=50)``."""

    _esm_name = "errors"

    pipeline_name = t.Unicode("").tag(sync=True)
    page: t.List[Any] = t.List().tag(sync=True)  # rows of the page shown (created_at in µs)
    page_index = t.Int(0).tag(sync=True)
    page_size = t.Int(50).tag(sync=True)
    has_more = t.Bool(False).tag(sync=True)
    total = t.Int(-1).tag(sync=True)  # messages in the log (-1: not counted yet)
    total_capped = t.Bool(False).tag(sync=True)  # the log has more than MAX_GROUPED
    groups: t.List[Any] = t.List().tag(sync=True)
    grouped_over = t.Int(0).tag(sync=True)  # how many messages the groups cover
    loading = t.Bool(False).tag(sync=True)

    def __init__(self, pipeline: Any, *, page_size: int = 50, refresh: float = 5.0, **kwargs: Any) -> None:
        if not 1 <= page_size <= 1000:
            raise ValueError(f"page_size must be between 1 and 1000; got {page_size}")
        if refresh < 0:
            raise ValueError("refresh must be >= 0 seconds (0 turns live refresh off)")
        self._source = Source(pipeline)
        super().__init__(pipeline_name=self._source.name, page_size=page_size, **kwargs)
        self._cursors: list[str | None] = [None]  # starting_after of each page seen
        self._counted_newest: Any = object()  # newest id when the log was last counted
        try:
            self.load_page(0)
        except Exception as exc:  # shown in the widget; refresh retries
            self.error = short_error(exc)
        self._refresh = refresh
        if refresh:
            self._poll("errors", self._poll_once)

    def _poll_once(self) -> float | None:
        """Live log like the console (every 5 s): only the newest page, and only while the job runs."""
        if self.closed:
            return None
        if self.page_index == 0 and not self.loading:
            try:
                self.load_page(0)
            except Exception as exc:
                self.error = short_error(exc)
        try:
            if parse_state(str(getattr(self._source.job(), "state", "Running"))) in TERMINAL_STATES:
                return None
        except Exception:
            pass
        return self._refresh

    # ---- paging

    def load_page(self, index: int) -> None:
        """Fetch page ``index`` (0 = newest); pages are reached one step at a time."""
        index = max(0, min(index, len(self._cursors) - 1))
        self.loading = True
        try:
            page = self._source.errors_page(self.page_size, self._cursors[index])
            rows = [message_dict(m) for m in getattr(page, "data", page)]
            has_more = bool(getattr(page, "has_more", False))
            with self._lock:
                del self._cursors[index + 1 :]
                if has_more and rows:
                    self._cursors.append(rows[-1]["id"])
            with self.hold_sync():
                self.page, self.page_index, self.has_more, self.error = rows, index, has_more, ""
            if index == 0:
                self._count(rows, has_more)
        finally:
            self.loading = False

    def _count(self, first_page: list[dict], has_more: bool) -> None:
        """The log's size, for "page N of M": recounted only when a new error arrived."""
        newest = first_page[0]["id"] if first_page else None
        if newest == self._counted_newest:
            return
        if not has_more:
            total, capped = len(first_page), False
        else:
            total = len(self.iter_all(MAX_GROUPED + 1))
            total, capped = min(total, MAX_GROUPED), total > MAX_GROUPED
        self._counted_newest = newest
        with self.hold_sync():
            self.total, self.total_capped = total, capped

    def next_page(self) -> None:
        if self.has_more:
            self.load_page(self.page_index + 1)

    def previous_page(self) -> None:
        self.load_page(self.page_index - 1)

    def refresh(self) -> None:
        self.load_page(self.page_index)

    def iter_all(self, limit: int | None = None) -> list[dict]:
        """Every message of the log (or the newest ``limit``), newest first."""
        out: list[dict] = []
        after: str | None = None
        while limit is None or len(out) < limit:
            page = self._source.errors_page(1000, after)  # the API's largest page: fewest calls
            rows = [message_dict(m) for m in getattr(page, "data", page)]
            out.extend(rows)
            if not getattr(page, "has_more", False) or not rows:
                break
            after = rows[-1]["id"]
        return out if limit is None else out[:limit]

    def group(self) -> pd.DataFrame:
        """Group the log (up to MAX_GROUPED messages) by operator and normalised message
        (``frames.error_groups_frame``: numbers and ids masked), with counts and first/last seen."""
        messages = self.iter_all(MAX_GROUPED)
        g = error_groups_frame(messages)
        rows = [
            {
                "operator_id": r.operator_id,
                "pattern": r.pattern,
                "count": int(r.count),
                "first_seen": _iso(r.first_seen),
                "last_seen": _iso(r.last_seen),
                "example": r.example,
            }
            for r in g.itertuples()
        ]
        with self.hold_sync():
            self.groups, self.grouped_over = rows, len(messages)
        return g

    def to_pandas(self, all_pages: bool = False) -> pd.DataFrame:
        return errors_frame(self.iter_all() if all_pages else list(self.page))

    # ---- messages from the browser

    def _msg_page(self, content: dict, _buffers: list) -> None:
        step = {"next": self.next_page, "prev": self.previous_page, "first": lambda: self.load_page(0)}
        self._background(step.get(str(content.get("dir")), self.refresh), "errors-page")

    def _msg_page_size(self, content: dict, _buffers: list) -> None:
        size = int(content.get("value", 50))
        if not 1 <= size <= 1000:
            self.error = "page size must be between 1 and 1000"
            return
        self.page_size = size
        self._cursors = [None]
        self._background(lambda: self.load_page(0), "errors-page")

    def _msg_refresh(self, _content: dict, _buffers: list) -> None:
        self._background(self.refresh, "errors-refresh")

    def _msg_group(self, _content: dict, _buffers: list) -> None:
        self._background(self.group, "errors-group")

    # ---- snapshot

    def _pages(self) -> str:
        if self.total < 0:
            return f"page {self.page_index + 1}"
        count = max(1, -(-self.total // self.page_size))
        plus = "+" if self.total_capped else ""
        return f"page {self.page_index + 1} of {count}{plus}, {self.total}{plus} errors"

    def _snapshot_text(self) -> str:
        if not self.page and self.page_index == 0:
            return f"ErrorsWidget {self.pipeline_name}: no errors"
        lines = [f"ErrorsWidget {self.pipeline_name}: {self._pages()}"]
        for m in self.page[:5]:
            lines.append(f"  {m['operator_id'] or '(job)'}: {m['message']} {m['details'] or ''}".rstrip())
        return "\n".join(lines)

    def _snapshot_html(self) -> str:
        if not self.page and self.page_index == 0:
            return f"<b>Errors of {esc(self.pipeline_name)}</b>: no errors"
        head = f"<b>Errors of {esc(self.pipeline_name)}</b>: {esc(self._pages())}"
        df = errors_frame(list(self.page[:20]))[
            ["created_at", "operator_id", "task_index", "message", "details"]
        ]
        with pd.option_context("display.max_colwidth", None):
            return head + df.to_html(escape=True, index=False)
