"""Fixtures for the magics: a real IPython shell with the extension, on the real server.

``shell`` is IPython's own ``InteractiveShell`` (the object a kernel wraps) with
``%load_ext arroyo_jupyter`` done and ``%arroyo connect URL`` run against the session's
embedded server (``arroyo_server``), so every test drives the magics exactly as a cell
would: through ``run_cell``, over HTTP.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from magics_support import IMPULSE  # noqa: F401  (re-exported for older imports)


@dataclass
class Cell:
    """What running one cell produced."""

    result: Any
    error: BaseException | None
    out: str
    err: str

    @property
    def usage_error(self) -> str:
        assert isinstance(self.error, UsageError), f"expected a UsageError, got {self.error!r}\n{self.err}"
        return str(self.error)


class Shell:
    """Runs cells in an InteractiveShell and captures what they print."""

    def __init__(self, ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
        self.ip = ip
        self.capsys = capsys

    def run(self, code: str, *, cell_id: str | None = None) -> Cell:
        self.capsys.readouterr()
        result = self.ip.run_cell(code, store_history=False, cell_id=cell_id)
        captured = self.capsys.readouterr()
        error = result.error_in_exec or result.error_before_exec
        return Cell(result.result, error, captured.out, captured.err)

    def ok(self, code: str, **kw: Any) -> Any:
        cell = self.run(code, **kw)
        assert cell.error is None, f"{cell.error!r}\n{cell.err}"
        return cell.result

    @property
    def ns(self) -> dict[str, Any]:
        return self.ip.user_ns


@pytest.fixture(scope="session")
def ipython() -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "arroyo_jupyter")
    ip.run_line_magic("config", "ArroyoMagic.widgets = False")  # plain outputs unless a test asks
    return ip


@pytest.fixture
def shell(ipython: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> Shell:
    """A shell with no connection (tests that connect themselves)."""
    from arroyo_jupyter import session

    session.disconnect()
    yield Shell(ipython, capsys)
    session.disconnect()


@pytest.fixture
def connected(shell: Shell, arroyo_server: Any) -> Shell:
    """A shell connected to the session's embedded server."""
    shell.ok(f"%arroyo connect {arroyo_server.url}")
    return shell


@pytest.fixture
def name() -> str:
    """A pipeline name no other test uses (the server is shared)."""
    return f"t_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def unused_url() -> str:
    """A loopback URL nothing listens on (the port was free a moment ago)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def widgets_on(connected: Shell):
    """Widgets enabled for one test; every widget made meanwhile is closed afterwards."""
    from ipywidgets.widgets.widget import _instances  # the live widgets, by comm id

    before = set(_instances)
    connected.ok("%config ArroyoMagic.widgets = True")
    yield connected
    connected.ok("%config ArroyoMagic.widgets = False")
    for key in set(_instances) - before:
        widget = _instances.get(key)
        if widget is not None:
            widget.close()
