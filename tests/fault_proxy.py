"""A small HTTP proxy on 127.0.0.1 that can delay, drop, fail or refuse requests.

Tests put it between the app and a real `opencode serve` and switch its `mode`:

- "pass": forward untouched (streamed, so server-sent events flow too)
- "delay": wait `delay` seconds, then forward
- "drop": close the connection without a response
- "error": respond 500 with an OpenCode-style error body
- "unauthorized": answer 401 as OpenCode does for a wrong password
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

HOP_BY_HOP = {"connection", "transfer-encoding", "keep-alive", "content-length"}


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = "pass"
        self.delay = 0.0
        self.requests: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: each response ends when the connection closes, so streamed
            # bodies need no chunked encoding.
            protocol_version = "HTTP/1.0"

            def log_message(self, format, *args):  # noqa: A002
                pass

            def _handle(self) -> None:
                proxy._record(self.path)
                mode = proxy.mode
                if mode == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if mode == "error":
                    self._reply(
                        500, {"name": "UnknownError", "data": {"message": "boom"}}
                    )
                    return
                if mode == "unauthorized":
                    self._reply(
                        401,
                        {
                            "_tag": "UnauthorizedError",
                            "message": "Authentication required",
                        },
                    )
                    return
                if mode == "delay":
                    time.sleep(proxy.delay)
                self._forward()

            def _reply(self, status: int, body: dict) -> None:
                encoded = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {
                    key: value
                    for key, value in self.headers.items()
                    if key.lower() not in HOP_BY_HOP and key.lower() != "host"
                }
                try:
                    with httpx.stream(
                        self.command,
                        proxy.upstream + self.path,
                        headers=headers,
                        content=body,
                        timeout=None,
                    ) as response:
                        self.send_response(response.status_code)
                        for key, value in response.headers.items():
                            if key.lower() not in HOP_BY_HOP:
                                self.send_header(key, value)
                        self.end_headers()
                        for chunk in response.iter_raw():
                            self.wfile.write(chunk)
                            self.wfile.flush()
                except (httpx.HTTPError, OSError):
                    self.close_connection = True

            do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _handle  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _record(self, path: str) -> None:
        with self._lock:
            self.requests.append((time.monotonic(), path))

    def requests_since(self, moment: float, containing: str = "") -> int:
        with self._lock:
            return sum(
                1 for at, path in self.requests if at >= moment and containing in path
            )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
