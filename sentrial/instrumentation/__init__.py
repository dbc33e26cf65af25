"""LLM auto-instrumentation: one ``BaseInstrumentor`` per provider library, patched with wrapt.

:func:`instrument_when_imported` applies each instrumentor when its library is imported (at once
if it already is), so ``import sentrial`` and ``configure()`` never import a provider library.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
from typing import Any

import wrapt

from sentrial_otel_exporter.forks import renew_in_child

logger = logging.getLogger("sentrial")

# The module whose import triggers an instrumentor, and where that instrumentor lives.
INSTRUMENTORS: dict[str, tuple[str, str]] = {
    "openai": ("sentrial.instrumentation.openai", "OpenAIInstrumentor"),
    "anthropic": ("sentrial.instrumentation.anthropic", "AnthropicInstrumentor"),
    "google.genai": ("sentrial.instrumentation.google_genai", "GoogleGenAIInstrumentor"),
    "google.generativeai": ("sentrial.instrumentation.google_generativeai", "GoogleGenerativeAIInstrumentor"),
    "langchain_core": ("sentrial.integrations.langchain", "LangChainInstrumentor"),
    "claude_agent_sdk": ("sentrial.integrations.claude_agent", "ClaudeAgentInstrumentor"),
}

_hooked: set[str] = set()  # libraries with an import hook (wrapt cannot take one back)
# Libraries to instrument when imported, with the tracer provider to use; the hooks of libraries not
# in it do nothing (after uninstrument_all(), a library imported later stays untraced).
_wanted: dict[str, Any] = {}
_lock = threading.Lock()
renew_in_child(globals(), "_lock")


def load_instrumentor(library: str) -> Any:
    """The (singleton) instrumentor for ``library``, a key of :data:`INSTRUMENTORS`."""
    module_name, class_name = INSTRUMENTORS[library]
    return getattr(importlib.import_module(module_name), class_name)()


def instrument_when_imported(tracer_provider: Any = None) -> None:
    """Instrument every supported provider library as soon as the app imports it (again, if it
    was uninstrumented since)."""
    with _lock:
        libraries = [name for name in INSTRUMENTORS if name not in _hooked]
        _hooked.update(libraries)
        _wanted.update(dict.fromkeys(INSTRUMENTORS, tracer_provider))
    for library in INSTRUMENTORS:
        if library in libraries:
            wrapt.register_post_import_hook(_hook(library), library)
        elif library in sys.modules:
            _instrument(library, tracer_provider)


def _hook(library: str) -> Any:
    def on_import(module: Any) -> None:
        with _lock:
            wanted, tracer_provider = library in _wanted, _wanted.get(library)
        if wanted:
            _instrument(library, tracer_provider)

    return on_import


def _instrument(library: str, tracer_provider: Any) -> None:
    try:
        instrumentor = load_instrumentor(library)
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=tracer_provider)
    except Exception:
        logger.warning("sentrial: could not instrument %s; its calls are not traced", library, exc_info=True)


def uninstrument_all() -> None:
    """Undo every instrumentor applied so far (importing nothing that is not imported yet), and
    leave the libraries not imported yet untraced when they are."""
    with _lock:
        _wanted.clear()
    for library, (module_name, _) in INSTRUMENTORS.items():
        if module_name not in sys.modules:
            continue
        instrumentor = load_instrumentor(library)
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
