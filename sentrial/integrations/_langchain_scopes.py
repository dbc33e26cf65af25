"""The contexts the LangChain handler made current for its runs, left in an order the contexts allow."""

from __future__ import annotations

import threading

from opentelemetry import context as otel_context

from sentrial.tracing import leave_context


class Scopes:
    """The contexts the handler made current for its runs, and leaving them in the right order.

    Contexts can only be left last in, first out, in the context they were entered in. LangChain
    may end runs in another order (a batch of model calls is started all at once, then ended first
    to last), and ends async runs in a task of its own, a copy of the run's context. So a run's
    context is left when it is the current one; one whose run ended while it was covered, or in a
    copy, waits, and is left as soon as it is current again where it was entered (at the handler's
    next callback there), or is dropped with the context it was entered in.
    """

    _MAX_WAITING = 256  # contexts entered in contexts that are gone for good are forgotten in time

    def __init__(self) -> None:
        self._waiting: dict[int, tuple[otel_context.Context, object]] = {}
        self._lock = threading.Lock()

    def enter(self, context: otel_context.Context) -> tuple[otel_context.Context, object]:
        """Make ``context`` current; returns what :meth:`leave` takes."""
        return context, otel_context.attach(context)

    def leave(self, scope: tuple[otel_context.Context, object]) -> None:
        """Leave the scope's context now if it can be, else as soon as it can be."""
        with self._lock:
            self._waiting[id(scope[0])] = scope
            while len(self._waiting) > self._MAX_WAITING:
                del self._waiting[next(iter(self._waiting))]
        self.sweep()

    def sweep(self) -> None:
        """Leave every waiting context that is current here, innermost first."""
        while self._waiting:
            current = otel_context.get_current()
            with self._lock:
                entry = self._waiting.get(id(current))
            if entry is None or entry[0] is not current or not leave_context(entry[1]):
                return
            with self._lock:
                self._waiting.pop(id(current), None)
