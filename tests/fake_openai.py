"""A fake OpenAI API on 127.0.0.1 for the instrumentation tests and the benchmark.

It answers chat completions, the Responses API and embeddings (also under Azure's
``/openai/deployments/{name}/...`` paths) with the JSON and server-sent events the openai SDK
parses, streams chunked like the real service, and does what :class:`Reply` says: a text or
tool-call answer, usage numbers, an error status, a slow answer, a long or slow stream.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CREATED = 1_700_000_000


@dataclass
class Reply:
    """What the fake answers to every request until told otherwise."""

    text: str = "Hello there!"
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, arguments JSON)
    model: str | None = None  # None: echo the requested model
    prompt_tokens: int = 12
    completion_tokens: int = 5
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    usage: bool = True  # False: the answer carries no usage at all
    finish_reason: str | None = None  # None: "tool_calls" with tool calls, else "stop"; "length" too
    status: int = 200
    retry_after: str | None = None
    delay: float = 0.0  # seconds before answering
    pieces: int = 3  # a streamed text arrives in this many deltas
    chunk_delay: float = 0.0  # seconds between stream events
    drop_fields: tuple[str, ...] = ()  # top-level JSON fields left out of a non-streamed answer
    stream_error_after: int | None = None  # a chat stream sends an error event after this many chunks

    def finish(self) -> str:
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")

    def split_text(self) -> list[str]:
        if not self.text:
            return []
        size = max(1, -(-len(self.text) // max(1, self.pieces)))
        return [self.text[i : i + size] for i in range(0, len(self.text), size)]


class FakeOpenAI:
    """The fake service: ``url`` is an OpenAI ``base_url``, ``azure_endpoint`` an Azure endpoint."""

    def __init__(self) -> None:
        self.reply = Reply()
        self.queued: list[Reply] = []  # answered first, one per request, before ``reply``
        self.requests: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._serve, name="fake-openai", daemon=True)

    @property
    def azure_endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self.azure_endpoint}/v1"

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.02)  # stop() waits for one poll

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()  # wakes handlers that are sleeping through a delay
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def next_reply(self) -> Reply:
        with self._lock:
            return self.queued.pop(0) if self.queued else self.reply

    def record(self, request: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(request)

    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies received so far, oldest first."""
        with self._lock:
            return [r["json"] for r in self.requests]


# --- answers ---------------------------------------------------------------------------------------------
def _chat_usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _responses_usage(reply: Reply) -> dict[str, Any]:
    return {
        "input_tokens": reply.prompt_tokens,
        "input_tokens_details": {"cached_tokens": reply.cached_tokens},
        "output_tokens": reply.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def chat_completion(reply: Reply, model: str, number: int) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text or None,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, name, arguments in reply.tool_calls
        ]
    body: dict[str, Any] = {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": CREATED,
        "model": reply.model or model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish()}],
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }
    if reply.usage:
        body["usage"] = _chat_usage(reply)
    return {k: v for k, v in body.items() if k not in reply.drop_fields}


def chat_chunks(reply: Reply, model: str, number: int, include_usage: bool) -> Iterator[dict[str, Any]]:
    """The chunks of a streamed chat completion (without the closing ``[DONE]``)."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": reply.model or model,
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            body["usage"] = None
        return body

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in reply.split_text():
        yield chunk({"content": piece})
    for index, (call_id, name, arguments) in enumerate(reply.tool_calls):
        opening = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": ""},
        }
        yield chunk({"tool_calls": [opening]})
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk({}, reply.finish())
    if include_usage and reply.usage:
        last = chunk({})
        last.update(choices=[], usage=_chat_usage(reply))
        yield last


def _output_items(reply: Reply, number: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if reply.text:
        text = {"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}
        items.append(_message_item(number, "completed", [text]))
    for call_id, name, arguments in reply.tool_calls:
        items.append(_function_item(call_id, name, arguments, "completed"))
    return items


def _message_item(number: int, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"msg_{number}",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _function_item(call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def response_object(reply: Reply, request: dict[str, Any], number: int, final: bool = True) -> dict[str, Any]:
    """A Responses API ``response``: complete, or (``final=False``) as it starts streaming."""
    incomplete = reply.finish_reason == "length"
    body: dict[str, Any] = {
        "id": f"resp_{number}",
        "object": "response",
        "created_at": CREATED,
        "status": ("incomplete" if incomplete else "completed") if final else "in_progress",
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete and final else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": reply.model or request.get("model"),
        "output": _output_items(reply, number) if final else [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": request.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": request.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": _responses_usage(reply) if final and reply.usage else None,
        "user": None,
        "metadata": {},
    }
    return {k: v for k, v in body.items() if not final or k not in reply.drop_fields}


def response_events(reply: Reply, request: dict[str, Any], number: int) -> Iterator[dict[str, Any]]:
    """The events of a streamed Responses API call, in order (``sequence_number`` is added later)."""
    started = response_object(reply, request, number, final=False)
    yield {"type": "response.created", "response": started}
    yield {"type": "response.in_progress", "response": started}
    index = 0
    if reply.text:
        yield from _text_events(reply, number, index)
        index += 1
    for call_id, name, arguments in reply.tool_calls:
        yield from _function_events(call_id, name, arguments, index)
        index += 1
    final = response_object(reply, request, number)
    yield {
        "type": "response.incomplete" if final["status"] == "incomplete" else "response.completed",
        "response": final,
    }


def _text_events(reply: Reply, number: int, index: int) -> Iterator[dict[str, Any]]:
    item_id = f"msg_{number}"
    where = {"item_id": item_id, "output_index": index, "content_index": 0}
    yield {
        "type": "response.output_item.added",
        "output_index": index,
        "item": _message_item(number, "in_progress", []),
    }
    empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    yield {"type": "response.content_part.added", **where, "part": empty}
    for piece in reply.split_text():
        yield {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
    yield {"type": "response.output_text.done", **where, "text": reply.text, "logprobs": []}
    part = {**empty, "text": reply.text}
    yield {"type": "response.content_part.done", **where, "part": part}
    yield {
        "type": "response.output_item.done",
        "output_index": index,
        "item": _message_item(number, "completed", [part]),
    }


def _function_events(call_id: str, name: str, arguments: str, index: int) -> Iterator[dict[str, Any]]:
    item_id = f"fc_{call_id}"
    yield {
        "type": "response.output_item.added",
        "output_index": index,
        "item": _function_item(call_id, name, "", "in_progress"),
    }
    half = len(arguments) // 2
    for piece in (arguments[:half], arguments[half:]):
        yield {
            "type": "response.function_call_arguments.delta",
            "item_id": item_id,
            "output_index": index,
            "delta": piece,
        }
    yield {
        "type": "response.function_call_arguments.done",
        "item_id": item_id,
        "output_index": index,
        "arguments": arguments,
        "name": name,
    }
    yield {
        "type": "response.output_item.done",
        "output_index": index,
        "item": _function_item(call_id, name, arguments, "completed"),
    }


def embeddings(reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    inputs = request.get("input")
    count = len(inputs) if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int) else 1
    vector = [0.25, -0.5, 0.75]
    as_base64 = request.get("encoding_format") == "base64"
    packed = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    data = [
        {"object": "embedding", "index": i, "embedding": packed if as_base64 else vector}
        for i in range(count)
    ]
    body: dict[str, Any] = {"object": "list", "data": data, "model": reply.model or request.get("model")}
    if reply.usage:
        body["usage"] = {"prompt_tokens": reply.prompt_tokens, "total_tokens": reply.prompt_tokens}
    return body


# --- HTTP ------------------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real service
    timeout = 10  # an idle keep-alive connection ends its thread

    def setup(self) -> None:
        super().setup()
        # Small writes (headers, then body or event) must not wait for the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):  # the client hung up
            super().handle()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def fake(self) -> FakeOpenAI:
        return self.server.fake  # type: ignore[attr-defined, no-any-return]

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = json.loads(raw or b"{}")
        path = self.path.split("?", 1)[0]
        self.fake.record({"path": self.path, "headers": dict(self.headers), "json": request})
        reply = self.fake.next_reply()
        if reply.delay and self.fake.stopping.wait(reply.delay):
            return
        try:
            if reply.status != 200:
                self._error(reply)
            elif path.endswith("/chat/completions"):
                self._chat(reply, request)
            elif path.endswith("/responses"):
                self._responses(reply, request)
            elif path.endswith("/embeddings"):
                self._json(200, embeddings(reply, request))
            else:
                self._json(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-stream (closed or abandoned)

    def _chat(self, reply: Reply, request: dict[str, Any]) -> None:
        number = self.fake.next_id()
        model = str(request.get("model"))
        if not request.get("stream"):
            self._json(200, chat_completion(reply, model, number))
            return
        include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
        events = [f"data: {json.dumps(c)}\n\n" for c in chat_chunks(reply, model, number, include_usage)]
        if reply.stream_error_after is not None:
            error = {"error": {"message": "fake stream error", "type": "server_error", "code": None}}
            events = [*events[: reply.stream_error_after], f"data: {json.dumps(error)}\n\n"]
        self._stream([*events, "data: [DONE]\n\n"], reply.chunk_delay)

    def _responses(self, reply: Reply, request: dict[str, Any]) -> None:
        number = self.fake.next_id()
        if not request.get("stream"):
            self._json(200, response_object(reply, request, number))
            return
        events = [
            f"event: {e['type']}\ndata: {json.dumps({**e, 'sequence_number': n})}\n\n"
            for n, e in enumerate(response_events(reply, request, number))
        ]
        self._stream(events, reply.chunk_delay)

    def _error(self, reply: Reply) -> None:
        kind = {429: ("requests", "rate_limit_exceeded"), 500: ("server_error", None)}.get(reply.status)
        error_type, code = kind or ("invalid_request_error", None)
        body = {
            "error": {
                "message": f"fake error {reply.status}",
                "type": error_type,
                "param": None,
                "code": code,
            }
        }
        headers = {"Retry-After": reply.retry_after} if reply.retry_after else {}
        self._json(reply.status, body, headers)

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, events: list[str], delay: float) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            if delay and self.fake.stopping.wait(delay):
                self.close_connection = True
                return
        self.wfile.write(b"0\r\n\r\n")


def main() -> None:
    """Serve until standard input closes (the benchmark runs the fake in a child process this way)."""
    fake = FakeOpenAI().start()
    print(f"fake openai on {fake.url}", flush=True)
    try:
        sys.stdin.read()
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
