"""A kept-alive HTTP/1.1 connection to one server, framed by hand over a plain or TLS socket.

The transport sends one request per event (the Sessions API has no batch call), so the client's
CPU per request decides both the delivery rate and how much of the application's GIL the
delivery takes. A request through ``http.client`` (which parses each answer's headers with the
``email`` package) cost about 240 us of CPU against the local server on two cores; written in
one ``sendall`` and read with a few ``readline`` calls, as here, about 60 us. The Sessions API's
answers are small and plain, but this still speaks the parts of HTTP/1.1 that servers and the
proxies in front of them use: ``Content-Length`` and chunked bodies, bodies ended by closing,
interim ``1xx`` answers, ``Connection: close`` and HTTP/1.0. Proxies named by the environment
(``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``) are honoured; HTTPS goes through them by ``CONNECT``.

Failures raise ``OSError`` (refused, reset, timed out) or ``http.client.HTTPException`` (an answer
that is not HTTP), the same errors as ``http.client``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

# Raised when a kept-alive connection turned out to be closed by the server before the request.
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
# Limits on what a server may send, so that garbage cannot exhaust memory.
_MAX_LINE = 65_536
_MAX_HEADERS = 100
# The Sessions API answers with a few hundred bytes; past this the rest is not read and the
# connection is closed instead of kept.
MAX_BODY_BYTES = 1_048_576
# Request heads kept per connection: the API's fixed paths (events, sessions) and a few of the
# paths with a session id in them.
_KEPT_HEADS = 32


@dataclass(frozen=True)
class Response:
    """A status, lower-cased headers and the body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body)


class Connection:
    """One kept-alive connection (not thread-safe: one per thread); reconnects when it has to."""

    def __init__(self, base_url: str, timeout: float, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        self._base_path = parts.path.rstrip("/")
        self._timeout = timeout
        self._proxy = _proxy_for(parts.scheme, self._host)
        # Where a connection goes, for failures: "127.0.0.1:9", or "the proxy 10.0.0.2:3128".
        host, port = self._proxy or (self._host, self._port)
        self._address = ("the proxy " if self._proxy else "") + _authority(host, port, default_port=0)
        authority = _authority(self._host, self._port, 443 if self._https else 80)
        # A plain-HTTP proxy takes the absolute URL; everything else the path.
        self._url_prefix = f"http://{authority}" if self._proxy and not self._https else ""
        fixed = {"Host": authority, **headers}
        self._fixed_headers = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        # Each (method, path)'s request head up to its Content-Length value, as bytes: a request then
        # costs one formatting of bytes (a session's own paths are not kept: a few calls each).
        self._heads: dict[tuple[str, str], bytes] = {}
        self._socket: socket.socket | None = None
        self._reader: IO[bytes] | None = None

    @property
    def is_open(self) -> bool:
        """Whether a connection is open (the server kept the last one alive)."""
        return self._socket is not None

    def request(self, method: str, path: str, body: bytes | None = None) -> Response:
        """Send one request and read the whole answer; OSError/HTTPException when the network fails."""
        answers, failure = self.pipeline([(method, path, body)])
        if failure is not None:
            raise failure
        return answers[0]

    def pipeline(
        self, requests: Sequence[tuple[str, str, bytes | None]]
    ) -> tuple[list[Response], OSError | http.client.HTTPException | None]:
        """Send ``requests`` (method, path, body) back to back and read their answers in order.

        Returns the answers read and the network failure that stopped the reading, if any. Fewer
        answers than requests without a failure: the server closed the connection after the last
        answer, so it never took the rest (HTTP/1.1 pipelining, RFC 9112 section 9.3.2).
        """
        if len(requests) == 1:
            method, path, body = requests[0]
            message, methods = self._message(method, path, body), [method]
        else:
            message = b"".join([self._message(method, path, body) for method, path, body in requests])
            methods = [method for method, _, _ in requests]
        reused = self._socket is not None
        answers, failure = self._exchange(methods, message)
        if not answers and reused and isinstance(failure, _STALE_CONNECTION):
            # The server had closed the idle connection: once more, on a new one.
            answers, failure = self._exchange(methods, message)
        return answers, failure

    def _message(self, method: str, path: str, body: bytes | None) -> bytes:
        head = self._heads.get((method, path))
        if head is None:
            head = (
                f"{method} {self._url_prefix}{self._base_path}{path} HTTP/1.1\r\n{self._fixed_headers}"
                "Content-Length: "
            ).encode("latin-1")
            if len(self._heads) < _KEPT_HEADS:
                self._heads[method, path] = head
        if body is None:
            return head + b"0\r\n\r\n"
        return b"%s%d\r\n\r\n%s" % (head, len(body), body)

    def describe_failure(self, exc: BaseException) -> str:
        """A network failure of this connection in words that name where it went:
        "connection refused by 127.0.0.1:9", "no answer from api.example.com:443 within 10 s"."""
        where = self._address
        if isinstance(exc, ConnectionRefusedError):
            return f"connection refused by {where}"
        if isinstance(exc, TimeoutError):  # socket.timeout too
            return f"no answer from {where} within {self._timeout:g} s"
        if isinstance(exc, socket.gaierror):
            return f"cannot resolve the address of {where} ({exc.strerror or exc})"
        if isinstance(exc, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
            return f"connection closed by {where} before it answered"
        if isinstance(exc, ssl.SSLError):
            return f"TLS failure with {where} ({exc.reason or exc})"
        if isinstance(exc, http.client.HTTPException):
            return f"an answer from {where} that is not HTTP ({type(exc).__name__})"
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return f"{detail} talking to {where}"

    def close(self) -> None:
        """Close the connection; the next request opens a new one.

        Safe to call from another thread: a request waiting on the server fails at once.
        """
        sock, reader = self._socket, self._reader
        self._socket = self._reader = None
        if sock is None or reader is None:
            return
        with contextlib.suppress(OSError):  # OSError: not connected any more
            sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked reading; close() alone would not
        reader.close()
        sock.close()

    def _exchange(
        self, methods: list[str], message: bytes
    ) -> tuple[list[Response], OSError | http.client.HTTPException | None]:
        answers: list[Response] = []
        try:
            if self._socket is None or self._reader is None:
                self._socket, self._reader = self._open()
            sock, reader = self._socket, self._reader
            sock.sendall(message)
            for method in methods:
                response, keep_alive = _read_answer(reader, method)
                answers.append(response)
                if not keep_alive:
                    self.close()
                    break
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            return answers, exc
        except BaseException:
            self.close()
            raise
        return answers, None

    def _open(self) -> tuple[socket.socket, IO[bytes]]:
        target = self._proxy or (self._host, self._port)
        sock = socket.create_connection(target, timeout=self._timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._https:
                if self._proxy:
                    _open_tunnel(sock, _authority(self._host, self._port, 443))
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            sock.close()
            raise
        return sock, sock.makefile("rb")


def _read_answer(reader: IO[bytes], method: str) -> tuple[Response, bool]:
    try:
        return read_response(reader, method)
    except ValueError:
        if not reader.closed:
            raise
        # close() from another thread won the race against this read: a network failure,
        # retried like one, not the ValueError of reading a closed file.
        raise ConnectionAbortedError("the connection was closed while waiting for the answer") from None


def read_response(reader: IO[bytes], method: str) -> tuple[Response, bool]:
    """Read one answer from ``reader``; returns it and whether the connection may be reused."""
    while True:
        version, status, headers = _read_head(reader)
        if not 100 <= status < 200:
            break  # interim answers (100 Continue, 103 Early Hints) are skipped
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    if method == "HEAD" or status in (204, 304):
        return Response(status, headers, b""), keep_alive
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, complete = _read_chunked(reader)
        return Response(status, headers, body), keep_alive and complete
    length = headers.get("content-length")
    if length is None:  # the body ends when the server closes the connection
        return Response(status, headers, reader.read(MAX_BODY_BYTES)), False
    if not length.strip().isdigit():
        raise http.client.HTTPException(f"invalid Content-Length: {length[:40]!r}")
    size = int(length)
    body = reader.read(min(size, MAX_BODY_BYTES))
    if len(body) < min(size, MAX_BODY_BYTES):
        raise http.client.IncompleteRead(body, size - len(body))
    return Response(status, headers, body), keep_alive and size <= MAX_BODY_BYTES


def _read_head(reader: IO[bytes]) -> tuple[str, int, dict[str, str]]:
    """An answer's status line and header fields. When the whole head has arrived (it mostly comes
    in one packet) it is taken in one read and split, else read line by line."""
    # What is buffered, at most the reader's buffer (8 KiB: below _MAX_LINE); one read if nothing is.
    arrived = reader.peek(_MAX_LINE)  # type: ignore[attr-defined]  # the socket's BufferedReader
    end = arrived.find(b"\r\n\r\n")
    if end < 0:
        version, status = _read_status_line(reader)
        return version, status, _read_headers(reader)
    # A line may also end with a bare LF, as a line read by readline() does.
    status_line, _, fields = reader.read(end + 4)[:end].replace(b"\r\n", b"\n").partition(b"\n")
    version, status = _parse_status_line(status_line)
    lines = fields.decode("latin-1").split("\n") if fields else []
    if len(lines) > _MAX_HEADERS:
        raise http.client.HTTPException(f"more than {_MAX_HEADERS} header fields")
    return version, status, _fields_of(lines)


def _read_line(reader: IO[bytes]) -> bytes:
    line = reader.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise http.client.LineTooLong("line in the answer")
    return line


def _read_status_line(reader: IO[bytes]) -> tuple[str, int]:
    line = _read_line(reader)
    if not line:
        raise http.client.RemoteDisconnected("the server closed the connection without answering")
    return _parse_status_line(line)


def _parse_status_line(line: bytes) -> tuple[str, int]:
    parts = line.split(None, 2)
    well_formed = len(parts) >= 2 and parts[0] in (b"HTTP/1.1", b"HTTP/1.0") and len(parts[1]) == 3
    if not well_formed or not parts[1].isdigit():
        raise http.client.BadStatusLine(repr(line[:80]))
    return parts[0].decode("ascii"), int(parts[1])


def _read_headers(reader: IO[bytes]) -> dict[str, str]:
    """Header fields until the blank line, read line by line."""
    lines: list[str] = []
    for _ in range(_MAX_HEADERS + 1):
        line = _read_line(reader)
        if line in (b"\r\n", b"\n"):
            return _fields_of(lines)
        if not line:
            raise http.client.IncompleteRead(b"", None)
        lines.append(line.decode("latin-1"))
    raise http.client.HTTPException(f"more than {_MAX_HEADERS} header fields")


def _fields_of(lines: list[str]) -> dict[str, str]:
    """Header field lines as a dict: names lower-cased, repeated fields joined by commas."""
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon:
            raise http.client.HTTPException(f"malformed header line: {line[:80]!r}")
        key, text = name.strip().lower(), value.strip()
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _read_chunked(reader: IO[bytes]) -> tuple[bytes, bool]:
    """A chunked body (at most MAX_BODY_BYTES of it) and whether it was read to its end."""
    parts: list[bytes] = []
    kept = 0
    while True:
        size_text = _read_line(reader).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise http.client.HTTPException(f"invalid chunk size: {size_text[:40]!r}") from None
        if size == 0:
            break
        if kept + size > MAX_BODY_BYTES:
            parts.append(reader.read(MAX_BODY_BYTES - kept))
            return b"".join(parts), False
        chunk = reader.read(size)
        if len(chunk) < size or _read_line(reader) not in (b"\r\n", b"\n"):
            raise http.client.IncompleteRead(chunk, size - len(chunk))
        parts.append(chunk)
        kept += size
    _read_headers(reader)  # trailer fields, if any, end with a blank line
    return b"".join(parts), True


def _open_tunnel(sock: socket.socket, authority: str) -> None:
    """Ask the proxy on ``sock`` for a tunnel to ``authority`` (HTTPS through a proxy)."""
    sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode("latin-1"))
    with sock.makefile("rb") as reader:
        version, status = _read_status_line(reader)
        _read_headers(reader)
    if status != 200:
        raise OSError(f"the proxy refused a tunnel to {authority}: HTTP {status} ({version})")


def _authority(host: str, port: int, default_port: int) -> str:
    """host[:port] as the Host header and CONNECT write it (IPv6 addresses in brackets)."""
    name = f"[{host}]" if ":" in host else host
    return name if port == default_port else f"{name}:{port}"


def _proxy_for(scheme: str, host: str) -> tuple[str, int] | None:
    """(host, port) of the proxy the environment names for this scheme and host, if any."""
    if urllib.request.proxy_bypass(host):
        return None
    proxy = urllib.request.getproxies().get(scheme)
    if not proxy:
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or 8080
