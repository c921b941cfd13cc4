"""Where the API is and how to talk to it: base URL, API key, retries."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from .errors import ArgumentError

DEFAULT_URL = "http://localhost:5115"
URL_ENV = "ARROYO_URL"
API_KEY_ENV = "ARROYO_API_KEY"
# Arroyo (and the embedded server) send a keep-alive on an idle output stream every 15 s;
# four periods without a byte mean the stream is dead.
STREAM_READ_TIMEOUT = 60.0


def resolve_api_root(url: str | None = None, api_root: str | None = None) -> str:
    """The URL every ``/pipelines``-style path is appended to.

    ``api_root`` is taken exactly (e.g. Prism serves ``/v1/...`` at its root, so
    ``http://127.0.0.1:4010/v1``); otherwise ``url`` (or $ARROYO_URL, or the default)
    may end in nothing, ``/api`` or ``/api/v1``.
    """
    if api_root is not None:
        return check_url(api_root).rstrip("/")
    raw = url or os.environ.get(URL_ENV) or DEFAULT_URL
    if "://" not in raw:  # "localhost:5115" is what people type
        raw = "http://" + raw
    base = check_url(raw).rstrip("/")
    if base.endswith("/api/v1"):
        return base
    if base.endswith("/api"):
        return base + "/v1"
    return base + "/api/v1"


def check_url(url: str) -> str:
    """The one URL check: an http(s) URL with a host, or an ArgumentError naming the fix."""
    try:
        parts = urlsplit(url)
        problem = "" if parts.scheme in ("http", "https") and parts.hostname else "not an http(s) URL"
        if not problem:
            parts.port  # noqa: B018 - raises ValueError when out of range
            httpx.URL(url)  # what will send it: IDNA host names
    except (httpx.InvalidURL, ValueError) as exc:
        problem = f"not a valid URL ({exc})"
    if problem:
        raise ArgumentError(f"{problem}: {redact_url(url)!r}; expected e.g. {DEFAULT_URL}")
    return url


def redact_url(url: str) -> str:
    """The URL without any user:password part (never show credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # unparseable: drop whatever stands before an @
        return re.sub(r"//[^/]*@", "//", url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def resolve_api_key(api_key: str | None) -> str | None:
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    return key or None


@dataclass(frozen=True)
class Retries:
    """Retry policy for idempotent (GET) requests.

    Retried: connection failures (for every method when the connection was never
    made, since nothing was sent), and for GETs also read errors, 502 and 503.
    Waits ``backoff * 2**attempt`` seconds, at most ``max_backoff``.
    """

    attempts: int = 3
    backoff: float = 0.2
    max_backoff: float = 5.0
    statuses: frozenset[int] = frozenset({502, 503})

    def delay(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * (2**attempt))


def as_retries(retries: int | Retries | None) -> Retries:
    if retries is None:
        return Retries(attempts=0)
    if isinstance(retries, Retries):
        return retries
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ArgumentError(f"retries must be an int >= 0 or a Retries object, not {retries!r}")
    return Retries(attempts=retries)
