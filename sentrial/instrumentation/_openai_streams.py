"""The openai SDK's streams traced: proxies whose HTTP ``response``, closed as the SDK's stream
helpers close it, ends the call's span."""

from __future__ import annotations

from typing import Any

from sentrial.instrumentation._deferred import library_classes
from sentrial.instrumentation._llm import LlmCall, LlmResult
from sentrial.instrumentation._streams import Accumulator, Proxy, TracedAsyncStream, TracedStream

_stream = library_classes("openai", "Stream")
_async_stream = library_classes("openai", "AsyncStream")


# --- streams ------------------------------------------------------------------------------------------------
class _ClosingResponse(Proxy):
    """The HTTP response of a traced stream: closing it (as the SDK's stream helpers do) ends the span."""

    def __init__(self, response: Any, stream: TracedStream) -> None:
        super().__init__(response)
        self._self_stream = stream

    def close(self) -> None:
        """Close the response through the traced stream."""
        self._self_stream.close()


class _AsyncClosingResponse(Proxy):
    """The HTTP response of a traced async stream: ``aclose()`` ends the span."""

    def __init__(self, response: Any, stream: TracedAsyncStream) -> None:
        super().__init__(response)
        self._self_stream = stream

    async def aclose(self) -> None:
        """Close the response through the traced stream."""
        await self._self_stream.aclose()


class _OpenAIStream(TracedStream):
    """A traced ``openai.Stream`` whose ``response`` ends the span when closed."""

    @property
    def response(self) -> Any:
        """The stream's HTTP response."""
        return _ClosingResponse(self.__wrapped__.response, self)


class _OpenAIAsyncStream(TracedAsyncStream):
    """A traced ``openai.AsyncStream`` whose ``response`` ends the span when closed."""

    @property
    def response(self) -> Any:
        """The stream's HTTP response."""
        return _AsyncClosingResponse(self.__wrapped__.response, self)


def traced_stream(call: LlmCall, result: Any, accumulator: Accumulator) -> Any:
    """``result`` traced when it is one of the SDK's streams; else the span ends at once."""
    if isinstance(result, _async_stream()):
        return _OpenAIAsyncStream(result, call, accumulator)
    if isinstance(result, _stream()):
        return _OpenAIStream(result, call, accumulator)
    call.succeed(LlmResult())  # not a stream of the SDK's: nothing for us to follow
    return result
