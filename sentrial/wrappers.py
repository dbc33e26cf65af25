"""The reference's per-client wrappers: ``wrap_openai(client)`` and friends.

They trace one client (or model) object with the same code that instruments a whole library, so
wrapping twice, or wrapping a client of an instrumented library, still gives one span per call.
A call made outside every session is recorded in its trace's session whatever
``track_without_session`` says (see docs/migrating.md).

``set_session_context(session_id)`` makes later LLM calls here (this thread or task) record into
that session, as ``@session`` does for its body.
"""

from __future__ import annotations

import contextvars
import importlib
import logging
from typing import Any, TypeVar

from opentelemetry import context as otel_context

from sentrial._guard import guarded
from sentrial.tracing import SessionRoute, current_route, leave_context, with_route

logger = logging.getLogger("sentrial")

_C = TypeVar("_C")

# Which provider module's patches apply to a client, by the top-level package of its class.
_PROVIDER_MODULES = {
    "openai": "sentrial.instrumentation.openai",
    "anthropic": "sentrial.instrumentation.anthropic",
    "google": "sentrial.instrumentation.google_genai",
}
_LEGACY_GOOGLE_MODULE = "sentrial.instrumentation.google_generativeai"


def _wrap(client: _C, module_name: str, what: str) -> _C:
    from sentrial.instrumentation._base import wrap_instance  # BaseInstrumentor & co: only when used

    try:
        module = importlib.import_module(module_name)
        wrapped = wrap_instance(client, module.PATCHES)
    except ImportError:
        logger.warning("sentrial: %s is not installed; %s left unwrapped", what, type(client).__name__)
        return client
    except Exception:  # an object that is no client of the library: the app keeps it as it was
        logger.exception("sentrial: could not wrap %s; left unwrapped", type(client).__name__)
        return client
    if not wrapped:
        logger.warning("sentrial: %s is not a %s client; left unwrapped", type(client).__name__, what)
    return client


def wrap_openai(client: _C, track_without_session: bool = False) -> _C:
    """Trace every call of this OpenAI (or Azure OpenAI) client, sync or async; returns the client."""
    return _wrap(client, _PROVIDER_MODULES["openai"], "OpenAI")


def wrap_anthropic(client: _C, track_without_session: bool = False) -> _C:
    """Trace every call of this Anthropic client, sync or async; returns the client."""
    return _wrap(client, _PROVIDER_MODULES["anthropic"], "Anthropic")


def wrap_google(client: _C, track_without_session: bool = False) -> _C:
    """Trace every call of this google-genai client (or google-generativeai GenerativeModel); returns it."""
    module_name = _provider_module(client) or _PROVIDER_MODULES["google"]
    return _wrap(client, module_name, "Google GenAI")


def _provider_module(obj: object) -> str | None:
    """The instrumentation module for an object, by the package its class comes from."""
    module = type(obj).__module__
    if module.startswith("google.generativeai"):
        return _LEGACY_GOOGLE_MODULE
    return _PROVIDER_MODULES.get(module.split(".")[0])


def wrap_llm(client: _C, provider: str | None = None) -> _C:
    """Wrap the client of ``provider`` ("openai", "anthropic" or "google"; detected when not given).

    An unknown client is returned unchanged, with a warning.
    """
    package = type(client).__module__.split(".")[0]
    if provider == "google":
        module_name: str | None = _provider_module(client) or _PROVIDER_MODULES["google"]
    else:
        module_name = _PROVIDER_MODULES.get(provider or "") or _provider_module(client)
    if module_name is None:
        logger.warning(
            "sentrial: wrap_llm does not know %s clients; left unwrapped", type(client).__qualname__
        )
        return client
    return _wrap(client, module_name, package)


# The context entered by set_session_context, to leave on clear_session_context.
_entered: contextvars.ContextVar[object | None] = contextvars.ContextVar("sentrial_set_session", default=None)


@guarded("%s() failed; the app carries on")
def set_session_context(session_id: str, client: Any = None) -> None:
    """Record the LLM calls made from here on (this thread or task) into session ``session_id``.

    ``client`` is the ``SentrialClient`` that sends them (default: the configured one).
    """
    from sentrial.api import get_client  # the default client, made on first use

    delivery = (client or get_client()).delivery
    token = otel_context.attach(with_route(SessionRoute(session_id, delivery)))
    _entered.set(token)


@guarded("%s() failed; the app carries on")
def clear_session_context() -> None:
    """Undo ``set_session_context``: later LLM calls here belong to no session set that way."""
    token = _entered.get()
    if token is not None:
        _entered.set(None)
        leave_context(token)


def get_session_context() -> str | None:
    """The id of the session current here, if any."""
    route = current_route()
    return route.session_id if route is not None else None


_TRACKED_STREAMS = frozenset(
    {
        "TrackedOpenAISyncStream",
        "TrackedOpenAIAsyncStream",
        "TrackedMessageStream",
        "TrackedAsyncMessageStream",
    }
)


def __getattr__(name: str) -> Any:
    # The tracked stream classes need the provider packages: imported when first asked for.
    if name in _TRACKED_STREAMS:
        from sentrial import _tracked_streams

        return getattr(_tracked_streams, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
