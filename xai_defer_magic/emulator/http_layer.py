"""The thin HTTP layer: read the body, ask the emulator, write the answer with Content-Length.

It also acts out the delivery faults a reply carries (a dropped connection, a body that
trickles out, a body cut halfway), since only the socket can do those.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from .replies import INTERNAL, Outcome, Reply, error_reply
from .traffic import Traffic


class Application(Protocol):
    """What the socket needs from the emulator: answer a request, log it, say whether to talk."""

    @property
    def verbose(self) -> bool: ...

    @property
    def traffic(self) -> Traffic: ...

    def handle(self, method: str, target: str, auth: str | None, raw: bytes) -> Outcome: ...


class Server(ThreadingHTTPServer):
    """A threaded HTTP server that hands every request to one ``Application``."""

    daemon_threads = True
    request_queue_size = 1024  # benchmarks open hundreds of connections at once

    def __init__(self, address: tuple[str, int], app: Application) -> None:
        self.app = app
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    """One connection: keep-alive HTTP/1.1, every method routed through ``Application.handle``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    server_version = "xai-defer-emulator/0.1"
    sys_version = ""
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.app.traffic.opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.app.traffic.closed(self.connection)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def _serve(self, method: str) -> None:
        app = self.server.app
        raw = self._read_body()
        try:
            outcome = app.handle(method, self.path, self.headers.get("Authorization"), raw)
        except Exception as exc:  # an emulator bug must still produce an answer
            traceback.print_exc(file=sys.stderr)
            outcome = Outcome(error_reply(500, INTERNAL, f"Emulator error: {type(exc).__name__}"))
        if outcome.record:
            app.traffic.record(method, self.path, outcome)
        self._send(outcome.reply)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, reply: Reply) -> None:
        if reply.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.trickle_seconds or reply.drop_midway:
            self._write_slowly(reply)
        elif reply.body:
            self.wfile.write(reply.body)

    def _write_slowly(self, reply: Reply) -> None:
        """A delivery fault: the body in ten pieces over ``trickle_seconds``, or cut halfway."""
        body = reply.body
        cut = len(body) // 2 if reply.drop_midway else len(body)
        pieces = [body[i:i + max(1, cut // 10)] for i in range(0, cut, max(1, cut // 10))]
        with contextlib.suppress(OSError):
            for piece in pieces:
                self.wfile.write(piece)
                self.wfile.flush()
                time.sleep(reply.trickle_seconds / len(pieces))
            if reply.drop_midway:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.verbose:
            super().log_message(format, *args)
