"""What every route needs: the store, the controller and the settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request

from .config import ServerConfig
from .controller import Controller
from .store import Store


@dataclass
class Context:
    store: Store
    controller: Controller
    config: ServerConfig
    state_dir: Path
    # creation checks the running-job limit and inserts under this lock: no race past it
    create_lock: threading.Lock = field(default_factory=threading.Lock)


def ctx(request: Request) -> Context:
    return request.app.state.ctx
