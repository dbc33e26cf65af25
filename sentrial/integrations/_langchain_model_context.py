"""Each LangChain model call run in a context of its own.

The handler makes an LLM run's span current from the run's start to its end, so the provider
library's own instrumentation (and anything else the call does) nests under it. LangChain ends
async runs in tasks of their own, where that context cannot be left, and between the chunks of a
stream the caller's own code would run inside it. Running each model call in a copy of the
caller's context keeps whatever the call makes current inside the call.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap

from sentrial_otel_exporter.forks import renew_in_child

_scoped: list[type] = []
_scoped_lock = threading.Lock()
renew_in_child(globals(), "_scoped_lock")


def scope_model_calls() -> None:
    """Run every LangChain model call in a context of its own (once per process)."""
    from langchain_core.language_models import BaseChatModel, BaseLLM

    with _scoped_lock:
        if _scoped:
            return
        for owner in (BaseChatModel, BaseLLM):
            for method, wrapper in _OWN_CONTEXT_WRAPPERS.items():
                wrapt.wrap_function_wrapper(owner, method, wrapper)
            _scoped.append(owner)


def unscope_model_calls() -> None:
    """Undo :func:`scope_model_calls`."""
    with _scoped_lock:
        for owner in _scoped:
            for method in _OWN_CONTEXT_WRAPPERS:
                unwrap(owner, method)
        _scoped.clear()


def _generate_in_own_context(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    return contextvars.copy_context().run(wrapped, *args, **kwargs)


def _agenerate_in_own_context(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    return _in_task(wrapped(*args, **kwargs))


async def _in_task(coroutine: Any) -> Any:
    # A task runs in a copy of the context it was created in; cancelling the caller cancels it.
    return await asyncio.ensure_future(coroutine)


def _stream_in_own_context(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    return _iterate_in_own_context(wrapped(*args, **kwargs))


# Twins by nature: the same stepping, for a sync and an async iterator.
def _iterate_in_own_context(iterator: Iterator[Any]) -> Iterator[Any]:
    context = contextvars.copy_context()
    try:
        while True:
            try:
                item = context.run(next, iterator)
            except StopIteration:
                return
            yield item
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            context.run(close)


def _astream_in_own_context(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    return _aiterate_in_own_context(wrapped(*args, **kwargs))


async def _aiterate_in_own_context(iterator: AsyncIterator[Any]) -> AsyncIterator[Any]:
    context = contextvars.copy_context()
    try:
        while True:
            try:
                item = await _step_in(context, iterator.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await _step_in(context, close())


def _step_in(context: contextvars.Context, step: Any) -> Any:
    """A task running one step of an async iterator in ``context`` (before Python 3.11, which cannot
    give a task a context, in a copy of it: the step's own changes then end with the step)."""
    if sys.version_info >= (3, 11):
        return asyncio.get_running_loop().create_task(step, context=context)
    return context.run(asyncio.ensure_future, step)


_OWN_CONTEXT_WRAPPERS: dict[str, Callable[..., Any]] = {
    "generate": _generate_in_own_context,
    "agenerate": _agenerate_in_own_context,
    "stream": _stream_in_own_context,
    "astream": _astream_in_own_context,
}
