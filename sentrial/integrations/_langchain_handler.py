"""The callback handler that records LangChain runs (see :mod:`sentrial.integrations.langchain`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_core.callbacks.base import BaseCallbackHandler
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Tracer

from sentrial._guard import guarded
from sentrial._ids import TracerSource
from sentrial._tool_runs import ToolRun
from sentrial.api import get_client
from sentrial.client import Interaction, SentrialClient, current_interaction
from sentrial.instrumentation._base import TRACER_NAME
from sentrial.instrumentation._llm import (
    LlmCall,
    LlmRequest,
    LlmResult,
    call_context,
    capture_content,
    should_trace,
)
from sentrial.integrations._langchain_model_context import scope_model_calls
from sentrial.integrations._langchain_scopes import Scopes
from sentrial.integrations._langchain_terms import (
    chat_request,
    llm_result,
    plain,
    run_text,
    text_request,
    user_metadata,
)
from sentrial.integrations._langchain_thoughts import AgentThoughts
from sentrial.semconv import ANONYMOUS_USER
from sentrial.tracing import current_route

__all__ = ["SentrialCallbackHandler"]

# A callback that fails logs it (once per callback) and lets the LangChain run go on.
_never_raises = guarded("could not record a LangChain %s")


@dataclass
class _Run:
    """What the handler opened for one LangChain run."""

    interaction: Interaction | None = None
    session_scope: tuple[otel_context.Context, object] | None = None
    tool: ToolRun | None = None
    llm: LlmCall | None = None
    scope: tuple[otel_context.Context, object] | None = None  # (context made current, its token)
    parent_run_id: UUID | None = None
    outer: otel_context.Context | None = None  # the context the run started in


class SentrialCallbackHandler(BaseCallbackHandler):
    """Records LangChain runs in Sentrial (see the module's description).

    ``client`` receives the interactions of runs begun outside every session (default: the client
    of ``sentrial.configure()``); ``user_id`` is their user when the run's metadata names none.
    """

    run_inline = True  # called in the run's own context, under asyncio too, so that spans nest

    def __init__(
        self,
        client: SentrialClient | None = None,
        *,
        user_id: str | None = None,
        tracer_provider: Any = None,
    ) -> None:
        super().__init__()
        self._client = client
        self._user_id = user_id
        self._tracers = TracerSource(TRACER_NAME, tracer_provider)
        self._runs: dict[UUID, _Run] = {}
        self._llm_contexts: dict[int, _Run] = {}  # id of the context an LLM run made current -> the run
        self._lock = threading.Lock()
        self._scopes = Scopes()
        self._thoughts = AgentThoughts()
        scope_model_calls()

    # The on_* signatures are LangChain's callback protocol, so its start and end hooks are alike by nature.
    # --- chains -----------------------------------------------------------------------------------
    @_never_raises
    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A chain or agent started: an interaction when it runs outside every session."""
        self._scopes.sweep()
        if parent_run_id is None:
            run = _Run()
            self._begin(run, _name(serialized, kwargs, "chain"), inputs, metadata)
            if run.session_scope is not None:
                self._keep(run_id, run)

    @_never_raises
    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain ended: its interaction (if it has one) finishes with its output."""
        self._thoughts.forget(run_id)
        self._end(run_id, output=outputs)

    @_never_raises
    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A chain raised: its interaction (if it has one) finishes as failed."""
        self._thoughts.forget(run_id)
        self._end(run_id, error=error)

    # --- agents -----------------------------------------------------------------------------------
    @_never_raises
    def on_agent_action(self, action: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """An agent chose a tool: what it logged (its thought) waits for that tool's run, which the
        agent starts next, as a child of its own run (in the order of the actions)."""
        self._thoughts.add(run_id, action)

    # --- tools and retrievers ---------------------------------------------------------------------
    @_never_raises
    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A tool started: a tool call, spanning the tool's run."""
        self._scopes.sweep()
        tool_input = plain(inputs) if isinstance(inputs, dict) else {"input": input_str}
        name = _name(serialized, kwargs, "tool")
        reason = self._thoughts.next_for(parent_run_id)
        call_id = kwargs.get("tool_call_id")  # the model's id of the call, when it asked for the tool
        self._start_tool(
            run_id,
            parent_run_id,
            name,
            tool_input,
            metadata,
            reason,
            call_id if isinstance(call_id, str) else None,
        )

    @_never_raises
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool returned: its tool call ends with the output (a tool message's content)."""
        if hasattr(output, "tool_call_id") and hasattr(output, "content"):
            output = output.content
        self._end(run_id, output=plain(output))

    @_never_raises
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A tool raised: its tool call ends as failed."""
        self._end(run_id, error=error)

    @_never_raises
    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """A retriever started: a tool call named after the retriever."""
        self._scopes.sweep()
        name = _name(serialized, kwargs, "retriever")
        self._start_tool(run_id, parent_run_id, name, {"query": query}, metadata)

    @_never_raises
    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        """A retriever returned: its tool call ends with the documents."""
        self._end(run_id, output={"documents": plain(list(documents))})

    @_never_raises
    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A retriever raised: its tool call ends as failed."""
        self._end(run_id, error=error)

    # --- models -----------------------------------------------------------------------------------
    @_never_raises
    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """A chat model was called: an LLM call."""
        self._scopes.sweep()
        outer = self._llm_outer_context(parent_run_id)
        if should_trace(outer):
            request = chat_request(messages[0] if messages else [], kwargs, capture_content())
            self._start_llm(run_id, parent_run_id, outer, request)

    @_never_raises
    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        """A text-completion model was called: an LLM call."""
        self._scopes.sweep()
        outer = self._llm_outer_context(parent_run_id)
        if should_trace(outer):
            self._start_llm(run_id, parent_run_id, outer, text_request(prompts, kwargs, capture_content()))

    @_never_raises
    def on_llm_new_token(self, token: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A streamed model sent a chunk: the first one sets the time to first chunk."""
        run = self._runs.get(run_id)
        if run is not None and run.llm is not None:
            run.llm.mark_first_chunk()

    @_never_raises
    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A model answered: its LLM call ends with the answer, tokens and cost."""
        run = self._pop(run_id)
        if run is not None and run.llm is not None:
            self._leave(run)
            result = llm_result(response)
            run.llm.succeed(result)
            self._answered(run.llm, result)

    @_never_raises
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """A model call raised: its LLM call ends as failed with what had arrived (a stream closed
        by its reader ends as a closed provider stream does: with what it had received)."""
        run = self._pop(run_id)
        if run is None or run.llm is None:
            return
        self._leave(run)
        partial = kwargs.get("response")
        received = llm_result(partial) if partial is not None else None
        if isinstance(error, GeneratorExit):
            run.llm.succeed(received or LlmResult())
        else:
            run.llm.fail(error, received)

    def _answered(self, call: LlmCall, result: LlmResult) -> None:
        """A model run's LLM call ended with ``result`` (a subclass keeps totals)."""

    # --- the runs ---------------------------------------------------------------------------------
    def _recording_client(self) -> SentrialClient | None:
        """The client the spans of a run are made on: the current interaction's, else the handler's."""
        interaction = current_interaction()
        return interaction.client if interaction is not None else self._client

    def _tracer(self) -> Tracer:
        client = self._recording_client()
        if client is not None:
            return client.tracer
        return self._tracers()

    def _begin(self, run: _Run, name: str, inputs: Any, metadata: dict[str, Any] | None) -> None:
        """Give a run begun outside every session an interaction, and make it current."""
        if current_route() is not None:
            return
        given = user_metadata(metadata)
        user_id = self._user_id or given.get("user_id") or ANONYMOUS_USER
        convo_id = given.get("convo_id") or given.get("thread_id")
        run.interaction, context = (self._client or get_client())._begin_unentered(
            user_id=str(user_id),
            event=name,
            input=run_text(inputs, is_output=False),
            convo_id=str(convo_id) if convo_id is not None else None,
            metadata=given or None,
        )
        run.session_scope = self._scopes.enter(context)

    def _start_tool(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        name: str,
        tool_input: Any,
        metadata: dict[str, Any] | None,
        reasoning: str | None = None,
        call_id: str | None = None,
    ) -> None:
        run = _Run()
        if parent_run_id is None:
            self._begin(run, name, tool_input, metadata)
        run.tool = ToolRun(name, tool_input, self._recording_client(), reasoning=reasoning, call_id=call_id)
        run.scope = self._scopes.enter(trace.set_span_in_context(run.tool.span))
        self._keep(run_id, run)

    def _llm_outer_context(self, parent_run_id: UUID | None) -> otel_context.Context:
        """The context an LLM run starts in. Models called in a batch (``generate`` with several
        message lists) are all started before any is called: a model run started in the context of
        a sibling, not of its parent, starts in the context the sibling started in."""
        current = otel_context.get_current()
        with self._lock:
            sibling = self._llm_contexts.get(id(current))
        is_sibling = sibling is not None and sibling.scope is not None and sibling.scope[0] is current
        if is_sibling and sibling.parent_run_id == parent_run_id and sibling.outer is not None:  # type: ignore[union-attr]
            return sibling.outer  # type: ignore[union-attr]
        return current

    def _start_llm(
        self, run_id: UUID, parent_run_id: UUID | None, outer: otel_context.Context, request: LlmRequest
    ) -> None:
        call = LlmCall(self._tracer(), request, outer)
        run = _Run(llm=call, parent_run_id=parent_run_id, outer=outer)
        run.scope = self._scopes.enter(call_context(call, outer))
        with self._lock:
            self._runs[run_id] = run
            self._llm_contexts[id(run.scope[0])] = run

    def _keep(self, run_id: UUID, run: _Run) -> None:
        with self._lock:
            self._runs[run_id] = run

    def _pop(self, run_id: UUID) -> _Run | None:
        with self._lock:
            run = self._runs.pop(run_id, None)
            if run is not None and run.llm is not None and run.scope is not None:
                self._llm_contexts.pop(id(run.scope[0]), None)
            return run

    def _leave(self, run: _Run) -> None:
        if run.scope is not None:
            self._scopes.leave(run.scope)

    def _end(self, run_id: UUID, output: Any = None, error: BaseException | None = None) -> None:
        """End whatever the run opened: its context, its span, then its interaction."""
        run = self._pop(run_id)
        if run is None:
            return
        self._leave(run)
        # A stream closed by its reader (GeneratorExit) ends as a success with what it gave.
        failure = None if isinstance(error, GeneratorExit) else error
        if run.tool is not None:
            if failure is None:
                run.tool.succeed(output)
            else:
                run.tool.fail(failure)
        if run.interaction is not None:
            if failure is None:
                run.interaction.finish(output=run_text(output, is_output=True), success=True)
            else:
                run.interaction.__exit__(type(failure), failure, failure.__traceback__)
        if run.session_scope is not None:
            self._scopes.leave(run.session_scope)


def _name(serialized: dict[str, Any] | None, kwargs: dict[str, Any], default: str) -> str:
    """A run's name: the one given to the run, else its class's."""
    name = kwargs.get("name") or (serialized or {}).get("name")
    if not name:
        ids = (serialized or {}).get("id")
        name = ids[-1] if isinstance(ids, list) and ids else default
    return str(name)
