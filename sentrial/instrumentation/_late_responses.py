"""Responses whose body the caller reads after the call returns, traced through ``parse()``.

``with_streaming_response`` in the OpenAI and Anthropic SDKs, and their ``with_raw_response`` of a
streamed call (LangChain streams OpenAI that way), return a response object before its body is read:
there is nothing to record yet. The span then follows the caller: the first ``parse()`` hands the
answer to the method's finish step (a streamed call's ``parse()`` gives the traced stream), and
closing the response, as the SDK's ``with`` block does, ends the span with what was read, closing a
stream left early too. A body the caller reads raw (``iter_lines()``, ``json()``), or whose parsing
fails, ends the span without the answer: the call itself went well. A response dropped unclosed and
unparsed ends it as abandoned.
"""

from __future__ import annotations

import inspect
from typing import Any

from sentrial.instrumentation._llm import Finish, LlmCall, LlmResult, finish_guarded
from sentrial.instrumentation._streams import Proxy, TracedAsyncStream, TracedStream

_NOT_PARSED: Any = object()


def follow_late_response(call: LlmCall, response: Any, finish: Finish) -> Any:
    """``response``, traced through its ``parse()`` and ended by its ``close()``."""
    if inspect.iscoroutinefunction(getattr(response, "parse", None)):
        return TracedAsyncLateResponse(response, call, finish)
    return TracedLateResponse(response, call, finish)


def _end_unread(call: LlmCall) -> None:
    if not call.ended:
        call.succeed(LlmResult())  # read raw or not at all: no answer to record


class _LateResponse(Proxy):
    """What both proxies hold: the call, its finish step and what the first parse gave."""

    def __init__(self, response: Any, call: LlmCall, finish: Finish) -> None:
        super().__init__(response)
        self._self_call = call
        self._self_finish = finish
        self._self_parsed = _NOT_PARSED

    def _self_record(self, parsed: Any) -> Any:
        self._self_parsed = finish_guarded(self._self_call, self._self_finish, parsed)
        return self._self_parsed

    def __del__(self) -> None:
        if self._self_parsed is _NOT_PARSED and not self._self_call.ended:
            self._self_call.abandon()  # a stream handed out ends by itself


class TracedLateResponse(_LateResponse):
    """A synchronous SDK response whose span ends with what its ``parse()`` gave."""

    def parse(self, *, to: Any = None) -> Any:
        """The SDK's parse; the call's own answer (a stream: the traced stream) is recorded."""
        if to is not None:  # another type than the method's: the SDK's business alone
            return self.__wrapped__.parse(to=to)
        if self._self_parsed is _NOT_PARSED:
            return self._self_record(self.__wrapped__.parse())
        return self._self_parsed

    def close(self) -> None:
        """Close the response (and a stream of it left early); the span ends with what was read."""
        try:
            if isinstance(self._self_parsed, TracedStream):
                self._self_parsed.close()
            self.__wrapped__.close()
        finally:
            _end_unread(self._self_call)


class TracedAsyncLateResponse(_LateResponse):
    """An asynchronous SDK response whose span ends with what its ``await parse()`` gave."""

    async def parse(self, *, to: Any = None) -> Any:
        """The SDK's parse; the call's own answer (a stream: the traced stream) is recorded."""
        if to is not None:
            return await self.__wrapped__.parse(to=to)
        if self._self_parsed is _NOT_PARSED:
            return self._self_record(await self.__wrapped__.parse())
        return self._self_parsed

    async def close(self) -> None:
        """Close the response (and a stream of it left early); the span ends with what was read."""
        try:
            if isinstance(self._self_parsed, TracedAsyncStream):
                await self._self_parsed.close()
            await self.__wrapped__.close()
        finally:
            _end_unread(self._self_call)
