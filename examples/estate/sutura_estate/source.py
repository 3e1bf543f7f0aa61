"""The estate's data source: a small orders API on 127.0.0.1 whose faults the driver controls.

The Airflow load reads ``GET /orders`` with a real HTTP client, so every fault is real:

- ``slow(n)``: the next ``n`` requests answer after ``delay`` seconds, longer than the
  client's timeout (the client raises ``TimeoutError``);
- ``stop()``: the listening socket is closed (the client raises ``ConnectionRefusedError``);
  ``start()`` serves again on the same port;
- ``publish(rows)``: what the next request returns (a day's batch; add, drop or retype
  columns to change the schema).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["OrdersSource"]


class OrdersSource:
    """A threaded HTTP server holding one batch of orders."""

    def __init__(self, port: int = 0, *, delay: float = 4.0) -> None:
        self.port = port
        self.delay = delay
        self.rows: list[dict[str, Any]] = []
        self.requests = 0  # answered or attempted, since start
        self._slow = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/orders"

    @property
    def up(self) -> bool:
        return self._server is not None

    def publish(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            self.rows = [dict(r) for r in rows]

    def slow(self, n: int = 1) -> None:
        with self._lock:
            self._slow = n

    def start(self) -> "OrdersSource":
        if self._server is not None:
            return self
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                with source._lock:
                    source.requests += 1
                    slow = source._slow > 0
                    source._slow -= 1 if slow else 0
                    body = json.dumps(source.rows).encode()
                if slow:
                    time.sleep(source.delay)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (timed out) first

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="orders-source", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None

    def __enter__(self) -> "OrdersSource":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
