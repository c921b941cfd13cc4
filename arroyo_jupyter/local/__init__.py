"""The embedded Arroyo-compatible server: Arroyo's REST API on the local engine.

from arroyo_jupyter.local import start
with start() as server:          # 127.0.0.1, a free port, a temporary state directory
    print(server.url)            # http://127.0.0.1:PORT  (the API is under /api/v1)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import LocalServer


def start(
    port: int = 0,
    state_dir: str | os.PathLike | None = None,
    *,
    host: str = "127.0.0.1",
    api_key: str | None = None,
    **settings: Any,
) -> LocalServer:
    """Run a server in a background thread of this process and return it (started).

    ``settings`` are :class:`~arroyo_jupyter.local.config.ServerConfig` fields, e.g.
    ``preview_ttl_s=5`` or ``max_running_jobs=3``.
    """
    from .server import LocalServer

    return LocalServer(host=host, port=port, state_dir=state_dir, api_key=api_key, **settings).start()


def __getattr__(name: str) -> Any:
    # The server is imported on first use, so `arroyo-jupyter run` (engine only) starts fast.
    if name == "LocalServer":
        from .server import LocalServer

        return LocalServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LocalServer", "start"]
