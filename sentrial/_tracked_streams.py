"""The published package's tracked stream classes, over this SDK's traced streams.

Wrapped clients trace their streams themselves; these classes are for code that wraps a provider's
stream by hand, as the published package lets it: ``TrackedOpenAISyncStream(stream, started,
messages, model, track_without_session)``. Each starts an LLM span at ``start_time`` (seconds since
the epoch, as ``time.time()`` gives) that ends with the stream, like a wrapped client's.
Importing this module needs both the openai and the anthropic package.
"""

from __future__ import annotations

from typing import Any

from sentrial import semconv as sc
from sentrial.instrumentation._anthropic_messages import input_messages, system_instructions
from sentrial.instrumentation._anthropic_streams import EventAccumulator
from sentrial.instrumentation._base import INSTRUMENTATION_TRACER
from sentrial.instrumentation._llm import LlmCall, LlmRequest, capture_content
from sentrial.instrumentation._openai_chat import ChatStreamAccumulator, chat_input
from sentrial.instrumentation._streams import TracedAsyncStream, TracedStream

__all__ = [
    "TrackedAsyncMessageStream",
    "TrackedMessageStream",
    "TrackedOpenAIAsyncStream",
    "TrackedOpenAISyncStream",
]


def _call(provider: str, model: Any, start_time: Any, messages: Any, system: Any) -> LlmCall:
    """The span of a streamed chat call begun at ``start_time`` (seconds; now when not a number)."""
    started = (
        start_time if isinstance(start_time, (int, float)) and not isinstance(start_time, bool) else None
    )
    request = LlmRequest(
        provider=provider,
        operation=sc.OPERATION_CHAT,
        model=model if isinstance(model, str) else None,
        input_messages=messages,
        system_instructions=system,
        stream=True,
    )
    return LlmCall(
        INSTRUMENTATION_TRACER(), request, start_time=None if started is None else int(started * 1e9)
    )


def _openai_call(model: Any, start_time: Any, messages: Any) -> LlmCall:
    converted, system = chat_input(messages) if capture_content() else (None, None)
    return _call(sc.PROVIDER_OPENAI, model, start_time, converted, system)


def _anthropic_call(model: Any, start_time: Any, messages: Any, system: Any) -> LlmCall:
    capture = capture_content()
    return _call(
        sc.PROVIDER_ANTHROPIC,
        model,
        start_time,
        input_messages(messages) if capture else None,
        system_instructions(system) if capture else None,
    )


class TrackedOpenAISyncStream(TracedStream):
    """An openai chat completion stream, traced until it is exhausted, closed or left."""

    def __init__(
        self, stream: Any, start_time: float, messages: Any, model: str, track_without_session: bool = False
    ) -> None:
        super().__init__(stream, _openai_call(model, start_time, messages), ChatStreamAccumulator())

    def __exit__(self, *exc_info: Any) -> Any:
        return super().__exit__(*exc_info)


# Twin by nature of TrackedOpenAISyncStream, for async iteration.
class TrackedOpenAIAsyncStream(TracedAsyncStream):
    """An openai async chat completion stream, traced until it is exhausted, closed or left."""

    def __init__(
        self, stream: Any, start_time: float, messages: Any, model: str, track_without_session: bool = False
    ) -> None:
        super().__init__(stream, _openai_call(model, start_time, messages), ChatStreamAccumulator())

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await super().__aexit__(*exc_info)


class TrackedMessageStream(TracedStream):
    """An anthropic stream of message events, traced until it is exhausted or its final message read."""

    def __init__(
        self,
        stream: Any,
        start_time: float,
        messages: Any,
        model: str,
        system: Any = None,
        track_without_session: bool = False,
    ) -> None:
        super().__init__(stream, _anthropic_call(model, start_time, messages, system), EventAccumulator())

    @property
    def text(self) -> Any:
        """The underlying stream's ``text``."""
        return self.__wrapped__.text

    def get_final_message(self) -> Any:
        """The underlying stream's final message; the span ends here."""
        try:
            return self.__wrapped__.get_final_message()
        finally:
            self._self_tracking.end()

    def get_final_text(self) -> Any:
        """The underlying stream's final text; the span ends here."""
        try:
            return self.__wrapped__.get_final_text()
        finally:
            self._self_tracking.end()


# Twin by nature of TrackedMessageStream, for async iteration.
class TrackedAsyncMessageStream(TracedAsyncStream):
    """An anthropic async stream of message events, traced until it is exhausted or its final message read."""

    def __init__(
        self,
        stream: Any,
        start_time: float,
        messages: Any,
        model: str,
        system: Any = None,
        track_without_session: bool = False,
    ) -> None:
        super().__init__(stream, _anthropic_call(model, start_time, messages, system), EventAccumulator())

    async def get_final_message(self) -> Any:
        """The underlying stream's final message; the span ends here."""
        try:
            return await self.__wrapped__.get_final_message()
        finally:
            self._self_tracking.end()

    async def get_final_text(self) -> Any:
        """The underlying stream's final text; the span ends here."""
        try:
            return await self.__wrapped__.get_final_text()
        finally:
            self._self_tracking.end()
