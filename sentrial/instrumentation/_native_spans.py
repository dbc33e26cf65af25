"""One span per LLM call when a provider SDK traces itself, or another instrumentation patched it too.

- The anthropic SDK starts a span of its own for every API call (``anthropic.messages.create``,
  with token usage). Inside a call that Sentrial traces, its span starter is made to start none
  (the SDK documents that it goes on without a span then), so the call is counted once, on ours.
- OpenInference and Traceloop, when their instrumentor of the same library is active (they patch
  the client's ``request`` or the same methods as we do): our call runs with OpenTelemetry's
  suppress-instrumentation key set, which they honour. (That key also silences HTTP client spans
  below the call, so it is set only when such a peer is active.)
- The official GenAI instrumentations (``opentelemetry-instrumentation-openai-v2``,
  ``-google-genai``) do not read that key: when one patched the method before us, its wrapper is
  stepped over (it only traces). One that patched after us wraps ours; then ours steps back and
  its span is the call's one span (see ``should_trace``), mapped by the exporter.
"""

from __future__ import annotations

import importlib
import inspect
import sys
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
# Instrumentors of the same libraries that honour the suppress key: (module, class) by library.
SUPPRESSIBLE_PEERS: dict[str, tuple[tuple[str, str], ...]] = {
    "openai": (
        ("openinference.instrumentation.openai", "OpenAIInstrumentor"),
        ("opentelemetry.instrumentation.openai", "OpenAIInstrumentor"),  # Traceloop's
    ),
    "anthropic": (
        ("openinference.instrumentation.anthropic", "AnthropicInstrumentor"),
        ("opentelemetry.instrumentation.anthropic", "AnthropicInstrumentor"),  # Traceloop's
    ),
    "google": (("openinference.instrumentation.google_genai", "GoogleGenAIInstrumentor"),),
}
# Packages whose wrappers only trace and ignore the suppress key: stepped over when below ours.
STEPPED_OVER_PEERS = ("opentelemetry.instrumentation.openai_v2", "opentelemetry.instrumentation.google_genai")
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


def suppressible_peer_active(peers: tuple[tuple[str, str], ...]) -> bool:
    """Whether one of ``peers`` (a value of :data:`SUPPRESSIBLE_PEERS`) is instrumenting now."""
    modules = sys.modules
    for module, name in peers:
        if module in modules:  # on every call: a look-up per peer unless one is imported
            instrumentor = getattr(getattr(modules[module], name, None), "_instance", None)
            if getattr(instrumentor, "_is_instrumented_by_opentelemetry", False):
                return True
    return False


def step_over(wrapped: Callable[..., Any]) -> Callable[..., Any]:
    """``wrapped`` without the wrapper of a peer that only traces and ignores the suppress key."""
    wrapper = getattr(wrapped, "_self_wrapper", None)
    if getattr(wrapper, "__module__", "").startswith(STEPPED_OVER_PEERS):
        return step_over(wrapped.__wrapped__)  # type: ignore[attr-defined]
    return wrapped


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
