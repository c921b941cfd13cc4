"""Everything the Arroyo client raises, as one tree.

```
ArroyoError                     base class: catch this to catch everything below
├── ArgumentError               (also a ValueError) an argument refused before any request:
│   │                           a URL that is not http(s), an unknown stop mode or state
│   └── SessionError            a user mistake in arroyo_jupyter.session / the %arroyo magic;
│       │                       the message says what to do instead
│       └── ConfigError         a config file cannot be used (arroyo_jupyter.config)
├── WaitTimeout                 (also a TimeoutError) wait_for() ran out of time
├── JobFailedError              the job went to Failed while wait_for() waited for another state
├── ArroyoConnectionError       server unreachable, or the URL is not the Arroyo API
│                               (e.g. an HTML page with status 200: wrong base path)
├── StreamError                 the output stream was cut in the middle of an event
└── ApiError(status, message)   the server answered with an error status
    ├── BadRequestError         400 / 415 / 422 (JSON, plain-text or empty bodies)
    │   └── SqlError            invalid SQL; .diagnostics: list[SqlDiagnostic]
    ├── AuthError               401 (missing or wrong API key) / 403
    ├── NotFoundError           404
    ├── ConflictError           409
    └── ServerError             5xx
```

Messages are one line where possible and name the fix; they never contain the API key.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ApiError",
    "ArgumentError",
    "ArroyoConnectionError",
    "ArroyoError",
    "AuthError",
    "BadRequestError",
    "ConflictError",
    "JobFailedError",
    "NotFoundError",
    "ServerError",
    "SqlDiagnostic",
    "SqlError",
    "SessionError",
    "StreamError",
    "WaitTimeout",
    "error_for_status",
]


@dataclass(frozen=True)
class SqlDiagnostic:
    """One problem in a query. Lines and columns are 1-based; None when unknown."""

    message: str
    line: int | None = None
    column: int | None = None
    end_line: int | None = None
    end_column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"line {self.line}, column {self.column}: {self.message}"


class ArroyoError(Exception):
    """Base class of every error this client raises."""


class ArgumentError(ArroyoError, ValueError):
    """An argument refused before any request was sent; the message names the fix."""


class SessionError(ArgumentError):
    """A user mistake in the session layer or the magic: the message says what to do instead.

    The magic shows it as one line without a traceback (and the cell still fails).
    """


class WaitTimeout(ArroyoError, TimeoutError):
    """``wait_for()`` ran out of time; the message says which state the job is in."""


class JobFailedError(ArroyoError):
    """The job went to Failed while ``wait_for()`` waited for another state."""


class ArroyoConnectionError(ArroyoError):
    """The server could not be reached, or the URL does not serve the Arroyo API."""


class StreamError(ArroyoError):
    """The output stream ended in the middle of an event (connection cut)."""


class ApiError(ArroyoError):
    """The server answered with an error status.

    ``status`` is the HTTP status, ``message`` the server's text (``{"error": …}``,
    a plain-text body, or a description when the body was empty).
    """

    def __init__(self, status: int, message: str, *, method: str = "", path: str = "") -> None:
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        where = f" ({method} {path})" if method else ""
        super().__init__(f"{status}{where}: {message}")


class BadRequestError(ApiError):
    """400 / 415 / 422: the request was rejected as invalid."""


class SqlError(BadRequestError):
    """The query did not plan. ``diagnostics`` lists each problem with its position."""

    def __init__(
        self,
        status: int,
        message: str,
        diagnostics: list[SqlDiagnostic],
        *,
        method: str = "",
        path: str = "",
    ) -> None:
        self.diagnostics = diagnostics
        super().__init__(status, message, method=method, path=path)

    def __str__(self) -> str:
        lines = [f"invalid SQL ({len(self.diagnostics)} problem{'s' if len(self.diagnostics) != 1 else ''})"]
        lines += [f"  * {d}" for d in self.diagnostics]
        return "\n".join(lines)


class AuthError(ApiError):
    """401 / 403: the server wants a (different) API key."""


class NotFoundError(ApiError):
    """404: no such pipeline, job, checkpoint, table, UDF or route."""


class ConflictError(ApiError):
    """409: the operation conflicts with the job's state."""


class ServerError(ApiError):
    """5xx: the server failed (503: a backing service is down; 502: leader unavailable)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    415: BadRequestError,
    422: BadRequestError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
}


def error_for_status(status: int, message: str, *, method: str = "", path: str = "") -> ApiError:
    """The ApiError subclass instance for an HTTP error status."""
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(status, message, method=method, path=path)
