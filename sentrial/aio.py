"""The async API: ``AsyncSentrialClient``, ``AsyncInteraction`` and ``begin_async``.

Tracking never touches the network on the caller's thread, so the async methods do the same work as
the sync ones without blocking the event loop; only ``flush`` and ``shutdown`` wait, and they wait
in a thread of their own, started at the call: awaited, they give its result; not awaited (as the
reference writes ``client.flush()``), they still run to the end.

Each method has its sync twin's parameters, written out for IDEs and type checkers (a test holds
the two lists equal), and passes them on by keyword.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Generator, Sequence
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry.sdk.trace.export import SpanExporter

from sentrial._config import DEFAULT_MAX_QUEUE_BYTES, BatcherConfig
from sentrial.api import get_client
from sentrial.client import Interaction, SentrialClient

logger = logging.getLogger("sentrial")


class BackgroundCall:
    """A blocking call already running in a thread of its own: ``await`` it for its result, or leave
    it to finish on its own. An error nobody awaited is logged rather than lost."""

    def __init__(self, call: Callable[[], bool], name: str) -> None:
        self._future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self._name = name
        self._awaited = False
        threading.Thread(target=self._run, args=(call,), name=f"sentrial-{name}", daemon=True).start()

    def _run(self, call: Callable[[], bool]) -> None:
        try:
            self._future.set_result(call())
        except BaseException as exc:  # handed to whoever awaits it
            self._future.set_exception(exc)

    def __await__(self) -> Generator[Any, None, bool]:
        self._awaited = True
        return asyncio.wrap_future(self._future).__await__()

    def done(self) -> bool:
        """Whether the call has returned (or raised)."""
        return self._future.done()

    def result(self, timeout: float | None = None) -> bool:
        """Block until the call returns, at most ``timeout`` seconds, and give its result."""
        self._awaited = True
        return self._future.result(timeout)

    def __del__(self) -> None:
        if self._awaited or not self._future.done() or self._future.cancelled():
            return
        error = self._future.exception()
        if error is not None:
            logger.error("sentrial: %s() failed and was not awaited: %s", self._name, error)


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _refusals_to_sync(wrap: Callable[[Any], Any] | None = None) -> Callable[[_Method], _Method]:
    """Hand a call that the method's signature refuses (an argument missing, a misspelt name) to the
    sync method of the same name, whose guard handles it as any sync call: logged and answered with
    its fallback (given to ``wrap``) with ``fail_silently``, raised otherwise; for a coroutine, when
    it is awaited. The signatures are written out for IDEs and type checkers; this keeps the async
    API exactly as forgiving of a wrong call as the sync one."""

    def decorate(method: _Method) -> _Method:
        name, signature = method.__name__, inspect.signature(method)

        def refused(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
            try:
                signature.bind(owner, *args, **kwargs)
            except TypeError:
                return True
            return False

        def by_sync(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            result = getattr(owner._sync, name)(*args, **kwargs)
            return result if wrap is None else wrap(result)

        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def awaitable(self: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    call = method(self, *args, **kwargs)
                except TypeError:  # nothing ran yet: a coroutine's body starts when awaited
                    return by_sync(self, args, kwargs)
                return await call

            return awaitable  # type: ignore[return-value]

        @functools.wraps(method)
        def immediate(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except TypeError:
                if not refused(self, args, kwargs):  # raised inside, by a strict client: the caller's
                    raise
            return by_sync(self, args, kwargs)

        return immediate  # type: ignore[return-value]

    return decorate


# Twin by nature of sentrial.client.Interaction: each method has the sync one's parameters, passed on.
class AsyncInteraction:
    """An interaction with awaitable methods; ``async with`` finishes it, and ``await`` gives it back."""

    def __init__(self, interaction: Interaction) -> None:
        self._interaction = interaction

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

    @_refusals_to_sync()
    def set_output(self, output: str) -> None:
        """Remember the output, sent when the interaction finishes."""
        self._interaction.set_output(output=output)

    @_refusals_to_sync()
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

    @_refusals_to_sync()
    async def track_tool_call(
        self,
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
        )

    @_refusals_to_sync()
    async def track_decision(
        self,
        reasoning: str,
        alternatives: list[str] | None = None,
        confidence: float | None = None,
        estimated_cost: float = 0.0,
        token_count: int | None = None,
    ) -> dict[str, Any] | None:
        """Record a decision of this interaction (see :meth:`SentrialClient.track_decision`)."""
        return self._interaction.track_decision(
            reasoning=reasoning,
            alternatives=alternatives,
            confidence=confidence,
            estimated_cost=estimated_cost,
            token_count=token_count,
        )

    @_refusals_to_sync()
    async def track_error(
        self,
        error_message: str,
        error_type: str | None = None,
        tool_name: str | None = None,
        stack_trace: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Record an error of this interaction (see :meth:`SentrialClient.track_error`)."""
        return self._interaction.track_error(
            error_message=error_message,
            error_type=error_type,
            tool_name=tool_name,
            stack_trace=stack_trace,
            metadata=metadata,
        )

    def __await__(self) -> Generator[Any, None, AsyncInteraction]:
        # Lets `interaction = await client.begin(...)` work as well as `async with client.begin(...)`.
        yield from ()
        return self

    async def __aenter__(self) -> AsyncInteraction:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._interaction.__exit__(exc_type, exc, tb)


# Twin by nature of SentrialClient: each method has the sync one's parameters, passed on.
class AsyncSentrialClient:
    """:class:`SentrialClient` for asyncio: every method awaitable, ``begin()`` usable with ``async with``.

    The arguments, their defaults and their handling are :class:`SentrialClient`'s.
    """

    def __init__(
        self,
        api_key: str | None = None,
        api_url: str | None = None,
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

    @_refusals_to_sync()
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

    @_refusals_to_sync()
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
        )

    @_refusals_to_sync()
    async def track_decision(
        self,
        session_id: str,
        reasoning: str,
        alternatives: list[str] | None = None,
        confidence: float | None = None,
        estimated_cost: float = 0.0,
        token_count: int | None = None,
    ) -> dict[str, Any] | None:
        """Record an agent decision of the session (see :meth:`SentrialClient.track_decision`)."""
        return self._client.track_decision(
            session_id=session_id,
            reasoning=reasoning,
            alternatives=alternatives,
            confidence=confidence,
            estimated_cost=estimated_cost,
            token_count=token_count,
        )

    @_refusals_to_sync()
    async def track_error(
        self,
        session_id: str,
        error_message: str,
        error_type: str | None = None,
        tool_name: str | None = None,
        stack_trace: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Record an error of the session (see :meth:`SentrialClient.track_error`)."""
        return self._client.track_error(
            session_id=session_id,
            error_message=error_message,
            error_type=error_type,
            tool_name=tool_name,
            stack_trace=stack_trace,
            metadata=metadata,
        )

    @_refusals_to_sync()
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

    @_refusals_to_sync(wrap=AsyncInteraction)
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
