"""What every provider instrumentor shares: a declarative list of patches, applied to the library's
classes (``instrument``) or to one client instance (``wrap_*``), and undone cleanly."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import Tracer

from sentrial._guard import guard
from sentrial._ids import TracerSource
from sentrial.instrumentation._deferred import DeferredInstrumentor
from sentrial.instrumentation._llm import Describe, Finish, async_wrapper, sync_wrapper
from sentrial.instrumentation._metrics import use_meter_provider
from sentrial.instrumentation._native_spans import (
    SUPPRESSIBLE_PEERS,
    WRAPPED_MARK,
    patched_by_another,
    silence_native_spans,
    step_over,
    suppressible_peer_active,
    suppressing,
)

TRACER_NAME = "sentrial.instrumentation"
INSTRUMENTATION_TRACER = TracerSource(TRACER_NAME)
"""The tracer of LLM calls traced through no client of their own (on the global provider)."""


@dataclass(frozen=True)
class Patch:
    """One provider method to trace: ``owner`` (a class in ``module``) and its ``method``.

    ``client_path`` is where an instance of ``owner`` hangs off a client object (``"chat.completions"``),
    for per-client wrapping; empty when the owner is the object itself (a model object).
    """

    module: str
    owner: str
    method: str
    is_async: bool
    describe: Describe
    finish: Finish
    client_path: str = ""

    def wrapper(self, get_tracer: Callable[[], Tracer], over_another: bool = False) -> Callable[..., Any]:
        """The wrapt wrapper of this method; ``over_another`` when it wraps another instrumentation's
        wrapper. Other instrumentations of the library below ours add no span (see _native_spans)."""
        make = async_wrapper if self.is_async else sync_wrapper
        traced = make(get_tracer, self.describe, self.finish)
        is_async, peers = self.is_async, SUPPRESSIBLE_PEERS.get(self.module.partition(".")[0], ())
        # A peer can be instrumenting only once its module is imported: most calls see none of them
        # imported, found in C (a look-up per peer module) rather than by a Python call.
        peer_modules = frozenset(module for module, _ in peers)

        def once(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            if over_another:
                wrapped = step_over(wrapped)
            if not sys.modules.keys().isdisjoint(peer_modules) and suppressible_peer_active(peers):
                wrapped = suppressing(wrapped, is_async)
            return traced(wrapped, instance, args, kwargs)

        return once

    def resolve_owner(self) -> type | None:
        """The owner class, or None when this version of the library does not have it."""
        try:
            module = importlib.import_module(self.module)
        except ImportError:
            return None
        owner = getattr(module, self.owner, None)
        return owner if isinstance(owner, type) and hasattr(owner, self.method) else None


class LlmInstrumentor(DeferredInstrumentor):
    """Patches the classes of one provider library, so every client instance is traced (once the
    app imports the library: ``library``, the top module the patches live under)."""

    patches: Sequence[Patch] = ()
    dependencies: Collection[str] = ()

    def instrumentation_dependencies(self) -> Collection[str]:
        """The library versions this instrumentor supports."""
        return self.dependencies

    def _apply(self, **kwargs: Any) -> None:
        if kwargs.get("meter_provider") is not None:
            use_meter_provider(kwargs["meter_provider"])
        tracer = TracerSource(TRACER_NAME, kwargs.get("tracer_provider"))
        self._applied: list[tuple[type, str]] = []
        for patch in self.patches:
            owner = patch.resolve_owner()
            if owner is None:
                continue
            over_another = patched_by_another(owner, patch.method)
            wrapper = wrapt.wrap_function_wrapper(owner, patch.method, patch.wrapper(tracer, over_another))
            setattr(wrapper, WRAPPED_MARK, True)
            self._applied.append((owner, patch.method))
        silence_native_spans(self.library)

    def _remove(self, **kwargs: Any) -> None:
        for owner, method in getattr(self, "_applied", []):
            unwrap(owner, method)
        self._applied = []


def wrap_instance(target: Any, patches: Sequence[Patch], tracer: Tracer | None = None) -> int:
    """Trace the methods of one client (or model) object; returns how many methods were wrapped.

    Wrapping an object twice wraps nothing more.
    """
    get_tracer = (lambda: tracer) if tracer is not None else INSTRUMENTATION_TRACER
    wrapped = 0
    for patch in patches:
        owner_class = patch.resolve_owner()
        if owner_class is None:  # checked first: walking a client path can import a lot
            continue
        owner_object = target
        for part in filter(None, patch.client_path.split(".")):
            owner_object = getattr(owner_object, part, None)
            if owner_object is None:
                break
        if owner_object is None or not isinstance(owner_object, owner_class):
            continue
        method = getattr(owner_object, patch.method)
        if getattr(method, WRAPPED_MARK, False):
            wrapped += 1
            continue
        over_another = patched_by_another(owner_class, patch.method)
        function_wrapper = wrapt.FunctionWrapper(method, patch.wrapper(get_tracer, over_another))
        setattr(function_wrapper, WRAPPED_MARK, True)
        setattr(owner_object, patch.method, function_wrapper)
        wrapped += 1
    if wrapped:
        silence_native_spans(patches[0].module.partition(".")[0])
        _wrap_copies(target, patches, tracer)
    return wrapped


# The methods by which the OpenAI and Anthropic clients make a changed copy of themselves
# (``client.with_options(timeout=...)``): the copy has resources of its own, unwrapped.
_COPY_METHODS = ("copy", "with_options")


def _wrap_copies(target: Any, patches: Sequence[Patch], tracer: Tracer | None) -> None:
    """Make the copies a wrapped client makes of itself wrapped too."""
    if not callable(getattr(type(target), "with_options", None)):
        return

    def wrap_the_copy(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        copy = wrapped(*args, **kwargs)
        with guard("wrap-copy", "could not wrap a copy of a wrapped client"):
            wrap_instance(copy, patches, tracer)
        return copy

    for name in _COPY_METHODS:
        method = getattr(target, name, None)
        if method is None or getattr(method, WRAPPED_MARK, False):
            continue
        function_wrapper = wrapt.FunctionWrapper(method, wrap_the_copy)
        setattr(function_wrapper, WRAPPED_MARK, True)
        setattr(target, name, function_wrapper)
