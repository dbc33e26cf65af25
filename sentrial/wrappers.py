"""The reference's per-client wrappers: ``wrap_openai(client)`` and friends.

They trace one client (or model) object with the same code that instruments a whole library, so
wrapping twice, or wrapping a client of an instrumented library, still gives one span per call.
"""

from __future__ import annotations

import importlib
import logging
from typing import TypeVar

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


def wrap_openai(client: _C) -> _C:
    """Trace every call of this OpenAI (or Azure OpenAI) client, sync or async; returns the client."""
    return _wrap(client, _PROVIDER_MODULES["openai"], "OpenAI")


def wrap_anthropic(client: _C) -> _C:
    """Trace every call of this Anthropic client, sync or async; returns the client."""
    return _wrap(client, _PROVIDER_MODULES["anthropic"], "Anthropic")


def wrap_google(model_or_client: _C) -> _C:
    """Trace every call of this google-genai client (or google-generativeai GenerativeModel); returns it."""
    module_name = _provider_module(model_or_client) or _PROVIDER_MODULES["google"]
    return _wrap(model_or_client, module_name, "Google GenAI")


def _provider_module(obj: object) -> str | None:
    """The instrumentation module for an object, by the package its class comes from."""
    module = type(obj).__module__
    if module.startswith("google.generativeai"):
        return _LEGACY_GOOGLE_MODULE
    return _PROVIDER_MODULES.get(module.split(".")[0])


def wrap_llm(client: _C) -> _C:
    """Detect the client's provider and wrap it; an unknown client is returned unchanged, with a warning."""
    package = type(client).__module__.split(".")[0]
    module_name = _provider_module(client)
    if module_name is None:
        logger.warning(
            "sentrial: wrap_llm does not know %s clients; left unwrapped", type(client).__qualname__
        )
        return client
    return _wrap(client, module_name, package)
