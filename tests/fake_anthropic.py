"""A fake Anthropic Messages API on 127.0.0.1 for the instrumentation tests.

It answers ``POST /v1/messages`` with the JSON body or the server-sent events the real API sends
(``event: <type>`` / ``data: <json>`` pairs, a blank line after each), as the installed SDK parses
them. What it answers is set per test through :class:`Reply`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "claude-haiku-4-5-20251001"
RELEASE_TIMEOUT = 10.0  # the longest a held answer waits for the test to release it


@dataclass
class ToolCall:
    """A tool_use block of the answer."""

    id: str = "toolu_01"
    name: str = "get_weather"
    input: dict[str, Any] = field(default_factory=lambda: {"city": "Paris", "unit": "celsius"})


@dataclass
class Reply:
    """What the fake answers to every request until the test changes it."""

    text: str | None = "Hello there, friend."
    tool_call: ToolCall | None = None
    thinking: str | None = None
    model: str = MODEL
    message_id: str = "msg_01abc"
    stop_reason: str | None = None  # default: "tool_use" with a tool call, else "end_turn"
    usage: dict[str, Any] = field(default_factory=lambda: {"input_tokens": 12, "output_tokens": 7})
    omit_usage: bool = False  # a body without "usage" (not what the API does: breaks readers)
    status: int = 200
    error_type: str = "api_error"
    headers: dict[str, str] = field(default_factory=dict)
    chunks: int = 3  # text deltas per text block in a stream
    hold: bool = False  # wait for release() before answering at all (client-side timeouts)
    hold_after_events: int | None = None  # in a stream, wait for release() after this many events

    @property
    def finish(self) -> str:
        """The stop_reason sent."""
        return self.stop_reason or ("tool_use" if self.tool_call else "end_turn")


def _split(text: str, pieces: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, pieces)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def message_body(reply: Reply) -> dict[str, Any]:
    """The JSON body of a non-streamed answer."""
    content: list[dict[str, Any]] = []
    if reply.thinking is not None:
        content.append({"type": "thinking", "thinking": reply.thinking, "signature": "sig"})
    if reply.text is not None:
        content.append({"type": "text", "text": reply.text})
    if reply.tool_call is not None:
        call = reply.tool_call
        content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.input})
    body: dict[str, Any] = {
        "id": reply.message_id,
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": content,
        "stop_reason": reply.finish,
        "stop_sequence": None,
    }
    if not reply.omit_usage:
        body["usage"] = dict(reply.usage)
    return body


def stream_events(reply: Reply) -> list[tuple[str, dict[str, Any]]]:
    """The (event name, data) pairs of a streamed answer, in the API's order."""
    start_usage = {key: value for key, value in reply.usage.items() if key != "output_tokens"}
    start_usage["output_tokens"] = 1
    message = {**message_body(reply), "content": [], "stop_reason": None, "usage": start_usage}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": message})
    ]
    index = 0
    if reply.thinking is not None:
        events += _block(index, {"type": "thinking", "thinking": "", "signature": ""}, [
            {"type": "thinking_delta", "thinking": piece} for piece in _split(reply.thinking, reply.chunks)
        ])  # fmt: skip
        index += 1
    if reply.text is not None:
        deltas = [{"type": "text_delta", "text": piece} for piece in _split(reply.text, reply.chunks)]
        events += _block(index, {"type": "text", "text": ""}, deltas)
        index += 1
    if reply.tool_call is not None:
        call = reply.tool_call
        arguments = json.dumps(call.input)
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in _split(arguments, 3)]
        events += _block(index, {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}, deltas)
    delta = {"stop_reason": reply.finish, "stop_sequence": None}
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": _delta_usage(reply)}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _delta_usage(reply: Reply) -> dict[str, Any]:
    return {"output_tokens": reply.usage.get("output_tokens", 0)}


def _block(
    index: int, start: dict[str, Any], deltas: list[dict[str, Any]]
) -> list[tuple[str, dict[str, Any]]]:
    events = [
        ("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
    ]
    if index == 0:
        events.append(("ping", {"type": "ping"}))
    events += [
        ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas
    ]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def sse(name: str, data: dict[str, Any]) -> bytes:
    """One server-sent event as the API writes it."""
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        fake = self.server.fake
        fake.record(self.path, dict(self.headers.items()), body)
        reply = fake.next_reply()
        if reply.hold:
            fake.released.wait(RELEASE_TIMEOUT)
        try:
            if reply.status != 200:
                self._error(reply)
            elif body.get("stream"):
                self._stream(reply)
            else:
                self._json(200, message_body(reply), reply.headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (early close, abandonment, timeout)

    def _json(self, status: int, value: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_test")
        for name, header in headers.items():
            self.send_header(name, header)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, reply: Reply) -> None:
        error = {"type": "error", "error": {"type": reply.error_type, "message": f"fake {reply.status}"}}
        self._json(reply.status, error, reply.headers)

    def _stream(self, reply: Reply) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", "req_test")
        self.end_headers()  # no length: HTTP/1.0, the body ends when the connection closes
        for number, (name, data) in enumerate(stream_events(reply)):
            if number == reply.hold_after_events:
                self.server.fake.released.wait(RELEASE_TIMEOUT)
            self.wfile.write(sse(name, data))
            self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeAnthropic) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class FakeAnthropic:
    """The fake API server; ``queued`` then ``reply`` is what it answers, ``requests`` what it received."""

    def __init__(self) -> None:
        self.reply = Reply()
        self.queued: list[Reply] = []  # answered first, one per request, before ``reply``
        self.released = threading.Event()
        self._requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._serve, name="fake-anthropic", daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give the SDK client."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.02)  # a short poll: stop() returns quickly

    def start(self) -> FakeAnthropic:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release held answers and stop serving."""
        self.released.set()
        self._server.shutdown()
        self._server.server_close()

    def release(self) -> None:
        """Let held answers go on."""
        self.released.set()

    def next_reply(self) -> Reply:
        """The next queued reply, else ``reply``."""
        with self._lock:
            return self.queued.pop(0) if self.queued else self.reply

    def record(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> None:
        """Note one received request."""
        with self._lock:
            self._requests.append({"path": path, "headers": headers, "json": body})

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The received requests, oldest first."""
        with self._lock:
            return list(self._requests)
