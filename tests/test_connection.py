"""The transport's HTTP/1.1 connection against scripted servers on 127.0.0.1 speaking raw HTTP.

The Sessions API server of the other tests answers one way only; these servers answer the ways a
real server or a proxy in front of it may: chunked bodies, bodies ended by closing, interim
answers, HTTP/1.0, closed idle connections, garbage, TLS and proxies.
"""

from __future__ import annotations

import http.client
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sentrial_otel_exporter.connection import MAX_BODY_BYTES, Connection

HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer secret"}
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"


@dataclass
class Received:
    """One request as the server read it."""

    connection: int
    head: bytes
    body: bytes


# An answer: the raw bytes to send back, and whether to close the connection after them.
Answer = tuple[bytes, bool]


@dataclass
class ScriptedServer:
    """Answers each request with the next scripted answer; records what it received."""

    answers: list[Answer]
    tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not select.select([self._listener], [], [], 0.05)[0]:
                continue
            sock, _ = self._listener.accept()
            self.connections += 1
            threading.Thread(target=self._handle, args=(sock, self.connections), daemon=True).start()

    def _handle(self, sock: socket.socket, number: int) -> None:
        if self.tls is not None:
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):  # the client did not trust us: nothing to serve
                sock.close()
                return
        with sock, sock.makefile("rb") as reader:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                self.received.append(Received(number, head, reader.read(length)))
                if not self.answers:  # out of script: keep the client waiting until the end
                    self._stop.wait()
                    return
                answer, close = self.answers.pop(0)
                sock.sendall(answer)
                if close:
                    return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(*answers: bytes | Answer, tls: ssl.SSLContext | None = None) -> ScriptedServer:
        script = [a if isinstance(a, tuple) else (a, False) for a in answers]
        server = ScriptedServer(script, tls)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Proxies only where a test sets them (the machine's own settings would send 127.0.0.1 away)."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


_made: list[Connection] = []


@pytest.fixture(autouse=True)
def close_connections() -> Iterator[None]:
    """Close what each test opened, as the transport does at shutdown (no socket left to the GC)."""
    yield
    while _made:
        _made.pop().close()


def connect(url: str, timeout: float = 5.0) -> Connection:
    connection = Connection(url, timeout, HEADERS)
    _made.append(connection)
    return connection


def test_request_is_framed_with_host_length_and_the_given_headers(
    serve: Callable[..., ScriptedServer],
) -> None:
    server = serve(OK)
    response = connect(server.url + "/base/").request("POST", "/api/sdk/events", b'{"a": 1}')

    assert (response.status, response.body, response.json()) == (200, b"{}", {})
    (request,) = server.received
    lines = request.head.decode("latin-1").split("\r\n")
    assert lines[0] == "POST /base/api/sdk/events HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}" in lines
    assert "Authorization: Bearer secret" in lines
    assert "Content-Length: 8" in lines
    assert request.body == b'{"a": 1}'


def test_a_kept_alive_connection_serves_several_requests(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(OK, OK, OK)
    connection = connect(server.url)
    for _ in range(3):
        assert connection.request("PATCH", "/x", b"{}").status == 200
    assert server.connections == 1


def test_pipelined_requests_are_written_at_once_and_answered_in_order(
    serve: Callable[..., ScriptedServer],
) -> None:
    server = serve(OK, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", OK)
    connection = connect(server.url)
    requests = [("POST", f"/x/{n}", b"{}") for n in range(3)]
    answers, failure = connection.pipeline(requests)
    assert failure is None
    assert [answer.status for answer in answers] == [200, 201, 200]
    assert [r.head.split(b" ")[1] for r in server.received] == [b"/x/0", b"/x/1", b"/x/2"]
    assert {r.connection for r in server.received} == {1}


def test_requests_behind_an_answer_that_closes_are_left_unanswered(
    serve: Callable[..., ScriptedServer],
) -> None:
    """The server answers the first with Connection: close: it never took the others."""
    server = serve((b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", True))
    connection = connect(server.url)
    answers, failure = connection.pipeline([("POST", "/x", b"{}"), ("POST", "/y", b"{}")])
    assert (len(answers), failure) == (1, None)
    assert not connection.is_open


def test_headers_are_lower_cased_and_repeated_ones_joined(serve: Callable[..., ScriptedServer]) -> None:
    answer = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nX-A: 1\r\nx-a: 2\r\n"
    answer += b"X-Bare-Lf: b\nContent-Length: 0\r\n\r\n"  # a line ended by LF alone, as some servers do
    server = serve(answer)
    response = connect(server.url).request("POST", "/x", b"{}")
    assert response.status == 429
    assert response.headers["retry-after"] == "3"
    assert response.headers["x-a"] == "1, 2"
    assert response.headers["x-bare-lf"] == "b"
    assert response.headers["content-length"] == "0"


def test_a_chunked_body_is_decoded_and_the_connection_kept(serve: Callable[..., ScriptedServer]) -> None:
    chunked = (
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1\r\n{"id"\r\n8\r\n: "s-1"}\r\n0\r\nX-Trailer: yes\r\n\r\n'
    )
    server = serve(chunked, OK)
    connection = connect(server.url)
    response = connection.request("POST", "/x", b"{}")
    assert response.json() == {"id": "s-1"}
    assert connection.request("POST", "/x", b"{}").status == 200
    assert server.connections == 1


def test_a_body_ended_by_closing_is_read_whole_and_not_reused(serve: Callable[..., ScriptedServer]) -> None:
    server = serve((b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 5000, True), OK)
    connection = connect(server.url)
    assert connection.request("POST", "/x", b"{}").body == b"x" * 5000
    assert connection.request("POST", "/x", b"{}").status == 200
    assert server.connections == 2


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}",
    ],
    ids=["connection-close", "http-1.0"],
)
def test_an_answer_that_ends_the_connection_is_not_reused(
    serve: Callable[..., ScriptedServer], answer: bytes
) -> None:
    server = serve((answer, True), OK)
    connection = connect(server.url)
    assert connection.request("POST", "/x", b"{}").body == b"{}"
    assert connection.request("POST", "/x", b"{}").status == 200
    assert server.connections == 2


def test_http_1_0_keep_alive_is_honoured(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}", OK)
    connection = connect(server.url)
    connection.request("POST", "/x", b"{}")
    connection.request("POST", "/x", b"{}")
    assert server.connections == 1


def test_interim_answers_are_skipped(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK)
    assert connect(server.url).request("POST", "/x", b"{}").status == 200


def test_no_content_answers_have_no_body(serve: Callable[..., ScriptedServer]) -> None:
    server = serve(b"HTTP/1.1 204 No Content\r\n\r\n", OK)
    connection = connect(server.url)
    assert connection.request("PATCH", "/x", b"{}").body == b""
    assert connection.request("PATCH", "/x", b"{}").status == 200
    assert server.connections == 1


def test_an_oversized_body_is_cut_and_the_connection_dropped(serve: Callable[..., ScriptedServer]) -> None:
    size = MAX_BODY_BYTES + 100_000
    server = serve((b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"y" * size, True), OK)
    connection = connect(server.url)
    assert len(connection.request("POST", "/x", b"{}").body) == MAX_BODY_BYTES
    assert connection.request("POST", "/x", b"{}").status == 200
    assert server.connections == 2


@pytest.mark.parametrize(
    "garbage",
    [
        b"<html>not http</html>\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000 + b"\r\n\r\n",
    ],
    ids=["not-http", "no-status", "bad-header", "bad-length", "bad-chunk", "too-many-headers", "long-line"],
)
def test_garbage_raises_an_http_error(serve: Callable[..., ScriptedServer], garbage: bytes) -> None:
    server = serve((garbage, True))
    with pytest.raises(http.client.HTTPException):
        connect(server.url).request("POST", "/x", b"{}")


def test_a_short_body_raises_incomplete_read(serve: Callable[..., ScriptedServer]) -> None:
    server = serve((b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}", True))
    with pytest.raises(http.client.IncompleteRead):
        connect(server.url).request("POST", "/x", b"{}")


def test_an_idle_connection_closed_by_the_server_is_reopened_once(
    serve: Callable[..., ScriptedServer],
) -> None:
    """The server closes a kept-alive connection without saying so (an idle timeout)."""
    server = serve((OK, True), OK)
    connection = connect(server.url)
    connection.request("POST", "/x", b"{}")
    assert connection.request("POST", "/x", b'{"n": 2}').status == 200
    assert server.connections == 2
    assert [r.body for r in server.received] == [b"{}", b'{"n": 2}']


def test_a_retry_that_fails_leaves_no_connection_behind(serve: Callable[..., ScriptedServer]) -> None:
    """The idle connection was closed, and the new one answers garbage: the next request starts afresh."""
    server = serve((OK, True), b"<html>oops</html>\r\n\r\n", OK)
    connection = connect(server.url)
    connection.request("POST", "/x", b"{}")
    with pytest.raises(http.client.BadStatusLine):
        connection.request("POST", "/x", b"{}")
    assert connection.request("POST", "/x", b"{}").status == 200
    assert server.connections == 3


def test_a_fresh_connection_closed_without_an_answer_raises(serve: Callable[..., ScriptedServer]) -> None:
    server = serve((b"", True))
    with pytest.raises(http.client.RemoteDisconnected):
        connect(server.url).request("POST", "/x", b"{}")


def test_a_refused_connection_raises_os_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(OSError):
        connect(f"http://127.0.0.1:{port}").request("POST", "/x", b"{}")


def test_failures_are_described_with_the_address_tried(serve: Callable[..., ScriptedServer]) -> None:
    """A refused connection, a server that does not answer in time and one that hangs up: each
    failure is told in words naming the host and port, as the drop warnings show them."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        refused = connect(f"http://127.0.0.1:{port}")
        with pytest.raises(OSError) as raised:
            refused.request("POST", "/x", b"{}")
        assert refused.describe_failure(raised.value) == f"connection refused by 127.0.0.1:{port}"

    silent = serve()  # reads the request, never answers
    slow = connect(silent.url, timeout=0.2)
    with pytest.raises(OSError) as raised:
        slow.request("POST", "/x", b"{}")
    assert slow.describe_failure(raised.value) == f"no answer from {silent.url[7:]} within 0.2 s"

    hanging_up = serve((b"", True))
    rude = connect(hanging_up.url)
    with pytest.raises(http.client.HTTPException) as failed:
        rude.request("POST", "/x", b"{}")
    assert (
        rude.describe_failure(failed.value) == f"connection closed by {hanging_up.url[7:]} before it answered"
    )


def test_close_from_another_thread_ends_a_waiting_request(serve: Callable[..., ScriptedServer]) -> None:
    server = serve()  # reads the request, never answers
    connection = connect(server.url, timeout=30)
    failed: list[BaseException] = []

    def send() -> None:
        try:
            connection.request("POST", "/x", b"{}")
        except BaseException as error:  # the test looks at it
            failed.append(error)

    sender = threading.Thread(target=send)
    sender.start()
    deadline = time.monotonic() + 5
    while not server.received and time.monotonic() < deadline:
        time.sleep(0.01)
    connection.close()
    # The request would otherwise wait out its 30 s timeout: ending within half of it is the close's doing.
    sender.join(timeout=15)
    assert not sender.is_alive()
    assert failed and isinstance(failed[0], (OSError, http.client.HTTPException))


def test_a_plain_http_proxy_gets_the_absolute_url(
    serve: Callable[..., ScriptedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = serve(OK)
    monkeypatch.setenv("http_proxy", proxy.url)
    response = connect("http://sessions.example:8080/v1").request("POST", "/api/sdk/events", b"{}")
    assert response.status == 200
    first_line = proxy.received[0].head.split(b"\r\n")[0]
    assert first_line == b"POST http://sessions.example:8080/v1/api/sdk/events HTTP/1.1"


# --- TLS -------------------------------------------------------------------------------------------------
@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    command += " -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True
    )
    return cert, key


def _server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_https_verifies_the_server_and_keeps_the_connection(
    serve: Callable[..., ScriptedServer], tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tls_files
    server = serve(OK, OK, tls=_server_tls(cert, key))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust this certificate, as a private CA would be
    connection = connect(server.url)
    assert connection.request("POST", "/x", b"{}").status == 200
    assert connection.request("POST", "/x", b"{}").status == 200
    assert server.connections == 1


def test_https_refuses_an_untrusted_certificate(
    serve: Callable[..., ScriptedServer], tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tls_files
    server = serve(OK, tls=_server_tls(cert, key))
    monkeypatch.setenv("SSL_CERT_FILE", str(cert.with_name("missing.pem")))
    with pytest.raises(ssl.SSLError):
        connect(server.url).request("POST", "/x", b"{}")


class TunnelProxy:
    """A proxy that answers CONNECT and then relays bytes both ways."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        client, _ = self._listener.accept()
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += client.recv(1)
        self.requests.append(head)
        host, _, port = head.split()[1].decode().rpartition(":")
        upstream = socket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._relay, args=(source, target), daemon=True).start()

    @staticmethod
    def _relay(source: socket.socket, target: socket.socket) -> None:
        while data := source.recv(65536):
            target.sendall(data)
        target.close()

    def stop(self) -> None:
        self._listener.close()


def test_https_goes_through_a_proxy_by_connect(
    serve: Callable[..., ScriptedServer], tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = tls_files
    server = serve(OK, tls=_server_tls(cert, key))
    proxy = TunnelProxy()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        monkeypatch.setenv("https_proxy", proxy.url)
        assert connect(server.url).request("POST", "/x", b"{}").status == 200
        assert proxy.requests[0].startswith(f"CONNECT 127.0.0.1:{server.port} HTTP/1.1\r\n".encode())
        assert server.received[0].head.startswith(b"POST /x HTTP/1.1\r\n")
    finally:
        proxy.stop()
