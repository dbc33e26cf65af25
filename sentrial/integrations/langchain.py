"""LangChain runs in Sentrial: a callback handler, and an instrumentor that gives it every run.

With ``langchain-core`` installed, ``sentrial.configure()`` (and ``opentelemetry-instrument``)
records every LangChain run without a change to the app's code. The handler can also be passed by
hand: ``chain.invoke(x, config={"callbacks": [SentrialCallbackHandler()]})``.

- A run that starts outside every Sentrial session (an agent or chain invoked at the top) becomes
  an interaction: its input, its output, failed with ``"Type: message"`` when it raises. The user
  is ``user_id`` from the run's metadata (``config={"metadata": {"user_id": ...}}``), else the
  handler's, else ``"anonymous"``; ``thread_id`` there becomes the conversation id.
- Tool and retriever runs become tool calls whose spans cover the run, so what the tool calls
  nests under it. What an agent logged when it chose the tool (``AgentAction.log``, its thought)
  becomes the tool call's reasoning.
- Chat and text model runs become LLM calls (model, tokens, cost, and the messages unless content
  capture is off); the provider library's own instrumentation adds no second span under them.
- Other runs inside a session (chain steps, prompts, parsers) add nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import wrapt
from opentelemetry.instrumentation.utils import unwrap

from sentrial._guard import failed
from sentrial.instrumentation._deferred import DeferredInstrumentor, library_classes
from sentrial.integrations._langchain_model_context import unscope_model_calls

if TYPE_CHECKING:
    from sentrial.integrations._langchain_handler import SentrialCallbackHandler

__all__ = ["LangChainInstrumentor", "SentrialCallbackHandler"]

_callback_manager = library_classes("langchain_core.callbacks.base", "BaseCallbackManager")


def __getattr__(name: str) -> Any:
    # The handler subclasses LangChain's own: it is defined (and langchain-core imported) when
    # asked for, so that the instrumentor alone imports nothing of LangChain.
    if name == "SentrialCallbackHandler":
        from sentrial.integrations._langchain_handler import SentrialCallbackHandler

        return SentrialCallbackHandler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class LangChainInstrumentor(DeferredInstrumentor):
    """Gives every LangChain callback manager a :class:`SentrialCallbackHandler`, so every run is
    recorded (a manager that already has one, passed by hand, keeps just that one)."""

    library = "langchain_core"

    def instrumentation_dependencies(self) -> Collection[str]:
        """The langchain-core versions this instrumentor supports."""
        return ("langchain-core >= 0.3",)

    def _apply(self, **kwargs: Any) -> None:
        from sentrial.integrations._langchain_handler import SentrialCallbackHandler

        # Making the handler also scopes the model calls (see scope_model_calls).
        handler = SentrialCallbackHandler(tracer_provider=kwargs.get("tracer_provider"))

        def add_handler(wrapped: Callable[..., Any], instance: Any, args: Any, kw: Any) -> None:
            wrapped(*args, **kw)
            try:
                if not any(isinstance(h, SentrialCallbackHandler) for h in instance.handlers):
                    instance.add_handler(handler, inherit=True)
            except Exception:
                failed(
                    "langchain-manager", "could not add Sentrial's handler to a LangChain callback manager"
                )

        wrapt.wrap_function_wrapper(_callback_manager()[0], "__init__", add_handler)

    def _remove(self, **kwargs: Any) -> None:
        unwrap(_callback_manager()[0], "__init__")
        unscope_model_calls()
