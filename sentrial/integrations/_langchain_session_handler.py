"""The LangChain handler of the published API: the runs it is given go into one session, opened
beforehand by the app (``client.create_session(...)``), which ``finish()`` completes with the
run's totals. Loaded by :mod:`sentrial.langchain` when the class is first asked for."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

from opentelemetry import context as otel_context

from sentrial._guard import public_call
from sentrial.instrumentation._llm import LlmCall, LlmResult
from sentrial.integrations._langchain_handler import SentrialCallbackHandler as RecordingHandler
from sentrial.integrations._langchain_handler import _never_raises, _Run
from sentrial.integrations._langchain_terms import plain
from sentrial.integrations._sessions import SessionHandler
from sentrial.tracing import current_route


class SentrialCallbackHandler(SessionHandler, RecordingHandler):
    """Records the LangChain runs it is passed to into the session ``session_id`` of ``client``
    (a :class:`~sentrial.SentrialClient` or an ``AsyncSentrialClient``), and keeps the totals of
    their model calls (``total_tokens``, ``total_cost``, ...) for :meth:`finish`.

    Tool runs become tool calls (with what the agent logged when it chose them as reasoning), model
    runs LLM calls; an agent's final answer becomes a decision and the session's output. With
    ``verbose=True`` each step is also logged at INFO level. ``track_llm_calls`` is kept for
    compatibility: the LLM calls are always recorded, since the session's totals are made of them.
    """

    def __init__(
        self,
        client: Any,
        session_id: str,
        track_llm_calls: bool = True,
        verbose: bool = False,
    ) -> None:
        SessionHandler.__init__(self, client, session_id, verbose)
        RecordingHandler.__init__(self, self._session_client)
        self.track_llm_calls = track_llm_calls
        self.step_count = 0
        self.llm_calls = 0
        self._last_answer: str | None = None  # the last model answer: the output when no agent finished

    @public_call(fallback=lambda self: {})
    def get_usage_summary(self) -> dict[str, Any]:
        """The model calls' totals so far: calls, tokens, cost in USD, model and duration."""
        return {"llm_calls": self.llm_calls, **self._usage_totals()}

    @public_call(fallback=lambda self: {})
    def finish(
        self,
        success: bool = True,
        failure_reason: str | None = None,
        custom_metrics: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Complete the session with the outcome, the totals, the input (``set_input``) and the
        output (the agent's final answer, else the last model answer); returns what was recorded."""
        self.assistant_output = self.assistant_output or self._last_answer
        return self._complete(success, failure_reason, custom_metrics)

    # --- the runs, in the given session -----------------------------------------------------------
    def _begin(self, run: _Run, name: str, inputs: Any, metadata: dict[str, Any] | None) -> None:
        """A run begun outside every session runs in the handler's session."""
        if current_route() is None and self.session_id:
            run.session_scope = self._scopes.enter(self.session_context())

    def _llm_outer_context(self, parent_run_id: UUID | None) -> otel_context.Context:
        outer = super()._llm_outer_context(parent_run_id)
        if current_route(outer) is None and self.session_id:  # a model invoked on its own
            return self.session_context()
        return outer

    def _start_llm(self, run_id: UUID, parent_run_id: UUID | None, outer: Any, request: Any) -> None:
        self._started()
        super()._start_llm(run_id, parent_run_id, outer, request)

    def _answered(self, call: LlmCall, result: LlmResult) -> None:
        self.llm_calls += 1
        model = result.response_model or call.request.model
        self._add_usage(result.input_tokens or 0, result.output_tokens or 0, model, call.cost(result) or 0.0)
        self.end_time = time.time()  # the run lasts until its last model answer

    @_never_raises
    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """A model answered: its LLM call, the totals, and its text as the fallback output."""
        super().on_llm_end(response, run_id=run_id, **kwargs)
        generations = getattr(response, "generations", None) or [[]]
        text = getattr(generations[0][0], "text", None) if generations[0] else None
        if isinstance(text, str) and text:
            self._last_answer = text

    @_never_raises
    def on_agent_action(self, action: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """An agent chose a tool: one step more (and its thought waits for the tool's run)."""
        self._started()
        self.step_count += 1
        self._log("step %d: %s", self.step_count, getattr(action, "tool", "?"))
        super().on_agent_action(action, run_id=run_id, **kwargs)

    @_never_raises
    def on_agent_finish(self, finish: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """An agent answered: its answer is the session's output, and a decision of the session."""
        values = getattr(finish, "return_values", None) or {}
        output = values.get("output", "No output") if isinstance(values, dict) else values
        self.assistant_output = output if isinstance(output, str) else str(plain(output))
        self._log("agent finished")
        self._decision(f"Agent completed: {self.assistant_output}")
