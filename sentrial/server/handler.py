"""The HTTP layer: a threading server that can close its open connections, request parsing,
routing to the endpoints, and answers with a Content-Length (HTTP/1.1 keep-alive)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sentrial.server import assets, auth, experiment_routes, page, page_list, page_session, queries, validate
from sentrial.server.state import State
from sentrial.server.store import UnknownSession
from sentrial.server.validate import ApiError

MAX_BODY = 32 * 1024 * 1024
OTLP_TRACES_PATH = "/v1/traces"  # OTLP/HTTP's path: OTEL_EXPORTER_OTLP_ENDPOINT may name this server
# A 401 must name a scheme; for Bearer, browsers show the answer's page (the sign-in form), no dialog.
_CHALLENGE = {"WWW-Authenticate": "Bearer"}
# Sent with every answer: the pages run only this server's own script and style (no inline code, so
# a value that slipped through escaping still runs nothing), and no answer is sniffed as another type.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class Response:
    """An answer to send: status, body bytes and headers beyond Content-Type/Length."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False


def json_response(status: int, value: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return Response(status, json.dumps(value).encode(), headers=dict(headers or {}))


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """A JSON error answer: ``{"error": message}``."""
    return json_response(status, {"error": message}, headers)


def html_response(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    """An HTML page."""
    return Response(
        status, text.encode(), content_type="text/html; charset=utf-8", headers=dict(headers or {})
    )


@dataclass
class Request:
    """A parsed request as the endpoints see it."""

    state: State
    params: dict[str, str]
    json: Any
    json_error: str | None
    query: dict[str, list[str]] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        """The JSON object body; ApiError(400) when it is missing, malformed or not an object."""
        if self.json_error is not None:
            raise ApiError(400, self.json_error)
        if not isinstance(self.json, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return self.json


def _create_session(req: Request) -> Response:
    session, _ = req.state.store.create_session(validate.session_create(req.body()))
    return json_response(200, session)


def _list_sessions(req: Request) -> Response:
    query = queries.parse_list_query(req.query)
    return json_response(200, req.state.store.read(lambda db: queries.list_sessions(db, query)))


def _get_session(req: Request) -> Response:
    session = req.state.store.session(req.params["id"])
    if session is None:
        raise ApiError(404, f"unknown session '{req.params['id']}'")
    return json_response(200, session)


def _complete_session(req: Request) -> Response:
    session = req.state.store.complete_session(req.params["id"], validate.session_complete(req.body()))
    if session is None:
        raise ApiError(404, f"unknown session '{req.params['id']}'")
    return json_response(200, session)


def _add_event(req: Request) -> Response:
    event = validate.event(req.body())
    try:
        stored, _ = req.state.store.add_event(event)
    except UnknownSession:
        raise ApiError(404, f"unknown session '{event['sessionId']}'") from None
    return json_response(200, stored)


def _pii_config(req: Request) -> Response:
    config = req.state.pii_config
    return json_response(200, {} if config is None else {"config": config})


def _page_query(req: Request) -> queries.ListQuery:
    query = queries.parse_list_query(req.query, default_descending=True)
    return query if query.limit is not None else replace(query, limit=page_list.PAGE_SIZE)


def _index_page(req: Request) -> Response:
    try:
        query = _page_query(req)
    except ApiError as exc:
        return html_response(422, page.message_page("Cannot show these sessions", exc.message))
    listed, agents = req.state.store.read(lambda db: (queries.list_sessions(db, query), queries.agents(db)))
    return html_response(200, page_list.index(listed, query, agents))


def _live_sessions(req: Request) -> Response:
    """The parts of the list page that change, for its script to swap in (live updates)."""
    query = _page_query(req)
    listed = req.state.store.read(lambda db: queries.list_sessions(db, query))
    return json_response(200, page_list.live_parts(listed, query))


def _session_page(req: Request) -> Response:
    session_id = req.params["id"]
    tree, found = req.state.store.read(
        lambda db: (queries.session_tree(db, session_id), queries.tree_version(db, session_id))
    )
    if tree is None or found is None:
        return html_response(404, page.not_found(session_id))
    return html_response(200, page_session.session(tree, *found))


def _live_session(req: Request) -> Response:
    """What a session's page needs to stay up to date: its ``version`` and whether a session of it is
    still ``active``, and when the version differs from the one the page has (``?version=``), the
    parts of the page that change. A page that is current costs one small query."""
    session_id = req.params["id"]
    sent = req.query.get("version")
    known = sent[-1] if sent else None
    answer = req.state.store.read(lambda db: queries.tree_changes(db, session_id, known))
    if answer is None:
        raise ApiError(404, f"unknown session '{session_id}'")
    version, active, tree = answer
    parts = {} if tree is None else page_session.live_parts(tree)
    return json_response(200, {"version": version, "active": active, **parts})


def _conversation_page(req: Request) -> Response:
    convo_id = req.params["id"]
    sessions = req.state.store.read(lambda db: queries.conversation(db, convo_id))
    return html_response(200 if sessions else 404, page_list.conversation(convo_id, sessions))


def _asset(req: Request) -> Response:
    found = assets.get(req.params["name"])
    if found is None:
        raise ApiError(404, f"no such file: {req.params['name']}")
    content_type, body = found
    return Response(200, body, content_type=content_type, headers={"Cache-Control": "no-cache"})


_Endpoint = Callable[[Request], Response]
_ROUTES: list[tuple[re.Pattern[str], dict[str, _Endpoint]]] = [
    (re.compile(r"/api/sdk/sessions"), {"GET": _list_sessions, "POST": _create_session}),
    (re.compile(r"/api/sdk/sessions/(?P<id>[^/]+)"), {"GET": _get_session, "PATCH": _complete_session}),
    (re.compile(r"/api/sdk/events"), {"POST": _add_event}),
    (re.compile(r"/api/sdk/pii-config"), {"GET": _pii_config}),
    (re.compile(r"/"), {"GET": _index_page}),
    (re.compile(r"/live/sessions"), {"GET": _live_sessions}),
    (re.compile(r"/live/sessions/(?P<id>[^/]+)"), {"GET": _live_session}),
    (re.compile(r"/sessions/(?P<id>[^/]+)"), {"GET": _session_page}),
    (re.compile(r"/conversations/(?P<id>[^/]+)"), {"GET": _conversation_page}),
    (re.compile(assets.PREFIX + r"(?P<name>[^/]+)"), {"GET": _asset}),
    *experiment_routes.ROUTES,
]


def _reject_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_json(raw: bytes) -> tuple[Any, str | None]:
    if not raw:
        return None, "the request body is empty"
    try:
        return json.loads(raw, parse_constant=_reject_json_constant), None
    except (ValueError, RecursionError) as exc:
        return None, f"malformed JSON: {exc}"


class Handler(BaseHTTPRequestHandler):
    """Reads one request at a time off a keep-alive connection and answers it."""

    server: HTTPServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def setup(self) -> None:
        """Register the connection so that stopping the server can close it."""
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        """Unregister the connection."""
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet unless the server is verbose."""
        if self.server.state.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        """Answer any method through the same path: routing decides what is allowed."""
        state = self.server.state
        try:
            response = self._respond(state)
        except Exception as exc:
            if state.verbose:
                traceback.print_exc()
            response = error_response(500, f"internal error: {type(exc).__name__}: {exc}")
        if state.delay_ms > 0:
            time.sleep(state.delay_ms / 1000)
        self._send(response)

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _respond(self, state: State) -> Response:
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query, keep_blank_values=True)
        raw = b""
        if "Transfer-Encoding" in self.headers:
            state.record(self.command, self.path, dict(self.headers.items()), None)
            return Response(411, b'{"error": "send a Content-Length, not a chunked body"}', close=True)
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            state.record(self.command, self.path, dict(self.headers.items()), None)
            return Response(400, b'{"error": "invalid Content-Length"}', close=True)
        if length > MAX_BODY:
            # The body stays unread, so the connection cannot carry another request.
            state.record(self.command, self.path, dict(self.headers.items()), None)
            message = f"the request body is larger than {MAX_BODY} bytes"
            return Response(413, json.dumps({"error": message}).encode(), close=True)
        if length:
            raw = self.rfile.read(length)
        if path == OTLP_TRACES_PATH:
            state.record(self.command, self.path, dict(self.headers.items()), None)
            return self._otlp(state, raw)
        parsed, json_error = _parse_json(raw)
        state.record(self.command, self.path, dict(self.headers.items()), parsed)
        fault = state.take_fault(path)
        if fault is not None:
            return Response(fault.status, fault.body, headers=dict(fault.headers))
        try:
            if path == "/api/sdk" or path.startswith(("/api/sdk/", "/api/experiments")):
                if state.api_key is not None and not auth.bearer_matches(
                    self.headers.get("Authorization"), state.api_key
                ):
                    raise ApiError(401, "missing or wrong API key (send 'Authorization: Bearer <key>')")
            elif state.api_key is not None and not path.startswith(assets.PREFIX):
                # The script and style hold no data: the sign-in form uses them too.
                refused = self._page_gate(state.api_key, state.page_token, path, raw)
                if refused is not None:
                    return refused
            return self._route(state, path.rstrip("/") or "/", parsed, json_error, query)
        except ApiError as exc:
            headers = _CHALLENGE if exc.status == 401 else None
            return error_response(exc.status, exc.message, headers)

    def _otlp(self, state: State, raw: bytes) -> Response:
        """OTLP/HTTP traces from any OpenTelemetry SDK, into this server's store through its relay."""
        if self.command != "POST":
            return error_response(
                405, f"{self.command} is not allowed here (allowed: POST)", {"Allow": "POST"}
            )
        if state.api_key is not None and not auth.bearer_matches(
            self.headers.get("Authorization"), state.api_key
        ):
            message = "missing or wrong API key (send 'Authorization: Bearer <key>')"
            return error_response(401, message, _CHALLENGE)
        reply = state.relay().receive(
            raw, self.headers.get("Content-Type"), self.headers.get("Content-Encoding")
        )
        return Response(reply.status, reply.body, reply.content_type, reply.headers)

    def _page_gate(self, api_key: str, token: str, path: str, raw: bytes) -> Response | None:
        """None when this request may read the pages; else the sign-in form, or after a POST of it
        the redirect back to the page that sets the cookie. The pages take no other POST."""
        cookie = auth.cookie_name(self.server.server_port)
        if self.command == "POST":
            if not auth.same_key(auth.form_key(raw), api_key):
                return html_response(401, page.sign_in(auth.FORM_FIELD, wrong_key=True), _CHALLENGE)
            # One leading slash: "//host" would send the browser to another site.
            headers = {"Location": "/" + path.lstrip("/"), "Set-Cookie": auth.sign_in_cookie(cookie, token)}
            return Response(303, b"", content_type="text/plain", headers=headers)
        if auth.bearer_matches(self.headers.get("Authorization"), api_key) or auth.cookie_matches(
            self.headers.get("Cookie"), cookie, token
        ):
            return None
        return html_response(401, page.sign_in(auth.FORM_FIELD, wrong_key=False), _CHALLENGE)

    def _route(
        self, state: State, path: str, parsed: Any, json_error: str | None, query: dict[str, list[str]]
    ) -> Response:
        for pattern, methods in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            endpoint = methods.get(self.command)
            if endpoint is None:
                allowed = ", ".join(methods)
                return error_response(
                    405, f"{self.command} is not allowed here (allowed: {allowed})", {"Allow": allowed}
                )
            params = {name: unquote(value) for name, value in match.groupdict().items()}
            return endpoint(Request(state, params, parsed, json_error, query))
        raise ApiError(404, f"no such endpoint: {path}")

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in {**SECURITY_HEADERS, **response.headers}.items():
            self.send_header(name, value)
        if response.close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)


def family_of(host: str) -> socket.AddressFamily:
    """The socket family to listen on ``host`` with: IPv6 for an IPv6 address, else IPv4 (a name
    such as ``localhost`` is looked up as IPv4, as the standard library's servers do)."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class NoLookupHTTPServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that listens in the family of its host (IPv4 or IPv6) and binds without
    HTTPServer's getfqdn() lookup, which can stall where DNS is missing."""

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.address_family = family_of(address[0])  # read by the socket's creation just below
        super().__init__(address, handler)

    def server_bind(self) -> None:
        """Bind, naming the server by its address rather than by a reverse DNS lookup."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class HTTPServer(NoLookupHTTPServer):
    """The local server's listener: daemon threads, a long listen backlog, no reverse DNS on bind,
    and a register of open connections so that ``close_connections`` can end idle keep-alives."""

    daemon_threads = True
    request_queue_size = 128
    # Set by the owner before serving: the server listens before its database exists.
    state: State

    def __init__(self, address: tuple[str, int]) -> None:
        self._connections: set[socket.socket] = set()
        self._idle = threading.Condition()
        self._closing = False
        super().__init__(address, Handler)

    def track(self, connection: socket.socket, is_open: bool) -> None:
        """Add or remove an open connection; once closing, a new one is shut at once."""
        with self._idle:
            if not is_open:
                self._connections.discard(connection)
                self._idle.notify_all()
            elif self._closing:
                _shutdown(connection)
            else:
                self._connections.add(connection)

    def close_connections(self, timeout: float) -> None:
        """Shut every open connection and wait up to ``timeout`` s for their handlers to end."""
        deadline = time.monotonic() + timeout
        with self._idle:
            self._closing = True
            for connection in self._connections:
                _shutdown(connection)
            while self._connections and (remaining := deadline - time.monotonic()) > 0:
                self._idle.wait(remaining)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about failed connections (clients hanging up) unless verbose."""
        if self.state.verbose:
            print(f"error while serving {client_address}:", file=sys.stderr)
            traceback.print_exc()


def _shutdown(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
