"""A fake Gemini API on 127.0.0.1 that speaks the REST JSON and SSE that google-genai parses.

``POST .../{model}:generateContent`` answers one GenerateContentResponse as JSON;
``POST .../{model}:streamGenerateContent?alt=sse`` answers ``data: {chunk}`` events, and without
``alt=sse`` (google-generativeai's REST transport) one JSON array of chunks, sent piece by piece.
Any path prefix is accepted (``/v1/models/...``, ``/v1beta/models/...``, Vertex AI's
``/v1beta1/publishers/...``).
What it answers is set per test with :meth:`FakeGemini.reply`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_USAGE = {"prompt": 12, "candidates": 5, "cached": None, "thoughts": None}


@dataclass
class Reply:
    """What the fake answers to the next requests."""

    text: str = "Hello from Gemini!"
    # Parts of the answer in the API's JSON (camelCase); replaces ``text`` when given.
    parts: list[dict[str, Any]] | None = None
    finish_reason: str | None = "STOP"
    # Token counts; None leaves usageMetadata out of the answer altogether.
    usage: dict[str, int | None] | None = field(default_factory=lambda: dict(DEFAULT_USAGE))
    model_version: str | None = "gemini-2.0-flash-001"  # None leaves modelVersion out
    response_id: str = "resp-123"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the answer starts
    chunks: int = 3  # stream: the text is split into this many deltas
    chunk_delay: float = 0.0  # stream: seconds between two events
    raw_body: dict[str, Any] | None = None  # answer exactly this JSON (non-stream)


def usage_json(usage: dict[str, int | None], share: float = 1.0) -> dict[str, Any]:
    """usageMetadata as the API sends it; ``share`` scales the output counts (stream running totals)."""
    candidates = round((usage.get("candidates") or 0) * share)
    thoughts = usage.get("thoughts")
    body: dict[str, Any] = {
        "promptTokenCount": usage["prompt"],
        "candidatesTokenCount": candidates,
        "totalTokenCount": (usage["prompt"] or 0) + candidates + (thoughts or 0),
    }
    if usage.get("cached") is not None:
        body["cachedContentTokenCount"] = usage["cached"]
    if thoughts is not None:
        body["thoughtsTokenCount"] = thoughts
    return body


def split_text(text: str, pieces: int) -> list[str]:
    """``text`` cut into ``pieces`` non-empty deltas (fewer if it is shorter)."""
    pieces = max(1, min(pieces, len(text)))
    size = -(-len(text) // pieces)
    return [text[i : i + size] for i in range(0, len(text), size)]


def _error_body(status: int) -> dict[str, Any]:
    names = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 400: "INVALID_ARGUMENT", 503: "UNAVAILABLE"}
    return {
        "error": {"code": status, "message": f"fake error {status}", "status": names.get(status, "UNKNOWN")}
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        fake = self.server.fake
        reply = fake.current
        fake.record(self.command, self.path, dict(self.headers), body)
        if reply.delay and fake.stopping.wait(reply.delay):
            return
        try:
            if reply.status != 200:
                self._send_json(reply.status, _error_body(reply.status), reply.headers)
            elif ":streamGenerateContent" in self.path:
                self._stream(reply)
            elif ":generateContent" in self.path:
                self._send_json(200, reply.raw_body if reply.raw_body is not None else self._response(reply))
            else:
                self._send_json(404, _error_body(404))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away (early close, abandoned stream, timeout)

    def _response(self, reply: Reply) -> dict[str, Any]:
        parts = reply.parts if reply.parts is not None else [{"text": reply.text}]
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if reply.finish_reason:
            candidate["finishReason"] = reply.finish_reason
        return self._envelope(reply, candidate, 1.0)

    @staticmethod
    def _envelope(reply: Reply, candidate: dict[str, Any], share: float) -> dict[str, Any]:
        body: dict[str, Any] = {"candidates": [candidate], "responseId": reply.response_id}
        if reply.model_version is not None:
            body["modelVersion"] = reply.model_version
        if reply.usage is not None:
            body["usageMetadata"] = usage_json(reply.usage, share)
        return body

    def _chunks(self, reply: Reply) -> list[dict[str, Any]]:
        deltas: list[list[dict[str, Any]]] = (
            [[part] for part in reply.parts]
            if reply.parts is not None
            else [[{"text": t}] for t in split_text(reply.text, reply.chunks)]
        )
        chunks = []
        for number, parts in enumerate(deltas, start=1):
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if number == len(deltas) and reply.finish_reason:
                candidate["finishReason"] = reply.finish_reason
            # Every event carries the usage so far (running totals), as the API sends them.
            chunks.append(self._envelope(reply, candidate, number / len(deltas)))
        return chunks

    def _stream(self, reply: Reply) -> None:
        # google-genai asks for server-sent events (alt=sse); the REST transport of the older
        # google-generativeai for one JSON array that arrives piece by piece.
        sse = "alt=sse" in self.path
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if sse else "application/json; charset=UTF-8")
        self.send_header("Connection", "close")
        self.end_headers()
        for number, chunk in enumerate(self._chunks(reply)):
            if number and reply.chunk_delay and self.server.fake.stopping.wait(reply.chunk_delay):
                return
            data = json.dumps(chunk).encode()
            self.wfile.write(b"data: " + data + b"\r\n\r\n" if sse else (b",\r\n" if number else b"[") + data)
            self.wfile.flush()
        if not sse:
            self.wfile.write(b"]")

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeGemini) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _Handler)


class FakeGemini:
    """The fake API server; ``url`` is its base URL for ``HttpOptions(base_url=...)``."""

    def __init__(self) -> None:
        self.current = Reply()
        self.stopping = threading.Event()
        self._requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-gemini", daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL (``http://127.0.0.1:{port}``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeGemini:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow answers still pending give up at once."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reply(self, **options: Any) -> Reply:
        """Answer the next requests as described (see :class:`Reply`)."""
        self.current = Reply(**options)
        return self.current

    def record(self, method: str, path: str, headers: dict[str, str], body: Any) -> None:
        """Keep one received request."""
        with self._lock:
            self._requests.append({"method": method, "path": path, "headers": headers, "json": body})

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The received requests (``method``, ``path``, ``headers``, ``json``), oldest first."""
        with self._lock:
            return list(self._requests)
