"""The embedded server in a process of its own: prints ``READY <port>``, runs until killed."""

from __future__ import annotations

import signal
import sys
import tempfile
import threading

from arroyo_jupyter.local import start


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with tempfile.TemporaryDirectory(prefix="arroyo-bench-") as state:
        server = start(port=0, state_dir=state)
        print("READY", server.url.rsplit(":", 1)[1], flush=True)
        try:
            stop.wait()
        finally:
            server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
