"""A client for Arroyo's REST API (sync ``Client`` and async ``AsyncClient``, on httpx).

See the README ("The Python client") for the surface; errors are drawn as a tree in
:mod:`arroyo_jupyter.api.errors`.
"""

from __future__ import annotations

from . import models
from ._config import DEFAULT_URL, Retries
from ._protocol import Page
from .client import AsyncClient, Client
from .errors import (
    ApiError,
    ArroyoConnectionError,
    ArroyoError,
    AuthError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    ServerError,
    SqlDiagnostic,
    SqlError,
    StreamError,
)
from .follow import OutputFollower, RunBoundary
from .handles import AsyncJob, AsyncPipeline, Job, Pipeline
from .models import QueryValidationResult
from .sse import OutputEvent, SSEParser
from .stream import AsyncOutputStream, OutputStream

__all__ = [
    "DEFAULT_URL",
    "ApiError",
    "ArroyoConnectionError",
    "ArroyoError",
    "AsyncClient",
    "AsyncJob",
    "AsyncOutputStream",
    "AsyncPipeline",
    "AuthError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "Job",
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
    "ServerError",
    "SqlDiagnostic",
    "SqlError",
    "StreamError",
    "models",
]
