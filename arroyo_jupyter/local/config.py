"""Knobs of the embedded server; defaults are Arroyo's, plus the safety limits."""

from __future__ import annotations

from dataclasses import dataclass, field

MIN_CHECKPOINT_INTERVAL_MICROS = 1_000_000
MAX_CHECKPOINT_INTERVAL_MICROS = 86_400_000_000


@dataclass
class ServerConfig:
    api_key: str | None = None
    max_running_jobs: int = 10
    max_parallelism: int = 32
    default_checkpoint_interval_micros: int = 10_000_000
    preview_ttl_s: float = 60.0
    preview_cleanup_after_s: float = 3600.0  # ended previews are deleted this long after ending
    cleanup_every_s: float = 5.0
    metrics_every_s: float = 2.0
    allowed_restarts: int = 20
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 60.0
    healthy_duration_s: float = 120.0
    stop_timeout_s: float = 60.0  # graceful/immediate/checkpoint stops fall back to force after this
    output_queue_events: int = 256  # per SSE subscriber; beyond it events are dropped for that client
    sse_keepalive_s: float = 15.0
    # a preview's output is kept from its first row for late subscribers, up to these bounds
    # (the oldest rows go first, and the stream says how many with a `replay_dropped` event)
    preview_replay_rows: int = 100_000
    preview_replay_bytes: int = 32 * 1024 * 1024
    batch_size: int | None = None  # rows per source batch, passed to the engine
    # -- safety (issue 16) ---------------------------------------------------------------
    # Origins (scheme://host:port) besides the server's own that browsers may call it from.
    allowed_origins: list[str] = field(default_factory=list)
    # Host names requests may carry besides the bound address (DNS-rebinding guard).
    local_hostnames: list[str] = field(default_factory=lambda: ["localhost", "127.0.0.1", "::1"])
    allow_remote_access: bool = False  # True: any Host header (a key is then advisable)
    # File connectors may only read/write under these directories (None: anywhere).
    file_roots: list[str] | None = None
    max_body_bytes: int = 16 * 1024 * 1024
    max_query_bytes: int = 1024 * 1024
    max_name_chars: int = 256
    max_query_tokens: int = 20_000  # SQL tokens per query (planning cost grows with them)
    max_nesting: int = 200  # parentheses / CASE depth
    planning_timeout_s: float = 20.0
    checkpoints_to_keep: int = 100  # checkpoint rows kept per job (the newest)

    def __repr__(self) -> str:  # never show the key
        key = "set" if self.api_key else None
        return f"ServerConfig(api_key={key!r}, max_running_jobs={self.max_running_jobs}, ...)"
