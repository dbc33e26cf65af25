"""Tracing of the Anthropic SDK: ``messages.create`` (plain and ``stream=True``), ``messages.parse``
and the ``messages.stream()`` helper, sync and async, on ``client.messages`` and ``client.beta.messages``;
through ``with_raw_response`` and ``with_streaming_response`` too.

Requests and responses are read in the GenAI conventions' terms: ``gen_ai.usage.input_tokens``
counts cache reads and writes too (Anthropic's own ``input_tokens`` does not; the cost is computed
from Anthropic's split).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from anthropic import AsyncStream, Stream

from sentrial import semconv as sc
from sentrial._guard import failed
from sentrial._values import json_text
from sentrial.instrumentation._base import LlmInstrumentor, Patch
from sentrial.instrumentation._late_responses import follow_late_response
from sentrial.instrumentation._llm import (
    LlmCall,
    LlmRequest,
    LlmResult,
    capture_content,
    enter_call,
    leave_call,
)
from sentrial.instrumentation._parts import (
    as_integer,
    as_number,
    as_text,
    get_field,
    json_array,
    text_answer_json,
    text_message_json,
    text_part_json,
)
from sentrial.instrumentation._streams import Proxy, TracedAsyncStream, TracedStream

__all__ = ["PATCHES", "AnthropicInstrumentor"]


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _items(value: Any) -> list[Any] | None:
    """The items of a list or tuple; None for anything else (a user's generator must not be consumed)."""
    return list(value) if isinstance(value, (list, tuple)) else None


# --- the request ----------------------------------------------------------------------------
_PARAMETERS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "max_tokens": (sc.GEN_AI_REQUEST_MAX_TOKENS, as_integer),
    "temperature": (sc.GEN_AI_REQUEST_TEMPERATURE, as_number),
    "top_p": (sc.GEN_AI_REQUEST_TOP_P, as_number),
    "top_k": (sc.GEN_AI_REQUEST_TOP_K, as_integer),
    "stop_sequences": (sc.GEN_AI_REQUEST_STOP_SEQUENCES, _strings),
}


def _parameters(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    # Recent SDKs dropped temperature/top_p/top_k from the signature; they still reach the API via
    # extra_body, which the SDK merges over the call's own arguments: read last, it wins here too.
    # One pass over what was passed.
    extra_body = kwargs.get("extra_body")
    sources = (kwargs, extra_body) if isinstance(extra_body, Mapping) else (kwargs,)
    parameters: dict[str, Any] = {}
    for source in sources:
        for name, value in source.items():
            known = _PARAMETERS.get(name)
            if known is not None and (converted := known[1](value)) is not None:
                parameters[known[0]] = converted
    return parameters


def _text_part(text: Any) -> dict[str, Any]:
    return {"type": "text", "content": text if isinstance(text, str) else ""}


def _media_part(kind: str, source: Any) -> dict[str, Any]:
    """An image or document block without its payload: the raw bytes never go on a span."""
    source_type = get_field(source, "type")
    part: dict[str, Any] = {"modality": kind}
    if source_type in ("base64", "text"):
        part["type"] = "blob"
    elif source_type == "url":
        part["type"] = "uri"
        url = as_text(get_field(source, "url"))
        if url and not url.startswith("data:"):
            part["uri"] = url
    elif source_type == "file":
        part["type"] = "file"
        part["file_id"] = as_text(get_field(source, "file_id"))
    else:
        part["type"] = kind
    media_type = as_text(get_field(source, "media_type"))
    if media_type:
        part["mime_type"] = media_type
    return part


def _tool_response(content: Any) -> Any:
    if content is None or isinstance(content, str):
        return content
    blocks = _items(content)
    if blocks is None:
        return None
    parts = [_part(block) for block in blocks]
    if all(part["type"] == "text" for part in parts):
        return "".join(part["content"] for part in parts)
    return parts


def _part(block: Any) -> dict[str, Any]:
    """One content block (request param or response model) as a GenAI message part."""
    kind = get_field(block, "type")
    if kind == "text":
        return _text_part(get_field(block, "text"))
    if kind in ("tool_use", "server_tool_use"):
        return {
            "type": "tool_call",
            "id": get_field(block, "id"),
            "name": get_field(block, "name"),
            "arguments": get_field(block, "input"),
        }
    if kind == "tool_result":
        return {
            "type": "tool_call_response",
            "id": get_field(block, "tool_use_id"),
            "response": _tool_response(get_field(block, "content")),
        }
    if kind in ("image", "document"):
        return _media_part(kind, get_field(block, "source"))
    if kind == "thinking":
        return {"type": "reasoning", "content": as_text(get_field(block, "thinking")) or ""}
    return {"type": kind if isinstance(kind, str) else "unknown"}


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [_text_part(content)]
    blocks = _items(content)
    return [_part(block) for block in blocks] if blocks is not None else []


def _input_messages(messages: Any) -> str | None:
    """The request's messages as JSON text; None when they cannot be read without consuming them."""
    items = _items(messages)
    if items is None:
        return None
    written = []
    for item in items:
        role, content = get_field(item, "role"), get_field(item, "content")
        if type(role) is str and type(content) is str:  # most messages: one text, written directly
            written.append(text_message_json(role, content))
        else:
            written.append(json_text({"role": role, "parts": _parts(content)}))
    return json_array(written)


def _system_instructions(system: Any) -> str | list[dict[str, Any]] | None:
    if isinstance(system, str):
        return json_array([text_part_json(system)]) if system else None
    return _parts(system) or None


def _describe(kwargs: Mapping[str, Any], stream: bool) -> LlmRequest:
    capture = capture_content()
    model = kwargs.get("model")
    return LlmRequest(
        provider=sc.PROVIDER_ANTHROPIC,
        operation=sc.OPERATION_CHAT,
        model=model if isinstance(model, str) else None,
        parameters=_parameters(kwargs),
        input_messages=_input_messages(kwargs.get("messages")) if capture else None,
        system_instructions=_system_instructions(kwargs.get("system")) if capture else None,
        stream=stream,
    )


def describe_create(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """The request of ``messages.create`` / ``messages.parse``."""
    return _describe(kwargs, stream=kwargs.get("stream") is True)


def describe_stream(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """The request of ``messages.stream()``, which always streams."""
    return _describe(kwargs, stream=True)


# --- the response ---------------------------------------------------------------------------
def _output_messages(parts: list[dict[str, Any]], stop_reason: str | None) -> list[dict[str, Any]]:
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if stop_reason:
        message["finish_reason"] = stop_reason
    return [message]


def _answer_json(content: Any, stop_reason: str | None) -> str:
    """The answer's content blocks as the JSON text of the output messages."""
    blocks = _items(content)
    if stop_reason and blocks is not None and len(blocks) == 1 and get_field(blocks[0], "type") == "text":
        text = get_field(blocks[0], "text")
        if type(text) is str:  # most answers: one text block, written directly
            return json_array([text_answer_json(text, stop_reason)])
    return json_text(_output_messages(_parts(content), stop_reason))


def _usage_counts(usage: Any) -> dict[str, int | None]:
    uncached = as_integer(get_field(usage, "input_tokens"))
    cache_read = as_integer(get_field(usage, "cache_read_input_tokens"))
    cache_creation = as_integer(get_field(usage, "cache_creation_input_tokens"))
    # The GenAI conventions count cache reads and writes as input; Anthropic's input_tokens does not.
    total_input = None if uncached is None else uncached + (cache_read or 0) + (cache_creation or 0)
    return {
        "input_tokens": total_input,
        "output_tokens": as_integer(get_field(usage, "output_tokens")),
        "cache_read_tokens": cache_read,
        "cache_creation_tokens": cache_creation,
        "reasoning_tokens": as_integer(
            get_field(get_field(usage, "output_tokens_details"), "thinking_tokens")
        ),
    }


def message_result(message: Any) -> LlmResult:
    """A ``Message`` (model, stream snapshot or decoded JSON body) as the call's result."""
    stop_reason = as_text(get_field(message, "stop_reason"))
    output = None
    if capture_content():
        output = _answer_json(get_field(message, "content"), stop_reason)
    return LlmResult(
        response_model=as_text(get_field(message, "model")),
        response_id=as_text(get_field(message, "id")),
        finish_reasons=[stop_reason] if stop_reason else [],
        output_messages=output,
        **_usage_counts(get_field(message, "usage")),
    )


def _raw_response_result(response: Any) -> LlmResult:
    """What a ``with_raw_response`` call answered, its JSON body already read."""
    http_response = get_field(response, "http_response")
    content_type = str(http_response.headers.get("content-type", ""))
    if not content_type.startswith("application/json"):
        return LlmResult()
    return message_result(http_response.json())


def finish_create(call: LlmCall, result: Any) -> Any:
    """End the span of a ``messages.create`` call, or hand it to the stream it returned."""
    if isinstance(result, Stream):
        return TracedStream(result, call, EventAccumulator())
    if isinstance(result, AsyncStream):
        return TracedAsyncStream(result, call, EventAccumulator())
    if hasattr(result, "http_response"):
        if not getattr(result.http_response, "is_closed", True):  # a body the caller reads later
            return follow_late_response(call, result, finish_create)
        call.succeed(_raw_response_result(result))
    else:
        call.succeed(message_result(result))
    return result


class EventAccumulator:
    """Sums up the raw events of ``messages.create(stream=True)`` into the call's result."""

    def __init__(self) -> None:
        self._message_id: str | None = None
        self._model: str | None = None
        self._stop_reason: str | None = None
        self._usage: dict[str, int | None] = {}
        self._blocks: dict[int, dict[str, Any]] = {}

    def add(self, chunk: Any) -> None:
        """Take one raw stream event into account."""
        kind = get_field(chunk, "type")
        if kind == "message_start":
            self._start(get_field(chunk, "message"))
        elif kind == "content_block_start":
            self._open_block(as_integer(get_field(chunk, "index")), get_field(chunk, "content_block"))
        elif kind == "content_block_delta":
            self._extend_block(as_integer(get_field(chunk, "index")), get_field(chunk, "delta"))
        elif kind == "message_delta":
            self._stop_reason = (
                as_text(get_field(get_field(chunk, "delta"), "stop_reason")) or self._stop_reason
            )
            self._count(get_field(chunk, "usage"))

    def _start(self, message: Any) -> None:
        self._message_id = as_text(get_field(message, "id"))
        self._model = as_text(get_field(message, "model"))
        self._count(get_field(message, "usage"))

    def _count(self, usage: Any) -> None:
        # message_delta repeats cumulative totals; a count it leaves out keeps the message_start value.
        for name, value in _usage_counts(usage).items():
            if value is not None:
                self._usage[name] = value

    def _open_block(self, index: int | None, block: Any) -> None:
        if index is None:
            return
        self._blocks[index] = {
            "type": get_field(block, "type"),
            "id": get_field(block, "id"),
            "name": get_field(block, "name"),
            "input": get_field(block, "input"),
            "text": as_text(get_field(block, "text")) or as_text(get_field(block, "thinking")) or "",
            "json": "",
        }

    def _extend_block(self, index: int | None, delta: Any) -> None:
        block = self._blocks.get(index) if index is not None else None
        if block is None:
            return
        kind = get_field(delta, "type")
        if kind == "text_delta":
            block["text"] += as_text(get_field(delta, "text")) or ""
        elif kind == "thinking_delta":
            block["text"] += as_text(get_field(delta, "thinking")) or ""
        elif kind == "input_json_delta":
            block["json"] += as_text(get_field(delta, "partial_json")) or ""

    @staticmethod
    def _block_part(block: dict[str, Any]) -> dict[str, Any]:
        kind = block["type"]
        if kind == "text":
            return _text_part(block["text"])
        if kind == "thinking":
            return {"type": "reasoning", "content": block["text"]}
        if kind in ("tool_use", "server_tool_use"):
            arguments: Any = block["input"]
            if block["json"]:
                try:
                    arguments = json.loads(block["json"])
                except ValueError:
                    arguments = block["json"]  # cut short: keep what arrived
            return {"type": "tool_call", "id": block["id"], "name": block["name"], "arguments": arguments}
        return {"type": kind if isinstance(kind, str) else "unknown"}

    def result(self) -> LlmResult:
        """What the events so far add up to."""
        output = None
        if capture_content():
            parts = [self._block_part(self._blocks[index]) for index in sorted(self._blocks)]
            output = _output_messages(parts, self._stop_reason)
        return LlmResult(
            response_model=self._model,
            response_id=self._message_id,
            finish_reasons=[self._stop_reason] if self._stop_reason else [],
            output_messages=output,
            **self._usage,
        )


# --- messages.stream(): the manager and the MessageStream it opens ---------------------------
class SnapshotAccumulator:
    """The result of a ``MessageStream``: the stream accumulates the message itself; read its snapshot."""

    def __init__(self, message_stream: Any) -> None:
        self._message_stream = message_stream

    def add(self, chunk: Any) -> None:
        """Nothing to do: the ``MessageStream`` folds every event into its snapshot."""

    def result(self) -> LlmResult:
        """The stream's message as far as it got."""
        return _snapshot_result(self._message_stream)


def _snapshot_result(message_stream: Any) -> LlmResult:
    try:
        snapshot = message_stream.current_message_snapshot
    except AssertionError:  # no message_start yet
        return LlmResult()
    return message_result(snapshot)


def _observe(message_stream: Any, call: LlmCall) -> None:
    """End the call's span with the ``MessageStream``'s raw event stream, which every helper reads.

    ``text_stream``, ``until_done()``, ``get_final_message()`` and iteration all pull from the raw stream,
    so observing it there sees every way of reading; the ``MessageStream`` itself stays the SDK's own.
    Where that is not possible, the span ends when the ``with`` block is left.
    """
    try:
        raw = getattr(message_stream, "_raw_stream", None)
        accumulator = SnapshotAccumulator(message_stream)
        if isinstance(raw, AsyncStream):
            message_stream._raw_stream = TracedAsyncStream(raw, call, accumulator)
        elif isinstance(raw, Stream):
            message_stream._raw_stream = TracedStream(raw, call, accumulator)
        else:
            raise TypeError(f"unexpected raw stream {type(raw).__qualname__}")
    except Exception:
        failed("anthropic-observe", "could not observe an anthropic MessageStream; its span ends on exit")


def _settle(call: LlmCall, message_stream: Any, error: BaseException | None) -> None:
    """End the span when the ``with`` block is left, unless the stream already did."""
    if call.ended:
        return
    partial = None
    if message_stream is not None:
        try:
            partial = _snapshot_result(message_stream)
        except Exception:
            failed("anthropic-snapshot", "could not read an anthropic stream's message")
    if error is not None:
        call.fail(error, partial)
    else:
        call.succeed(partial or LlmResult())


@contextmanager
def _sending(call: LlmCall) -> Iterator[None]:
    """While a manager sends its request: the call's span is current, and no inner layer adds a span."""
    token = enter_call(call)
    try:
        yield
    finally:
        leave_call(token)


class TracedMessageStreamManager(Proxy):
    """``messages.stream()``'s manager; the ``MessageStream`` it opens ends the call's span."""

    def __init__(self, wrapped: Any, call: LlmCall) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_stream: Any = None

    def __enter__(self) -> Any:
        call = self._self_call
        try:
            with _sending(call):
                stream = self.__wrapped__.__enter__()
        except BaseException as error:
            call.fail(error)
            raise
        self._self_stream = stream
        _observe(stream, call)
        return stream

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        if exc is not None:  # before the manager closes the stream, which would end the span as a success
            _settle(self._self_call, self._self_stream, exc)
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            _settle(self._self_call, self._self_stream, None)

    def __del__(self) -> None:
        if self._self_stream is None:  # never entered: no request was sent
            self._self_call.abandon()


class TracedAsyncMessageStreamManager(Proxy):
    """``AsyncMessages.stream()``'s manager; the ``AsyncMessageStream`` it opens ends the call's span."""

    def __init__(self, wrapped: Any, call: LlmCall) -> None:
        super().__init__(wrapped)
        self._self_call = call
        self._self_stream: Any = None

    async def __aenter__(self) -> Any:
        call = self._self_call
        try:
            with _sending(call):
                stream = await self.__wrapped__.__aenter__()
        except BaseException as error:
            call.fail(error)
            raise
        self._self_stream = stream
        _observe(stream, call)
        return stream

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        if exc is not None:
            _settle(self._self_call, self._self_stream, exc)
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            _settle(self._self_call, self._self_stream, None)

    def __del__(self) -> None:
        if self._self_stream is None:
            self._self_call.abandon()


def finish_stream(call: LlmCall, manager: Any) -> Any:
    """Hand the call's span to the stream manager that ``Messages.stream()`` returned."""
    return TracedMessageStreamManager(manager, call)


def finish_async_stream(call: LlmCall, manager: Any) -> Any:
    """Hand the call's span to the stream manager that ``AsyncMessages.stream()`` returned."""
    return TracedAsyncMessageStreamManager(manager, call)


# --- what gets patched ----------------------------------------------------------------------
def _patches(module: str, client_path: str) -> list[Patch]:
    return [
        Patch(module, "Messages", "create", False, describe_create, finish_create, client_path),
        Patch(module, "AsyncMessages", "create", True, describe_create, finish_create, client_path),
        Patch(module, "Messages", "parse", False, describe_create, finish_create, client_path),
        Patch(module, "AsyncMessages", "parse", True, describe_create, finish_create, client_path),
        # stream() is a plain method on both clients: it returns a manager that sends the request on enter.
        Patch(module, "Messages", "stream", False, describe_stream, finish_stream, client_path),
        Patch(module, "AsyncMessages", "stream", False, describe_stream, finish_async_stream, client_path),
    ]


PATCHES: list[Patch] = [
    *_patches("anthropic.resources.messages", "messages"),
    *_patches("anthropic.resources.beta.messages", "beta.messages"),
]


class AnthropicInstrumentor(LlmInstrumentor):
    """Traces every Anthropic client's Messages API calls as GenAI ``chat`` spans."""

    patches = PATCHES
    dependencies = ("anthropic >= 1.13.0",)
