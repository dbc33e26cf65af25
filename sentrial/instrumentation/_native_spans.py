"""One span per LLM call when a provider SDK traces itself, or another instrumentation patched it too.

- The anthropic SDK starts a span of its own for every API call (``anthropic.messages.create``,
  with token usage). Inside a call that Sentrial traces, its span starter is made to start none
  (the SDK documents that it goes on without a span then), so the call is counted once, on ours.
- Another instrumentation of the same method that patched it before us (OpenInference,
  Traceloop, the official GenAI instrumentations, all wrapt wrappers) runs inside our span: the
  call below ours runs with OpenTelemetry's suppress-instrumentation key set, which they honour.
  (One that patched after us runs outside ours; then ours steps back: see ``should_trace``.)
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable
from contextvars import Token
from typing import Any

import wrapt
from opentelemetry import context as otel_context

from sentrial._guard import guard
from sentrial.instrumentation._llm import inside_llm_call

# Library -> (module, function) of the SDK's own span starter, which may return None for "no span".
NATIVE_SPAN_STARTERS: dict[str, tuple[str, str]] = {
    "anthropic": ("anthropic._base_client", "start_api_call_span"),
}
WRAPPED_MARK = "_self_sentrial_wrapped"  # on our own wrappers ("_self_" keeps it on the wrapt proxy)

_silenced: set[str] = set()
_lock = threading.Lock()


def silence_native_spans(library: str) -> None:
    """Make ``library``'s own spans start nowhere inside a call Sentrial traces (once per process;
    outside our calls the wrapper only passes the call on)."""
    starter = NATIVE_SPAN_STARTERS.get(library)
    with _lock:
        if starter is None or library in _silenced:
            return
        _silenced.add(library)
    module, function = starter
    with guard("native-spans", "could not keep %s's own spans out of Sentrial's LLM calls", library):
        found = importlib.import_module(module)
        if callable(getattr(found, function, None)):  # an SDK version without its own spans: nothing to do
            wrapt.wrap_function_wrapper(found, function, _no_span_inside_ours)


def _no_span_inside_ours(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
    if inside_llm_call():
        return None
    return wrapped(*args, **kwargs)


def patched_by_another(owner: type, method: str) -> bool:
    """Whether another instrumentation's wrapt wrapper sits on ``owner.method`` (ours carry a mark)."""
    found = inspect.getattr_static(owner, method, None)
    return isinstance(found, wrapt.FunctionWrapper) and not getattr(found, WRAPPED_MARK, False)


def _suppress() -> Token[otel_context.Context]:
    return otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))


def suppressing(wrapped: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
    """``wrapped`` (another instrumentation's wrapper) called with instrumentation suppressed."""
    if is_async:

        async def call_async(*args: Any, **kwargs: Any) -> Any:
            token = otel_context.attach(
                otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True)
            )
            try:
                return await wrapped(*args, **kwargs)
            finally:
                otel_context.detach(token)

        return call_async

    def call(*args: Any, **kwargs: Any) -> Any:
        token = _suppress()
        try:
            return wrapped(*args, **kwargs)
        finally:
            otel_context.detach(token)

    return call
