"""``AsyncInteraction``: an interaction with awaitable methods, as ``AsyncSentrialClient.begin()``
gives it; its import paths are ``sentrial.aio`` and ``sentrial.async_client``."""

from __future__ import annotations

from collections.abc import Generator
from datetime import datetime
from types import TracebackType
from typing import Any

from sentrial._async_calls import refusals_to_sync
from sentrial._interaction import Interaction


# Twin by nature of sentrial.client.Interaction: each method has the sync one's parameters, passed on.
class AsyncInteraction:
    """An interaction with awaitable methods; ``async with`` finishes it, and ``await`` gives it back."""

    def __init__(
        self,
        client: Any,
        session_id: str | None = None,
        event_id: str | None = None,
        user_id: str | None = None,
        event: str | None = None,
        user_input: str | None = None,
    ) -> None:
        # begin() hands over the sync interaction it began; the published form names a session
        # begun elsewhere, on ``client`` (an AsyncSentrialClient or a SentrialClient).
        if isinstance(client, Interaction):
            self._interaction = client
        else:
            sync = client.sync_client if hasattr(client, "sync_client") else client
            self._interaction = Interaction(
                sync, session_id, event_id or "", user_id, event, input=user_input
            )

    @property
    def _sync(self) -> Interaction:
        return self._interaction

    @property
    def session_id(self) -> str | None:
        """The id of the session behind this interaction."""
        return self._interaction.session_id

    @property
    def event_id(self) -> str:
        """The interaction's event id."""
        return self._interaction.event_id

    @property
    def finished(self) -> bool:
        """Whether ``finish()`` was called."""
        return self._interaction.finished

    @property
    def user_id(self) -> str | None:
        """The user the interaction was begun for."""
        return self._interaction.user_id

    @property
    def event(self) -> str | None:
        """The interaction's event (its agent's name)."""
        return self._interaction.event

    @refusals_to_sync()
    def add_tokens(self, prompt_tokens: int = 0, completion_tokens: int = 0, cost: float = 0.0) -> None:
        """Add to the token counts and cost sent at ``finish()`` (see :meth:`Interaction.add_tokens`)."""
        self._interaction.add_tokens(
            prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, cost=cost
        )

    @refusals_to_sync()
    def set_output(self, output: str) -> None:
        """Remember the output, sent when the interaction finishes."""
        self._interaction.set_output(output=output)

    @refusals_to_sync()
    async def finish(
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
        """Finish the interaction with its outcome (see :meth:`Interaction.finish`)."""
        return self._interaction.finish(
            output=output,
            success=success,
            failure_reason=failure_reason,
            estimated_cost=estimated_cost,
            custom_metrics=custom_metrics,
            duration_ms=duration_ms,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=total_tokens,
        )

    @refusals_to_sync()
    async def track_tool_call(
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
        return self._interaction.track_tool_call(
            tool_name=tool_name,
            tool_input=tool_input,
            tool_output=tool_output,
            reasoning=reasoning,
            estimated_cost=estimated_cost,
            tool_error=tool_error,
            token_count=token_count,
            trace_id=trace_id,
            span_id=span_id,
            metadata=metadata,
            tool_call_id=tool_call_id,
            started_at=started_at,
            ended_at=ended_at,
            duration_ms=duration_ms,
        )

    @refusals_to_sync()
    async def track_decision(
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
        return self._interaction.track_decision(
            reasoning=reasoning,
            alternatives=alternatives,
            confidence=confidence,
            estimated_cost=estimated_cost,
            token_count=token_count,
            metadata=metadata,
            trace_id=trace_id,
            span_id=span_id,
        )

    @refusals_to_sync()
    async def track_error(
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
        """Record an error of this interaction (see :meth:`SentrialClient.track_error`)."""
        return self._interaction.track_error(
            error_message=error_message,
            error_type=error_type,
            tool_name=tool_name,
            stack_trace=stack_trace,
            metadata=metadata,
            trace_id=trace_id,
            span_id=span_id,
        )

    def __await__(self) -> Generator[Any, None, AsyncInteraction]:
        # Lets `interaction = await client.begin(...)` work as well as `async with client.begin(...)`.
        yield from ()
        return self

    async def __aenter__(self) -> AsyncInteraction:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self._interaction.__exit__(exc_type, exc_val, exc_tb)
