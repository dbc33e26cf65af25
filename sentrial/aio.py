"""The async API: ``AsyncSentrialClient``, ``AsyncInteraction`` and ``begin_async``.

Tracking never touches the network on the caller's thread, so the async methods do the same work as
the sync ones without blocking the event loop; only ``flush`` and ``shutdown`` wait, and they wait
in a thread of their own, started at the call: awaited, they give its result; not awaited (as the
reference writes ``client.flush()``), they still run to the end.

Each method has its sync twin's parameters, written out for IDEs and type checkers (a test holds
the two lists equal), and passes them on by keyword.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter

from sentrial._async_calls import BackgroundCall, refusals_to_sync
from sentrial._async_interaction import AsyncInteraction
from sentrial._config import DEFAULT_MAX_QUEUE_BYTES, BatcherConfig
from sentrial.api import get_client
from sentrial.client import SentrialClient

__all__ = ["AsyncInteraction", "AsyncSentrialClient", "BackgroundCall", "begin_async"]


# Twin by nature of SentrialClient: each method has the sync one's parameters, passed on.
class AsyncSentrialClient:
    """:class:`SentrialClient` for asyncio: every method awaitable, ``begin()`` usable with ``async with``.

    The arguments, their defaults and their handling are :class:`SentrialClient`'s.
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        fail_silently: bool = True,
        langfuse: Any = None,
        pii: Any = None,
        batching: bool | BatcherConfig | None = None,
        *,
        tracer_provider: Any = None,
        additional_exporters: Sequence[SpanExporter] = (),
        export_to_sentrial: bool = True,
        timeout: float = 10.0,
        retry_timeout: float = 30.0,
        max_value_chars: int = 64 * 1024,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
    ) -> None:
        self._client = SentrialClient(
            api_key=api_key,
            api_url=api_url,
            fail_silently=fail_silently,
            langfuse=langfuse,
            pii=pii,
            batching=batching,
            tracer_provider=tracer_provider,
            additional_exporters=additional_exporters,
            export_to_sentrial=export_to_sentrial,
            timeout=timeout,
            retry_timeout=retry_timeout,
            max_value_chars=max_value_chars,
            max_queue_bytes=max_queue_bytes,
        )

    @property
    def _sync(self) -> SentrialClient:
        return self._client

    @property
    def sync_client(self) -> SentrialClient:
        """The synchronous client underneath (same delivery)."""
        return self._client

    @refusals_to_sync()
    async def create_session(
        self,
        name: str,
        agent_name: str,
        user_id: str,
        parent_session_id: str | None = None,
        convo_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Open a session and return its id (see :meth:`SentrialClient.create_session`)."""
        return self._client.create_session(
            name=name,
            agent_name=agent_name,
            user_id=user_id,
            parent_session_id=parent_session_id,
            convo_id=convo_id,
            metadata=metadata,
        )

    @refusals_to_sync()
    async def track_tool_call(
        self,
        session_id: str,
        tool_name: str,
        tool_input: dict[str, Any],
        tool_output: dict[str, Any],
        reasoning: str | None = None,
        estimated_cost: float = 0.0,
        tool_error: dict[str, Any] | None = None,
        token_count: int | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        tool_call_id: str | None = None,
        started_at: datetime | float | None = None,
        ended_at: datetime | float | None = None,
        duration_ms: float | None = None,
    ) -> dict[str, Any] | None:
        """Record a tool call of the session (see :meth:`SentrialClient.track_tool_call`)."""
        return self._client.track_tool_call(
            session_id=session_id,
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
        session_id: str,
        reasoning: str,
        alternatives: list[str] | None = None,
        confidence: float | None = None,
        estimated_cost: float = 0.0,
        token_count: int | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Record an agent decision of the session (see :meth:`SentrialClient.track_decision`)."""
        return self._client.track_decision(
            session_id=session_id,
            reasoning=reasoning,
            alternatives=alternatives,
            confidence=confidence,
            estimated_cost=estimated_cost,
            token_count=token_count,
            trace_id=trace_id,
            span_id=span_id,
            metadata=metadata,
        )

    @refusals_to_sync()
    async def track_error(
        self,
        session_id: str,
        error_message: str,
        error_type: str | None = None,
        tool_name: str | None = None,
        stack_trace: str | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Record an error of the session (see :meth:`SentrialClient.track_error`)."""
        return self._client.track_error(
            session_id=session_id,
            error_message=error_message,
            error_type=error_type,
            tool_name=tool_name,
            stack_trace=stack_trace,
            trace_id=trace_id,
            span_id=span_id,
            metadata=metadata,
        )

    @refusals_to_sync()
    async def close_session(
        self,
        session_id: str,
        duration_ms: int | None = None,
        success: bool | None = None,
        failure_reason: str | None = None,
    ) -> dict[str, Any] | None:
        """Complete a session (see :meth:`SentrialClient.close_session`)."""
        return self._client.close_session(
            session_id=session_id, duration_ms=duration_ms, success=success, failure_reason=failure_reason
        )

    @refusals_to_sync()
    def update_state(self, key: str, value: Any) -> None:
        """Set a key of the current session's state (see :meth:`SentrialClient.update_state`)."""
        self._client.update_state(key=key, value=value)

    @property
    def current_state(self) -> dict[str, Any]:
        """The current session's state (see :attr:`SentrialClient.current_state`)."""
        return self._client.current_state

    @current_state.setter
    def current_state(self, value: dict[str, Any]) -> None:
        self._client.current_state = value

    @property
    def langfuse(self) -> Any:
        """The Langfuse integration given to the constructor."""
        return self._client.langfuse

    @property
    def closed(self) -> bool:
        """Whether this client was closed (or shut down)."""
        return self._client.closed

    @refusals_to_sync()
    async def complete_session(
        self,
        session_id: str,
        success: bool = True,
        failure_reason: str | None = None,
        estimated_cost: float | None = None,
        custom_metrics: dict[str, float] | None = None,
        duration_ms: int | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        total_tokens: int | None = None,
        user_input: str | None = None,
        assistant_output: str | None = None,
    ) -> dict[str, Any] | None:
        """Complete a session with its outcome and totals (see :meth:`SentrialClient.complete_session`)."""
        return self._client.complete_session(
            session_id=session_id,
            success=success,
            failure_reason=failure_reason,
            estimated_cost=estimated_cost,
            custom_metrics=custom_metrics,
            duration_ms=duration_ms,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=total_tokens,
            user_input=user_input,
            assistant_output=assistant_output,
        )

    @refusals_to_sync(wrap=AsyncInteraction)
    def begin(
        self,
        user_id: str,
        event: str,
        input: str | None = None,
        event_id: str | None = None,
        convo_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> AsyncInteraction:
        """Begin an interaction: ``async with client.begin(...) as it`` or ``await client.begin(...)``."""
        interaction = self._client.begin(
            user_id=user_id, event=event, input=input, event_id=event_id, convo_id=convo_id, metadata=metadata
        )
        return AsyncInteraction(interaction)

    def flush(self, timeout: float | None = 10.0) -> BackgroundCall:
        """Deliver everything recorded so far, in a thread started now; ``await`` it for
        :meth:`SentrialClient.flush`'s result, or don't."""
        return BackgroundCall(lambda: self._client.flush(timeout=timeout), "flush")

    def shutdown(self, timeout: float | None = 10.0) -> BackgroundCall:
        """Finish this client in a thread started now (see :meth:`SentrialClient.shutdown`); ``await``
        it for the result, or don't: the exit hook waits for it before the process ends."""
        return BackgroundCall(lambda: self._client.shutdown(timeout=timeout), "shutdown")

    async def close(self) -> None:
        """Send what is queued and stop this client, waiting in a thread (the published name)."""
        await self.shutdown()

    async def __aenter__(self) -> AsyncSentrialClient:
        return self

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        await self.close()

    calculate_openai_cost = staticmethod(SentrialClient.calculate_openai_cost)
    calculate_anthropic_cost = staticmethod(SentrialClient.calculate_anthropic_cost)
    calculate_google_cost = staticmethod(SentrialClient.calculate_google_cost)


async def begin_async(
    user_id: str,
    event: str,
    input: str | None = None,
    event_id: str | None = None,
    convo_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> AsyncInteraction:
    """Begin an interaction on the default client (the one of ``sentrial.configure()``)."""
    interaction = get_client().begin(
        user_id=user_id, event=event, input=input, event_id=event_id, convo_id=convo_id, metadata=metadata
    )
    return AsyncInteraction(interaction)
