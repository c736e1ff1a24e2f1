"""Test helper for the framework adapter tests: an ASGI app served on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


class Served:
    """``with Served(app) as s:`` serves ``app`` with uvicorn in a thread on 127.0.0.1 at
    ``s.url``, and stops it (within 15 s) when the block ends."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"Expected the test server on {self.url} to start in 30 s.")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
