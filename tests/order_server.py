"""A small Sessions API stand-in on 127.0.0.1 that checks the order it receives, per session.

It reads each connection's requests itself, so it sees how the client used the connection: how
many complete requests were already waiting when it began answering one (more than one: the client
pipelined), and it can behave like servers that take no pipelined requests (``mode``):

- ``"pipelining"``: answers every request in order, keeping the connection (HTTP/1.1).
- ``"close"``: answers the first request of a connection with ``Connection: close`` and closes it,
  unread requests and all, as a server without keep-alive does.
- ``"discard"``: answers the first request it finds in what it read and throws the rest of those
  bytes away, keeping the connection: a server that does not expect a pipelined request.

Openings answer ``{"id": <the id sent>}``; every other call ``{}``. What was processed is kept per
session as ``"open"``, each event's ``toolInput["i"]``, ``"complete"``, in order.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import defaultdict
from typing import Any

_OK = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n{extra}\r\n"


class OrderServer:
    """Serves from daemon threads until ``stop()``; see the module's docstring for ``mode``."""

    def __init__(self, mode: str = "pipelining") -> None:
        self.mode = mode
        self.sequences: dict[str, list[Any]] = defaultdict(list)
        self.most_waiting = 0  # the most complete requests found waiting when answering one
        self.connections = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        """Stop accepting and close every connection."""
        self._listener.close()
        with self._lock:
            for sock in self._open:
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:  # stopped
                return
            with self._lock:
                self.connections += 1
                self._open.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        buffer = b""
        with sock:
            while True:
                requests, buffer = _complete_requests(buffer)
                if not requests:
                    try:
                        chunk = sock.recv(65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    buffer += chunk
                    continue
                with self._lock:
                    self.most_waiting = max(self.most_waiting, len(requests))
                if self.mode != "pipelining":
                    requests, buffer = requests[:1], b""  # the rest is never read
                close = self.mode == "close"
                for method, path, body in requests:
                    answer = self._process(method, path, body)
                    extra = "Connection: close\r\n" if close else ""
                    head = _OK.format(length=len(answer), extra=extra).encode()
                    try:
                        sock.sendall(head + answer)
                    except OSError:
                        return
                if close:
                    return

    def _process(self, method: str, path: str, body: dict[str, Any]) -> bytes:
        with self._lock:
            if method == "POST" and path == "/api/sdk/sessions":
                self.sequences[body["id"]].append("open")
                return json.dumps({"id": body["id"]}).encode()
            if method == "POST" and path == "/api/sdk/events":
                self.sequences[body["sessionId"]].append(body["toolInput"]["i"])
            elif method == "PATCH":
                self.sequences[path.rsplit("/", 1)[-1]].append("complete")
        return b"{}"


def _complete_requests(buffer: bytes) -> tuple[list[tuple[str, str, dict[str, Any]]], bytes]:
    """The complete requests at the start of ``buffer`` (method, path, JSON body) and the rest."""
    requests = []
    while b"\r\n\r\n" in buffer:
        head, rest = buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(rest) < length:
            break
        requests.append((method, path, json.loads(rest[:length] or b"{}")))
        buffer = rest[length:]
    return requests, buffer
