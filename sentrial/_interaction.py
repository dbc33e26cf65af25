"""``Interaction``: one tracked interaction of a ``SentrialClient``, as ``begin()`` returns it.

It carries the session's id, the input and the output so far, and the context it made current;
every call goes to its client, which records it. Its import path is ``sentrial.client``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sentrial._event_attributes import content
from sentrial._guard import public_call
from sentrial._values import safe_text
from sentrial.tracing import current_route, leave_context

if TYPE_CHECKING:
    from sentrial.client import SentrialClient

logger = logging.getLogger("sentrial")


# Twin by nature of the client's event calls: their parameters but the session id, passed on by keyword.
class Interaction:
    """One tracked interaction, returned by ``begin()``; finish it, or use it as a context manager."""

    def __init__(
        self,
        client: SentrialClient,
        session_id: str | None,
        event_id: str,
        user_id: str | None = None,
        event: str | None = None,
        langfuse_context: Any = None,
        *,
        input: str | None = None,
        token: object | None = None,
    ) -> None:
        self._client = client
        self._session_id = session_id
        self._event_id = event_id
        self.user_id = user_id
        self.event = event
        self.langfuse_context = langfuse_context
        self._input = input
        self._output: str | None = None
        self._token = token
        self._finished = session_id is None
        # Set by track_error(): the failure a `with` block that raised nothing finishes with.
        self._error_reason: str | None = None
        # Added up by add_tokens(), for a finish() that gives no totals.
        self._added_prompt = 0
        self._added_completion = 0
        self._added_cost = 0.0

    @property
    def session_id(self) -> str | None:
        """The id of the session behind this interaction."""
        return self._session_id

    @property
    def event_id(self) -> str:
        """The interaction's event id (given to ``begin()`` or generated)."""
        return self._event_id

    @property
    def finished(self) -> bool:
        """Whether ``finish()`` was called."""
        return self._finished

    @property
    def client(self) -> SentrialClient:
        """The client this interaction records to."""
        return self._client

    @property
    def _fail_silently(self) -> bool:  # read by @_guarded
        return self._client.fail_silently

    @public_call()
    def set_output(self, output: str) -> None:
        """Remember the output, sent when the interaction finishes."""
        self._output = content(
            self._client._check("set_output"), "output", output, self._client.max_value_chars
        )

    @public_call()
    def track_tool_call(
        self,
        tool_name: str,
        tool_input: dict[str, Any],
        tool_output: dict[str, Any],
        reasoning: str | None = None,
        estimated_cost: float = 0.0,
        tool_error: dict[str, Any] | None = None,
        token_count: int | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        tool_call_id: str | None = None,
        started_at: datetime | float | None = None,
        ended_at: datetime | float | None = None,
        duration_ms: float | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
    ) -> dict[str, Any] | None:
        """Record a tool call of this interaction (see :meth:`SentrialClient.track_tool_call`)."""
        if self._session_id is None:
            return None
        # By position, in the order of _tool_call's parameters: cheaper than by keyword, on the hot path.
        return self._client._tool_call(
            self._session_id,
            tool_name,
            tool_input,
            tool_output,
            reasoning,
            estimated_cost,
            tool_error,
            token_count,
            trace_id,
            span_id,
            metadata,
            tool_call_id,
            started_at,
            ended_at,
            duration_ms,
        )

    @public_call()
    def track_decision(
        self,
        reasoning: str,
        alternatives: list[str] | None = None,
        confidence: float | None = None,
        estimated_cost: float = 0.0,
        token_count: int | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        trace_id: str | None = None,
        span_id: str | None = None,
    ) -> dict[str, Any] | None:
        """Record a decision of this interaction (see :meth:`SentrialClient.track_decision`)."""
        if self._session_id is None:
            return None
        return self._client._decision(  # without the client's guard: this call has one
            self._session_id,
            reasoning,
            alternatives,
            confidence,
            estimated_cost,
            token_count,
            trace_id,
            span_id,
            metadata,
        )

    @public_call()
    def track_error(
        self,
        error_message: str,
        error_type: str | None = None,
        tool_name: str | None = None,
        stack_trace: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        trace_id: str | None = None,
        span_id: str | None = None,
    ) -> dict[str, Any] | None:
        """Record an error of this interaction (see :meth:`SentrialClient.track_error`). A ``with``
        block around the interaction that raises nothing then finishes it as failed, with this
        error's message as the reason (an explicit ``finish()`` decides for itself)."""
        if self._session_id is None:
            return None
        if isinstance(error_message, str):
            self._error_reason = error_message
        return self._client.track_error(
            session_id=self._session_id,
            error_message=error_message,
            error_type=error_type,
            tool_name=tool_name,
            stack_trace=stack_trace,
            trace_id=trace_id,
            span_id=span_id,
            metadata=metadata,
        )

    @public_call()
    def add_tokens(self, prompt_tokens: int = 0, completion_tokens: int = 0, cost: float = 0.0) -> None:
        """Add to the interaction's token counts and cost; ``finish()`` sends the sums for the totals
        it is not given (else the session's LLM calls are summed)."""
        check = self._client._check("add_tokens")
        self._added_prompt += check.integer("prompt_tokens", prompt_tokens) or 0
        self._added_completion += check.integer("completion_tokens", completion_tokens) or 0
        self._added_cost += check.number("cost", cost, low=0) or 0.0

    @public_call()
    def finish(
        self,
        output: str | None = None,
        success: bool = True,
        failure_reason: str | None = None,
        estimated_cost: float | None = None,
        custom_metrics: dict[str, float] | None = None,
        duration_ms: int | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        total_tokens: int | None = None,
    ) -> dict[str, Any] | None:
        """Finish the interaction with its outcome; the duration is measured when not given."""
        if self._finished:
            if self._session_id is not None:
                logger.warning("sentrial: interaction %s finished twice; ignored", self._session_id)
            return None
        self._finished = True
        self._leave_context()  # while the session is open: a completed one is no longer current
        assert self._session_id is not None
        prompt, completion = self._added_prompt, self._added_completion
        # Totals not given: what add_tokens() added up, if anything (else the session's LLM calls').
        given = {
            "failure_reason": failure_reason,
            "custom_metrics": custom_metrics,
            "duration_ms": duration_ms,
            "estimated_cost": (self._added_cost or None) if estimated_cost is None else estimated_cost,
            "prompt_tokens": (prompt or None) if prompt_tokens is None else prompt_tokens,
            "completion_tokens": (completion or None) if completion_tokens is None else completion_tokens,
            "total_tokens": (prompt + completion or None) if total_tokens is None else total_tokens,
            "assistant_output": self._output if output is None else output,
        }
        try:  # complete_session without its second guard: this call has one
            completed = self._client._complete_session(self._session_id, success, given)
        except Exception:  # a strict client refused an argument: the session stays open, to finish again
            self._finished = False
            raise
        return completed

    def _leave_context(self) -> None:
        """Stop being the current session, when this is still the context ``begin()`` entered."""
        token, self._token = self._token, None
        route = current_route()
        if token is not None and route is not None and route.session_id == self._session_id:
            leave_context(token)  # not where it was begun (another task): that context ends on its own

    def __enter__(self) -> Interaction:
        return self

    @public_call()
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self._finished:
            self._leave_context()
            return
        if exc_val is not None:
            self._client._record_exception(self._session_id, exc_val)
            self.finish(success=False, failure_reason=f"{type(exc_val).__name__}: {safe_text(exc_val)}")
        elif self._error_reason is not None:
            self.finish(success=False, failure_reason=self._error_reason)
        else:
            self.finish()
