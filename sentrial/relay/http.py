"""The relay's HTTP server: ``POST /v1/traces`` (OTLP/HTTP) and ``GET /stats`` (its counters)."""

from __future__ import annotations

import json
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler
from typing import Any

from sentrial.relay import otlp
from sentrial.relay.receiver import MAX_BODY, Relay, Reply
from sentrial.server.handler import NoLookupHTTPServer
from sentrial.server.local import address_text, listening

TRACES_PATH = "/v1/traces"


def read_body(handler: BaseHTTPRequestHandler) -> bytes | Reply:
    """The request's body (by Content-Length or chunked), or the 400/411/413 answer to give instead."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        return _read_chunked(handler)
    try:
        length = int(handler.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError(length)
    except ValueError:
        return _error(400, "invalid Content-Length")
    if length > MAX_BODY:
        return _error(413, f"the request body is larger than {MAX_BODY} bytes")
    return handler.rfile.read(length)


def _read_chunked(handler: BaseHTTPRequestHandler) -> bytes | Reply:
    body = bytearray()
    while True:
        line = handler.rfile.readline(1024)
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            return _error(400, "malformed chunked body")
        if size == 0:
            while handler.rfile.readline(1024).strip():  # trailers
                pass
            return bytes(body)
        if len(body) + size > MAX_BODY:
            return _error(413, f"the request body is larger than {MAX_BODY} bytes")
        body += handler.rfile.read(size)
        handler.rfile.readline(8)  # the chunk's CRLF


def _error(status: int, message: str) -> Reply:
    return Reply(status, otlp.error_body(otlp.JSON, status, message), otlp.JSON, {"Connection": "close"})


def send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    """Write ``reply`` as the handler's answer."""
    handler.send_response(reply.status)
    handler.send_header("Content-Type", reply.content_type)
    handler.send_header("Content-Length", str(len(reply.body)))
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(reply.body)
    if reply.headers.get("Connection") == "close":
        handler.close_connection = True


def receive_traces(handler: BaseHTTPRequestHandler, relay: Relay) -> Reply:
    """Read an OTLP/HTTP trace request off ``handler`` and give it to ``relay``."""
    body = read_body(handler)
    if isinstance(body, Reply):
        return body
    return relay.receive(body, handler.headers.get("Content-Type"), handler.headers.get("Content-Encoding"))


class _Handler(BaseHTTPRequestHandler):
    server: RelayServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        if path != TRACES_PATH:
            send(self, _error(404, f"no such endpoint: {path} (OTLP traces go to {TRACES_PATH})"))
            return
        try:
            reply = receive_traces(self, self.server.relay)
        except Exception as exc:
            if self.server.verbose:
                traceback.print_exc()
            reply = Reply(500, otlp.error_body(otlp.JSON, 13, f"internal error: {exc}"), otlp.JSON)
        send(self, reply)

    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/stats":
            send(self, _error(404, f"no such endpoint: {self.path}"))
            return
        send(self, Reply(200, json.dumps(self.server.relay.stats()).encode(), otlp.JSON))


class RelayServer(NoLookupHTTPServer):
    """The relay listening on ``host:port`` (port 0: any free one); ``start()`` serves from a thread."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, relay: Relay, host: str = "127.0.0.1", port: int = 4318, verbose: bool = False):
        """ListenError (naming host and port) when it cannot listen there."""
        self.relay = relay
        self.verbose = verbose
        self._thread: threading.Thread | None = None
        listening(host, port, self._bind)

    def _bind(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        """The base URL (the OTLP endpoint is ``url + "/v1/traces"``)."""
        host, port = self.server_address[:2]
        return f"http://{address_text(str(host), int(port))}"

    def start(self) -> RelayServer:
        """Serve from a daemon thread; returns self."""
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening, then deliver what the relay holds (at most ``timeout`` seconds)."""
        self.shutdown()
        if self._thread is not None:
            self._thread.join(timeout)
        self.server_close()
        self.relay.close(timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients hanging up unless verbose."""
        if self.verbose:
            print(f"error while serving {client_address}:", file=sys.stderr)
            traceback.print_exc()
