"""Streams that behave exactly as the provider's own and end their LLM span exactly once.

:class:`TracedStream` and :class:`TracedAsyncStream` are transparent proxies (``isinstance`` holds,
every attribute and helper passes through). The span ends when the stream is exhausted, closed,
left by ``with``/``async with``, fails, or is garbage-collected unfinished (then as abandoned).
Each chunk is handed to an accumulator that knows the provider's chunk format.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import wrapt

from sentrial._guard import failed
from sentrial.instrumentation._llm import LlmCall, LlmResult

if TYPE_CHECKING:
    Proxy = wrapt.ObjectProxy[Any]
else:
    Proxy = wrapt.ObjectProxy  # not subscriptable on every wrapt version
"""The base of every wrapper the instrumentation puts around a provider's object."""


class Accumulator(Protocol):
    """Collects a stream's chunks into the call's result."""

    def add(self, chunk: Any) -> None:
        """Take one chunk into account."""

    def result(self) -> LlmResult:
        """What the chunks so far add up to."""


class _Tracking:
    """The span bookkeeping both proxies share (kept off the proxied object's namespace)."""

    def __init__(self, call: LlmCall, accumulator: Accumulator) -> None:
        self.call = call
        self.accumulator = accumulator
        self.seen_chunk = False

    def observe(self, chunk: Any) -> None:
        if not self.seen_chunk:
            self.seen_chunk = True
            self.call.mark_first_chunk()
        try:
            self.accumulator.add(chunk)
        except Exception:
            failed(f"accumulate-{type(self.accumulator).__qualname__}", "could not read a stream chunk")

    def partial(self) -> LlmResult | None:
        try:
            return self.accumulator.result()
        except Exception:
            failed(f"result-{type(self.accumulator).__qualname__}", "could not sum up a stream")
            return None

    def end(self) -> None:
        if not self.call.ended:
            self.call.succeed(self.partial() or LlmResult())

    def fail(self, error: BaseException) -> None:
        if not self.call.ended:
            self.call.fail(error, self.partial())

    def leave(self, error: BaseException | None) -> None:
        if error is None:
            self.end()
        else:
            self.fail(error)

    def abandon(self) -> None:
        if not self.call.ended:
            self.call.abandon(self.partial())


class TracedStream(Proxy):
    """A synchronous provider stream whose LLM span ends with it."""

    def __init__(self, wrapped: Any, call: LlmCall, accumulator: Accumulator) -> None:
        super().__init__(wrapped)
        self._self_tracking = _Tracking(call, accumulator)

    def __iter__(self) -> TracedStream:
        return self

    def __next__(self) -> Any:
        try:
            chunk = self.__wrapped__.__next__()
        except StopIteration:
            self._self_tracking.end()
            raise
        except BaseException as error:
            self._self_tracking.fail(error)
            raise
        self._self_tracking.observe(chunk)
        return chunk

    def __enter__(self) -> TracedStream:
        self.__wrapped__.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            self._self_tracking.leave(exc)

    def close(self) -> None:
        """Close the provider's stream; the span ends with what was received."""
        try:
            self.__wrapped__.close()
        finally:
            self._self_tracking.end()

    def __del__(self) -> None:
        self._self_tracking.abandon()


# Twin by nature of TracedStream, for async iteration and async with.
class TracedAsyncStream(Proxy):
    """An asynchronous provider stream whose LLM span ends with it."""

    def __init__(self, wrapped: Any, call: LlmCall, accumulator: Accumulator) -> None:
        super().__init__(wrapped)
        self._self_tracking = _Tracking(call, accumulator)

    def __aiter__(self) -> TracedAsyncStream:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_tracking.end()
            raise
        except BaseException as error:
            self._self_tracking.fail(error)
            raise
        self._self_tracking.observe(chunk)
        return chunk

    async def __aenter__(self) -> TracedAsyncStream:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            self._self_tracking.leave(exc)

    async def close(self) -> None:
        """Close the provider's stream (``await stream.close()``); the span ends with what was received."""
        try:
            closing = getattr(self.__wrapped__, "close", None) or self.__wrapped__.aclose
            await closing()
        finally:
            self._self_tracking.end()

    async def aclose(self) -> None:
        """Close the provider's stream (``await stream.aclose()``); the span ends with what was received."""
        try:
            closing = getattr(self.__wrapped__, "aclose", None) or self.__wrapped__.close
            await closing()
        finally:
            self._self_tracking.end()

    def __del__(self) -> None:
        self._self_tracking.abandon()
