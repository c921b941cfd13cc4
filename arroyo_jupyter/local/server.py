"""Running the embedded server: in a background thread (``start``) or in the foreground
(``arroyo-jupyter serve``). Both bind 127.0.0.1 unless told otherwise, refuse to bind
beyond loopback without an API key, and serve only their own hostnames and origins.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from .app import create_app
from .config import ServerConfig
from .context import Context
from .controller import Controller
from .store import Store

log = logging.getLogger(__name__)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def default_state_dir() -> Path:
    """Per-user state: $ARROYO_JUPYTER_STATE_DIR or ~/.arroyo_jupyter/state."""
    env = os.environ.get("ARROYO_JUPYTER_STATE_DIR")
    return Path(env) if env else Path.home() / ".arroyo_jupyter" / "state"


def check_exposure(host: str, api_key: str | None) -> None:
    if host not in LOOPBACK and not api_key:
        raise ValueError(
            f"binding to {host} exposes the API beyond this machine; "
            "set an API key (--api-key KEY or api_key=...) or bind 127.0.0.1"
        )


class LocalServer:
    """A running embedded server: ``.url``, ``.state_dir``, ``.stop()``; a context manager."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        state_dir: str | os.PathLike | None = None,
        api_key: str | None = None,
        **settings: Any,
    ):
        check_exposure(host, api_key)
        self._own_dir = state_dir is None
        self.state_dir = (
            Path(state_dir) if state_dir is not None else Path(tempfile.mkdtemp(prefix="arroyo-state-"))
        )
        unknown = sorted(set(settings) - set(ServerConfig.__dataclass_fields__))
        if unknown:
            known = ", ".join(f for f in ServerConfig.__dataclass_fields__ if f != "api_key")
            raise ValueError(f"unknown server setting(s) {', '.join(unknown)}; known settings: {known}")
        self.config = ServerConfig(api_key=api_key, **settings)
        self.store = Store(self.state_dir, self.config)
        self.controller = Controller(self.store, self.state_dir, self.config)
        self._context = Context(self.store, self.controller, self.config, self.state_dir)
        self._server = uvicorn.Server(
            uvicorn.Config(
                create_app(self._context, host),
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=3,
                ws="none",
            )
        )
        self._host = host
        self._thread: threading.Thread | None = None
        self.url = ""
        self._stopped = False

    def start(self, timeout: float = 30.0) -> LocalServer:
        self.controller.start()
        self._thread = threading.Thread(target=self._serve, name="arroyo-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.cleanup()
                port = self._server.config.port
                raise RuntimeError(
                    f"the embedded Arroyo server could not listen on {self._host}:{port} "
                    "(in use? pass port=0 for a free port)"
                )
            time.sleep(0.01)
        sock = self._server.servers[0].sockets[0]
        port = sock.getsockname()[1]
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.url = f"http://{host}:{port}"
        return self

    def _serve(self) -> None:
        try:
            self._server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; start() reports it
            pass

    @property
    def api_url(self) -> str:
        return self.url + "/api/v1"

    def stop(self) -> None:
        """Stop jobs (their states stay, so a restart resumes them), then the HTTP server."""
        if self._stopped:
            return
        self._stopped = True
        self.controller.stop()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
        self.store.close()

    def cleanup(self) -> None:
        """Stop, and delete the state directory if this server made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<LocalServer {self.url or 'not started'} state_dir={str(self.state_dir)!r}>"


def serve_forever(
    host: str,
    port: int,
    state_dir: str | None,
    api_key: str | None,
    settings: dict[str, Any] | None = None,
) -> int:
    """``arroyo-jupyter serve``: run until Ctrl-C or SIGTERM; returns the exit code."""
    try:
        check_exposure(host, api_key)
    except ValueError as e:
        print(f"arroyo-jupyter serve: {e}", file=sys.stderr)
        return 2
    directory = Path(state_dir) if state_dir else default_state_dir()
    try:
        server = LocalServer(
            host=host, port=port, state_dir=directory, api_key=api_key, **(settings or {})
        ).start()
    except ValueError as e:
        print(f"arroyo-jupyter serve: {e}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as e:
        print(f"arroyo-jupyter serve: cannot listen on {host}:{port}: {e}", file=sys.stderr)
        return 1
    print(f"Arroyo API on {server.api_url} (state in {directory}); Ctrl-C stops", flush=True)
    if not api_key:
        print(
            "No API key: any program on this machine can use this server. To require one, "
            "put it in an environment variable and pass --api-key-env VAR.",
            flush=True,
        )
    stop = threading.Event()
    # SIGTERM (systemd, docker, kill) shuts down as cleanly as Ctrl-C; both handled here
    # (a SIGINT ignored by the parent, e.g. a background job, would otherwise be ignored)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while server._thread is not None and server._thread.is_alive() and not stop.is_set():
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    print("Arroyo API stopped", flush=True)
    return 0
