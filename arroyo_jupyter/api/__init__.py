"""A client for Arroyo's REST API (sync ``Client`` and async ``AsyncClient``, on httpx).

See the README ("The Python client") for the surface; errors are drawn as a tree in
:mod:`arroyo_jupyter.api.errors`.
"""

from __future__ import annotations

from . import models
from ._config import DEFAULT_URL, Retries
from ._protocol import AsyncSender, Call, Page, Sender
from .client import AsyncClient, Client
from .errors import (
    ApiError,
    ArgumentError,
    ArroyoConnectionError,
    ArroyoError,
    AuthError,
    BadRequestError,
    ConflictError,
    JobFailedError,
    NotFoundError,
    ServerError,
    SessionError,
    SqlDiagnostic,
    SqlError,
    StreamError,
    WaitTimeout,
)
from .follow import OutputFollower, RunBoundary
from .handles import AsyncJob, AsyncPipeline, Job, Pipeline
from .models import QueryValidationResult
from .sse import OutputEvent, SSEParser
from .stream import AsyncOutputStream, OutputStream

__all__ = [
    "DEFAULT_URL",
    "ApiError",
    "ArgumentError",
    "ArroyoConnectionError",
    "ArroyoError",
    "AsyncClient",
    "AsyncJob",
    "AsyncOutputStream",
    "AsyncPipeline",
    "AsyncSender",
    "AuthError",
    "BadRequestError",
    "Call",
    "Client",
    "ConflictError",
    "Job",
    "JobFailedError",
    "NotFoundError",
    "OutputEvent",
    "OutputFollower",
    "OutputStream",
    "Page",
    "Pipeline",
    "QueryValidationResult",
    "Retries",
    "RunBoundary",
    "SSEParser",
    "Sender",
    "ServerError",
    "SessionError",
    "SqlDiagnostic",
    "SqlError",
    "StreamError",
    "WaitTimeout",
    "models",
]
