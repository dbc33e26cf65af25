"""Provider libraries touched only once the app imports them.

Instrumentor modules are loaded by ``opentelemetry-instrument`` at start-up whether or not the app
uses their library, and importing a provider SDK costs up to seconds (and some warn when imported).
So instrumentors patch a library when it is imported (:class:`DeferredInstrumentor`), and the code
that runs inside its calls reads its classes through :func:`library_classes`.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from sentrial._guard import guard


def library_classes(module: str, *names: str) -> Callable[[], tuple[Any, ...]]:
    """A getter of the classes ``names`` of ``module`` that this version of the library has (for
    ``isinstance``), imported at its first call and kept.

    Call it only where the library is imported already (inside its calls).
    """

    @functools.cache
    def get() -> tuple[Any, ...]:
        try:
            found = importlib.import_module(module)
        except ImportError:  # an older or newer SDK without it
            return ()
        return tuple(kind for name in names if isinstance(kind := getattr(found, name, None), type))

    return get


class DeferredInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """An instrumentor that patches its ``library`` when the app imports it (at once if it has).

    Subclasses implement :meth:`_apply` and :meth:`_remove`; ``uninstrument()`` before the import
    leaves the library untouched when it comes.
    """

    library: str = ""

    def _instrument(self, **kwargs: Any) -> None:
        state = {"wanted": True, "applied": False}
        self._deferred = state

        def on_import(module: Any) -> None:
            if not state["wanted"] or state["applied"]:
                return
            state["applied"] = True
            with guard(f"instrument-{self.library}", f"could not instrument {self.library}"):
                self._apply(**kwargs)

        if self.library in sys.modules:
            on_import(sys.modules[self.library])
        else:
            wrapt.register_post_import_hook(on_import, self.library)

    def _uninstrument(self, **kwargs: Any) -> None:
        state = getattr(self, "_deferred", None)
        if state is None:
            return
        state["wanted"] = False
        if state["applied"]:
            self._remove(**kwargs)

    def _apply(self, **kwargs: Any) -> None:
        """Patch the library (imported by now) with ``instrument()``'s arguments."""
        raise NotImplementedError

    def _remove(self, **kwargs: Any) -> None:
        """Undo :meth:`_apply`."""
        raise NotImplementedError
