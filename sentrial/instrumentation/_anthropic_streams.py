"""The Anthropic SDK's streams traced: the raw events of ``messages.create(stream=True)`` added up,
and the managers of ``messages.stream()`` whose ``MessageStream`` ends the call's span."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

from sentrial._guard import failed, guard
from sentrial.instrumentation._anthropic_messages import (
    message_result,
    output_messages,
    text_block_part,
    usage_counts,
)
from sentrial.instrumentation._deferred import library_classes
from sentrial.instrumentation._llm import LlmCall, LlmResult, capture_content, enter_call, leave_call
from sentrial.instrumentation._parts import as_integer, as_text, get_field
from sentrial.instrumentation._streams import Proxy, TracedAsyncStream, TracedStream

_stream = library_classes("anthropic", "Stream")
_async_stream = library_classes("anthropic", "AsyncStream")


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
        for name, value in usage_counts(usage).items():
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
            return text_block_part(block["text"])
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
            output = output_messages(parts, self._stop_reason)
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
        if isinstance(raw, _async_stream()):
            message_stream._raw_stream = TracedAsyncStream(raw, call, accumulator)
        elif isinstance(raw, _stream()):
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
        with guard("anthropic-snapshot", "could not read an anthropic stream's message"):
            partial = _snapshot_result(message_stream)
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


# The async twin of TracedMessageStreamManager, by nature: the same steps, awaited.
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
