"""ErrorsWidget: a job's error log, paginated lazily with ``starting_after``."""

from __future__ import annotations

from typing import Any

import pandas as pd
import traitlets as t

from ..states import TERMINAL_STATES, parse_state
from ._base import ArroyoWidget, esc
from ._source import Source, short_error

MAX_GROUPED = 10_000  # messages read to group the log (bounded: logs can be long)
COLUMNS = ["id", "created_at", "operator_id", "task_index", "level", "message", "details", "error_domain"]


def message_dict(m: Any) -> dict:
    get = (lambda k: m.get(k)) if isinstance(m, dict) else (lambda k: getattr(m, k, None))
    return {k: get(k) for k in COLUMNS}


def messages_frame(messages: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(messages, columns=COLUMNS)
    df["created_at"] = pd.to_datetime(df["created_at"].astype("float64"), unit="us", utc=True)
    return df


def group_messages(messages: list[dict]) -> pd.DataFrame:
    """Count per operator and message, with first and last seen."""
    df = messages_frame(messages)
    if df.empty:
        return pd.DataFrame(columns=["operator_id", "message", "count", "first_seen", "last_seen"])
    df["operator_id"] = df["operator_id"].fillna("(job)")
    g = (
        df.groupby(["operator_id", "message"], sort=False)["created_at"]
        .agg(["count", "min", "max"])
        .reset_index()
    )
    g.columns = ["operator_id", "message", "count", "first_seen", "last_seen"]
    return g.sort_values(["count", "last_seen"], ascending=False, kind="stable").reset_index(drop=True)


class ErrorsWidget(ArroyoWidget):
    """The job's error log, a page at a time: ``ErrorsWidget(pipeline, page_size=50)``."""

    _esm_name = "errors"

    pipeline_name = t.Unicode("").tag(sync=True)
    page = t.List().tag(sync=True)  # rows of the page shown (created_at in µs)
    page_index = t.Int(0).tag(sync=True)
    page_size = t.Int(50).tag(sync=True)
    has_more = t.Bool(False).tag(sync=True)
    groups = t.List().tag(sync=True)
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
        finally:
            self.loading = False

    def next_page(self) -> None:
        if self.has_more:
            self.load_page(self.page_index + 1)

    def previous_page(self) -> None:
        self.load_page(self.page_index - 1)

    def refresh(self) -> None:
        self.load_page(self.page_index)

    def iter_all(self, limit: int | None = None) -> list[dict]:
        out: list[dict] = []
        after: str | None = None
        while limit is None or len(out) < limit:
            page = self._source.errors_page(
                min(self.page_size * 4, 1000) if self.page_size < 250 else 1000, after
            )
            rows = [message_dict(m) for m in getattr(page, "data", page)]
            out.extend(rows)
            if not getattr(page, "has_more", False) or not rows:
                break
            after = rows[-1]["id"]
        return out if limit is None else out[:limit]

    def group(self) -> pd.DataFrame:
        """Group the log (up to MAX_GROUPED messages) by operator and message."""
        messages = self.iter_all(MAX_GROUPED)
        g = group_messages(messages)
        rows = g.assign(
            first_seen=g["first_seen"].map(lambda x: x.isoformat()),
            last_seen=g["last_seen"].map(lambda x: x.isoformat()),
        ).to_dict("records")
        with self.hold_sync():
            self.groups, self.grouped_over = rows, len(messages)
        return g

    def to_pandas(self, all_pages: bool = False) -> pd.DataFrame:
        return messages_frame(self.iter_all() if all_pages else list(self.page))

    # ---- messages from the browser

    def _msg_page(self, content: dict, _buffers: list) -> None:
        step = {"next": self.next_page, "prev": self.previous_page, "first": lambda: self.load_page(0)}
        self._background(step.get(content.get("dir"), self.refresh), "errors-page")

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

    def _snapshot_text(self) -> str:
        more = "+" if self.has_more else ""
        lines = [
            f"ErrorsWidget {self.pipeline_name}: {len(self.page)}{more} errors on page {self.page_index + 1}"
        ]
        for m in self.page[:5]:
            lines.append(f"  {m['operator_id'] or '(job)'}: {m['message']} {m['details'] or ''}".rstrip())
        return "\n".join(lines)

    def _snapshot_html(self) -> str:
        more = "+" if self.has_more else ""
        head = f"<b>Errors of {esc(self.pipeline_name)}</b>: {len(self.page)}{more} on page {self.page_index + 1}"
        if not self.page:
            return head
        df = messages_frame(list(self.page[:20]))[
            ["created_at", "operator_id", "task_index", "message", "details"]
        ]
        return head + df.to_html(escape=True, index=False)
