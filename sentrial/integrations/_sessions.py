"""What the published API's integrations share: the client behind a client argument, the context
in which a session given by its id is current, and the handlers' session, totals and ``finish()``."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from opentelemetry import context as otel_context

from sentrial._guard import public_call
from sentrial.api import get_client
from sentrial.client import SentrialClient
from sentrial.pricing import calculate_cost, find_price
from sentrial.tracing import SessionRoute, with_route

logger = logging.getLogger("sentrial")

_T = TypeVar("_T")


def sync_client(client: Any, argument: str = "client") -> SentrialClient:
    """The :class:`SentrialClient` behind ``client`` (itself, or an ``AsyncSentrialClient``'s).
    Anything else is logged and the default client (``sentrial.configure()``'s) is used instead:
    the integration records somewhere rather than break the app's framework run."""
    if isinstance(client, SentrialClient):
        return client
    inner = getattr(client, "sync_client", None)
    if isinstance(inner, SentrialClient):
        return inner
    logger.error(
        "sentrial: %s must be a SentrialClient or an AsyncSentrialClient, not %s; the default client"
        " is used instead",
        argument,
        type(client).__name__,
    )
    return get_client()


def session_context(client: SentrialClient, session_id: str) -> otel_context.Context:
    """A context (from the current one) in which ``session_id`` is the current session of
    ``client``: the session's own context while this client has it open (spans made in it nest
    under the session's span), else one that routes to the id as it is (a session opened elsewhere)."""
    open_session = client._sessions.get(session_id)
    if open_session is not None:
        return open_session.context
    return with_route(SessionRoute(session_id, client.delivery))


@contextlib.contextmanager
def entered(context: otel_context.Context) -> Iterator[None]:
    """``context`` made current for the block."""
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)


async def step_in(
    items: AsyncIterator[_T], scope: Callable[[], AbstractContextManager[Any]]
) -> AsyncIterator[_T]:
    """``items`` as they are, each one taken (and ``items`` closed) inside ``scope()``: what a
    framework does to make the next item (its model and tool calls) runs in that scope's context,
    while the app's code between the items runs in its own."""
    try:
        while True:
            with scope():
                try:
                    item = await anext(items)
                except StopAsyncIteration:
                    return
            yield item
    finally:
        close = getattr(items, "aclose", None)
        if close is not None:
            with scope():
                await close()


def provider_of(model: str | None) -> str | None:
    """The provider whose price table has ``model`` (for a call whose provider was not said)."""
    if not model:
        return None
    return next((p for p in ("openai", "anthropic", "google") if find_price(p, model) is not None), None)


def price(model: str | None, prompt_tokens: int, completion_tokens: int) -> float | None:
    """The list price of a model call whose provider is not known, or None for an unknown model."""
    provider = provider_of(model)
    if provider is None or model is None:
        return None
    return calculate_cost(provider, model, prompt_tokens, completion_tokens)


class SessionHandler:
    """What the published API's framework handlers share: the session they record into (opened by
    the app, given by its id), the totals of its model calls, its input and output, its duration,
    and ``finish()``, which completes the session with all of that."""

    def __init__(self, client: Any, session_id: str, verbose: bool = False) -> None:
        self._session_client = sync_client(client)
        self._fail_silently = self._session_client.fail_silently
        self.client = client
        self.session_id = session_id
        self.verbose = verbose
        self.total_prompt_tokens = 0
        self.total_completion_tokens = 0
        self.total_tokens = 0
        self.total_cost = 0.0
        self.model_name: str | None = None
        self.start_time: float | None = None
        self.end_time: float | None = None
        self.user_input: str | None = None
        self.assistant_output: str | None = None
        self._totals_lock = threading.Lock()

    @public_call()
    def set_input(self, user_input: str) -> None:
        """The user's question: the session's input when ``finish()`` completes it."""
        self.user_input = user_input
        self._log("input set")

    @property
    def duration_ms(self) -> int:
        """Milliseconds from the start of the run to its end (or to ``finish()``, or now); 0 before
        it started."""
        if self.start_time is None:
            return 0
        end = self.end_time if self.end_time is not None else time.time()
        return int((end - self.start_time) * 1000)

    def _usage_totals(self) -> dict[str, Any]:
        """The totals every ``get_usage_summary()`` of the published handlers ends with."""
        return {
            "total_prompt_tokens": self.total_prompt_tokens,
            "total_completion_tokens": self.total_completion_tokens,
            "total_tokens": self.total_tokens,
            "total_cost": self.total_cost,
            "model": self.model_name,
            "duration_ms": self.duration_ms,
        }

    def session_context(self) -> otel_context.Context:
        """The context in which the handler's session is current."""
        return session_context(self._session_client, self.session_id)

    def _started(self) -> None:
        if self.start_time is None:
            self.start_time = time.time()

    def _add_usage(
        self, prompt_tokens: int, completion_tokens: int, model: str | None, cost: float | None = None
    ) -> None:
        """Count one model call's tokens and cost (priced from ``model`` when not given)."""
        if cost is None:
            cost = price(model, prompt_tokens, completion_tokens)
        with self._totals_lock:
            self.total_prompt_tokens += prompt_tokens
            self.total_completion_tokens += completion_tokens
            self.total_tokens += prompt_tokens + completion_tokens
            self.total_cost += cost or 0.0
            self.model_name = model or self.model_name
        self._log("model usage: %d in, %d out, $%.6f", prompt_tokens, completion_tokens, cost or 0.0)

    def _complete(
        self, success: bool, failure_reason: str | None, custom_metrics: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Complete the session with the totals. Totals the handler never saw (no tokens counted)
        are left to the session's own events, which the server sums."""
        if self.end_time is None:
            self.end_time = time.time()
        if not self.session_id:
            return {}
        counted = self.total_tokens > 0 or self.total_cost > 0
        completed = self._session_client.complete_session(
            session_id=self.session_id,
            success=success,
            failure_reason=failure_reason,
            estimated_cost=self.total_cost if counted else None,
            custom_metrics=custom_metrics,
            duration_ms=self.duration_ms,
            prompt_tokens=self.total_prompt_tokens if counted else None,
            completion_tokens=self.total_completion_tokens if counted else None,
            total_tokens=self.total_tokens if counted else None,
            user_input=self.user_input,
            assistant_output=self.assistant_output,
        )
        return completed or {}

    def _decision(self, reasoning: str) -> None:
        """A step of the run the framework reports (a message, a thought) as a decision."""
        if self.session_id:
            self._session_client.track_decision(
                session_id=self.session_id, reasoning=reasoning, confidence=1.0
            )

    def _log(self, message: str, *args: Any) -> None:
        if self.verbose:
            logger.info("sentrial: " + message, *args)
