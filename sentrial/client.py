"""``SentrialClient`` and ``Interaction``: the SDK reference's calls, turned into OpenTelemetry spans.

Every call returns at once: it starts and ends a span, and the client's delivery sends it in the
background. Sessions are spans that stay open until they are completed. The client orchestrates;
the rooms it uses: ``_sessions`` (the open sessions), ``_events`` (the event calls, the hot path),
``_event_attributes`` (arguments to attributes), ``_pipeline`` (provider, exporters, redaction),
``_shutdown`` (waiting and the undelivered report), ``_lifecycle`` (exit and fork).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Tracer

from sentrial import pricing, semconv
from sentrial._args import ArgumentChecker
from sentrial._config import DEFAULT_MAX_QUEUE_BYTES, BatcherConfig, settings_or_nearest
from sentrial._event_attributes import (
    completion_attributes,
    content,
    messages_json,
    session_attributes,
)
from sentrial._events import EventCalls
from sentrial._guard import public_call, public_call_failed
from sentrial._ids import new_uuid, new_uuids, sentrial_tracer
from sentrial._interaction import Interaction
from sentrial._lifecycle import live_clients, register_exit_hook
from sentrial._pipeline import exporters_of, provider_for, redactor_of, warn_nothing_sent
from sentrial._sessions import OpenSession, SessionRegistry
from sentrial._shutdown import DeliveryError, undelivered, wait_seconds
from sentrial.delivery import Delivery
from sentrial.redact import Redactor
from sentrial.retry_policy import (
    BACKOFF_MULTIPLIER,
    INITIAL_BACKOFF_SECONDS,
    MAX_BACKOFF_SECONDS,
    RETRYABLE_STATUS_CODES,
)
from sentrial.tracing import SessionRouter, current_route, router_of

__all__ = [
    "BACKOFF_MULTIPLIER",
    "INITIAL_BACKOFF_SECONDS",
    "MAX_BACKOFF_SECONDS",
    "RETRYABLE_STATUS_CODES",
    "DeliveryError",
    "Interaction",
    "SentrialClient",
    "begin",
    "configure",
    "current_interaction",
]

logger = logging.getLogger("sentrial")

_INTERACTION_KEY = otel_context.create_key("sentrial-interaction")


# Twin by nature of AsyncSentrialClient (aio.py): the same parameters, written out on both.
class SentrialClient(EventCalls):
    """A connection to one Sentrial server, with its own delivery, batching and redaction.

    ``api_url`` and ``api_key`` (in that order, as published) default to ``SENTRIAL_API_URL`` and
    ``SENTRIAL_API_KEY``. ``langfuse`` is kept as the ``langfuse`` attribute for the Langfuse
    integration. It is a context manager: leaving the block closes it (see :meth:`close`).
    With ``fail_silently=True`` (the default) SDK errors and bad arguments are logged and the app
    carries on; with ``False`` they raise. ``pii`` is True (the server's settings, full redaction
    until they arrive) or a :class:`sentrial.redact.PiiConfig`. ``additional_exporters`` receive
    every span of this client, redacted the same way, each behind its own BatchSpanProcessor;
    ``export_to_sentrial=False`` keeps only those (the distro's ``OTEL_TRACES_EXPORTER=otlp``).
    With ``SENTRIAL_DISABLED`` or ``OTEL_SDK_DISABLED`` set to true, the client records nothing.
    What waits to be sent is bounded by the queue size in items and by ``max_queue_bytes`` in bytes;
    past either, new spans are dropped, counted and logged.
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
        self._fail_silently = fail_silently is not False
        strict = not self._fail_silently
        self.langfuse = langfuse
        self._checkers: dict[str, ArgumentChecker] = {}
        self._tool_call_check = self._check("track_tool_call")  # the hottest call's, at hand
        check = self._check("SentrialClient")
        export_to_sentrial = check.flag("export_to_sentrial", export_to_sentrial)
        settings, sending_refused = settings_or_nearest(
            strict,
            {
                "api_key": api_key,
                "api_url": api_url,
                "fail_silently": fail_silently,
                "pii": pii,
                "batching": batching,
                "timeout": timeout,
                "retry_timeout": retry_timeout,
                "max_value_chars": max_value_chars,
                "export_to_sentrial": export_to_sentrial,
                "max_queue_bytes": max_queue_bytes,
            },
        )
        self._settings = settings
        self._max_chars = settings.max_value_chars
        if settings.disabled:
            logger.info("sentrial: disabled by SENTRIAL_DISABLED / OTEL_SDK_DISABLED; nothing is recorded")
        elif not settings.can_send and export_to_sentrial and not (settings.url_refused or sending_refused):
            warn_nothing_sent()
        self._provider = None if settings.disabled else provider_for(tracer_provider, strict=strict)
        self._tracer = (
            trace.NoOpTracer() if self._provider is None else sentrial_tracer(self._provider, "sentrial")
        )
        exporters = () if settings.disabled else exporters_of(check, additional_exporters)
        if langfuse is not None and not settings.disabled:  # one more exporter of the same spans
            from sentrial.langfuse_integration import exporters_for

            exporters = [*exporters, *exporters_for(langfuse)]
        redactor = redactor_of(pii, strict=strict, max_chars=settings.max_value_chars)
        # The exporters OTEL_TRACES_EXPORTER named are the provider's: every client on it feeds them.
        shared = router_of(self._provider).shared if self._provider is not None else None
        self._delivery = Delivery(settings, redactor, exporters, shared)
        # pii=True: the server's settings are fetched in the background (full redaction until then).
        self._awaiting_pii_settings = pii is True and settings.can_send
        if self._awaiting_pii_settings:
            self._fetch_pii_settings()
        self._registry = SessionRegistry(
            self._tracer, self._delivery, warn_unsampled=self._provider is not None
        )
        self._sessions = self._registry.open  # read on every event (see EventCalls._record)
        self._own_spans = self._registry.own_spans
        self._distro_setup = False  # set up by opentelemetry-instrument (see api.configure)
        self._shut_down = threading.Event()  # set once shutdown() has done its work
        self._delivered_at_shutdown = False
        live_clients.add(self)
        register_exit_hook()

    def _fetch_pii_settings(self) -> None:
        from sentrial._pii_remote import fetch_in_background  # pulls in requests: only when needed

        fetch_in_background(self._settings, self._use_redactor)

    def _use_redactor(self, redactor: Redactor) -> None:
        self._delivery.redactor = redactor
        self._awaiting_pii_settings = False

    def _start_over_in_child(self) -> None:
        """In a forked child: a registry lock of its own, and ask the server for the PII settings
        again if the parent's request had not been answered at the fork (its thread is not in the
        child; pre-forking servers fork right after the app configured Sentrial, while that request
        is in flight)."""
        self._registry.start_over_in_child()
        if self._awaiting_pii_settings and not self._registry.closed:
            self._fetch_pii_settings()

    # --- properties -----------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        """The server this client sends to."""
        return self._settings.api_url

    @property
    def fail_silently(self) -> bool:
        """Whether SDK errors are logged (True) or raised (False)."""
        return self._fail_silently

    @property
    def tracer(self) -> Tracer:
        """The tracer this client makes its spans with."""
        return self._tracer

    @property
    def max_value_chars(self) -> int:
        """The cap on each recorded value."""
        return self._max_chars

    @property
    def delivery(self) -> Delivery:
        """This client's span delivery (exporter, batching, counters)."""
        return self._delivery

    @property
    def router(self) -> SessionRouter | None:
        """The router of the provider this client records on (None when the SDK is disabled)."""
        return router_of(self._provider) if self._provider is not None else None

    # --- sessions -------------------------------------------------------------------------------
    @public_call(fallback=lambda self: str(uuid.uuid4()))
    def create_session(
        self,
        name: str,
        agent_name: str,
        user_id: str,
        parent_session_id: str | None = None,
        convo_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Open a tracking session and return its id at once; the server learns of it in the background."""
        check = self._check("create_session")
        if parent_session_id is not None:  # a refused one is left out: the session is still opened
            parent_session_id = check.session_id("parent_session_id", parent_session_id)
        session_id = str(uuid.uuid4())
        name = check.text("name", name, required=True) or ""  # checked in the signature's order
        agent_name = check.text("agent_name", agent_name, required=True) or ""
        attributes = session_attributes(
            self._max_chars,
            session_id=session_id,
            name=name,
            agent_name=agent_name,
            user_id=check.text("user_id", user_id, required=True) or "",
            parent_session_id=parent_session_id,
            convo_id=None if convo_id is None else check.text("convo_id", convo_id),
            metadata=None if metadata is None else check.mapping("metadata", metadata),
        )
        self._registry.start(session_id, agent_name, attributes, parent_session_id)
        return session_id

    @public_call()
    def complete_session(
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
        """Complete a session with its outcome and totals; returns what was recorded.

        Totals left out are filled in from the session's events when it is sent. A bad field is
        left out or replaced by its nearest valid form (and logged): the completion always goes out.
        """
        given = {
            "failure_reason": failure_reason,
            "estimated_cost": estimated_cost,
            "custom_metrics": custom_metrics,
            "duration_ms": duration_ms,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": total_tokens,
            "user_input": user_input,
            "assistant_output": assistant_output,
        }
        return self._complete_session(session_id, success, given)

    def _complete_session(
        self, session_id: Any, success: Any, given: dict[str, Any]
    ) -> dict[str, Any] | None:
        """:meth:`complete_session` without its guard (its callers have their own), ``given`` holding
        the other arguments by name (None where not given)."""
        check = self._check("complete_session")
        if not (type(session_id) is str and session_id in self._sessions):
            valid_id = check.session_id("session_id", session_id)
            if valid_id is None:
                return None
            session_id = valid_id
        try:
            attributes = completion_attributes(check, self._max_chars, success, given)
        except Exception:  # a strict client's refusal raises here; else an SDK bug: the bare outcome
            public_call_failed(self, "complete_session")
            attributes = {semconv.SUCCESS: success is not False}
        if not self._registry.complete(session_id, attributes):
            logger.warning("sentrial: session %s was already completed; ignored", session_id)
            return {"sessionId": session_id, "status": "already_completed"}
        return {"sessionId": session_id, "status": "completed" if attributes[semconv.SUCCESS] else "failed"}

    @public_call(fallback=lambda self: Interaction(self, None, ""))
    def begin(
        self,
        user_id: str,
        event: str,
        input: str | None = None,
        event_id: str | None = None,
        convo_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Interaction:
        """Begin an interaction and make it the current session; use it directly or with ``with``."""
        interaction, context = self._begin_unentered(
            user_id=user_id, event=event, input=input, event_id=event_id, convo_id=convo_id, metadata=metadata
        )
        interaction._token = otel_context.attach(context)
        return interaction

    def _begin_unentered(
        self,
        *,
        user_id: Any,
        event: Any,
        input: Any = None,
        event_id: Any = None,
        convo_id: Any = None,
        metadata: Any = None,
        provider: str = semconv.OTHER,
    ) -> tuple[Interaction, otel_context.Context]:
        """A begun interaction and the context in which it is current, not made current (the caller
        enters the context and leaves it, e.g. a framework integration following the framework's
        runs, which may know the agent's ``provider``)."""
        check = self._check("begin")
        user_id = check.text("user_id", user_id, required=True) or ""
        event = check.text("event", event, required=True) or ""
        text_input = content(check, "input", input, self._max_chars)
        event_id = check.text("event_id", event_id) if event_id is not None else None
        if event_id:
            session_id = new_uuid()
        else:
            session_id, event_id = new_uuids()
        current = current_route()
        parent_id = current.session_id if current is not None and current.delivery is self._delivery else None
        attributes = session_attributes(
            self._max_chars,
            session_id=session_id,
            name=f"{event}:{event_id[:8]}",
            agent_name=event,
            user_id=user_id,
            parent_session_id=parent_id,
            convo_id=None if convo_id is None else check.text("convo_id", convo_id),
            metadata=None if metadata is None else check.mapping("metadata", metadata),
            provider=provider,
        )
        attributes[semconv.EVENT_ID] = event_id
        if text_input is not None:
            attributes[semconv.GEN_AI_INPUT_MESSAGES] = messages_json("user", text_input, self._max_chars)
        open_session = self._registry.start(session_id, event, attributes, parent_id)
        interaction = Interaction(self, session_id, event_id, user_id, event, input=text_input)
        open_session.interaction = interaction
        if text_input is not None:
            open_session.state["input"] = text_input  # an interaction's state starts with its input
        return interaction, otel_context.set_value(_INTERACTION_KEY, interaction, open_session.context)

    def _record_exception(self, session_id: str | None, exc: BaseException) -> None:
        """Add the standard exception event to an open session span; never raises."""
        self._registry.record_exception(session_id, exc)

    def _timeout(self, call: str, timeout: Any) -> float | None:
        return wait_seconds(self._check(call), timeout)

    @public_call()
    def close_session(
        self,
        session_id: str,
        duration_ms: int | None = None,
        success: bool | None = None,
        failure_reason: str | None = None,
    ) -> dict[str, Any] | None:
        """Complete a session (the published package's older name for :meth:`complete_session`)."""
        return self.complete_session(
            session_id,
            success=True if success is None else success,
            failure_reason=failure_reason,
            duration_ms=duration_ms,
        )

    # --- session state --------------------------------------------------------------------------
    @public_call()
    def update_state(self, key: str, value: Any) -> None:
        """Set ``key`` of the current session's state (the session current here, else the one this
        client opened last): the session's next events carry it in ``stateBefore``/``stateAfter``."""
        check = self._check("update_state")
        name = check.text("key", key, required=True)
        if name and not self._registry.set_state({name: value}, self._max_chars):
            logger.warning("sentrial: update_state(%r) with no session open; ignored", name)

    @property
    def current_state(self) -> dict[str, Any]:
        """A copy of the current session's state as this client knows it: ``begin()``'s input and
        the keys set with :meth:`update_state` (the events add their tool results on the way out).
        Assigning a dict replaces the state."""
        target = self._registry.for_state()
        return dict(target.state) if target is not None else {}

    @current_state.setter
    def current_state(self, value: dict[str, Any]) -> None:
        check = self._check("current_state")
        state = check.mapping("current_state", value)
        if state is not None and not self._registry.set_state(state, self._max_chars, replace=True):
            logger.warning("sentrial: current_state set with no session open; ignored")

    # --- delivery -------------------------------------------------------------------------------
    @public_call(fallback=lambda self: False)
    def flush(self, timeout: float | None = 10.0) -> bool:
        """Send everything recorded so far; blocks at most ``timeout`` seconds.

        Returns True when all of it was delivered. With ``fail_silently=False`` an undelivered
        remainder raises :class:`DeliveryError`.
        """
        delivered = self._delivery.flush(self._timeout("flush", timeout))
        self._report(delivered, "flush")
        return delivered

    @public_call(fallback=lambda self: False)
    def shutdown(self, timeout: float | None = 10.0) -> bool:
        """Complete sessions still open as failed, deliver what is queued, and stop this client.

        In a process forked after a session was opened, that session is left to the parent.
        """
        timeout = self._timeout("shutdown", timeout)
        already, unfinished = self._registry.close()
        if already:
            # Shut down before, or being shut down in another thread (an async shutdown left to run,
            # the exit hook): wait for that, so that the process does not exit in the middle of it.
            return self._shut_down.wait(timeout) and self._delivered_at_shutdown
        try:
            self._delivered_at_shutdown = self._stop(unfinished, timeout)
        finally:
            self._shut_down.set()
        self._report(self._delivered_at_shutdown, "shutdown")
        return self._delivered_at_shutdown

    def close(self) -> None:
        """Send what is queued and stop this client (:meth:`shutdown`; the published name)."""
        self.shutdown()

    @property
    def closed(self) -> bool:
        """Whether this client was closed (or shut down)."""
        return self._registry.closed

    def __enter__(self) -> SentrialClient:
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()

    def _stop(self, unfinished: list[tuple[str, OpenSession]], timeout: float | None) -> bool:
        """Complete ``unfinished`` as failed and shut the delivery down; True when all was delivered."""
        for session_id, open_session in unfinished:
            interaction = open_session.interaction
            if interaction is not None and not interaction.finished:  # also leaves its context
                interaction.finish(success=False, failure_reason=semconv.NOT_FINISHED_REASON)
            else:
                self.complete_session(
                    session_id=session_id, success=False, failure_reason=semconv.NOT_FINISHED_REASON
                )
        delivered = self._delivery.shutdown(timeout)
        if self._provider is not None:
            router = router_of(self._provider)
            if router.default is self._delivery:
                router.default = None
        live_clients.discard(self)
        return delivered

    def _report(self, delivered: bool, what: str) -> None:
        if delivered:
            return
        message = undelivered(self._delivery, self._settings.api_url, what)
        if not self._fail_silently:
            raise DeliveryError(message)
        logger.warning(message)

    # --- cost helpers (the reference's static methods) ------------------------------------------
    @staticmethod
    def calculate_openai_cost(model: str, input_tokens: int, output_tokens: int) -> float:
        """USD cost of an OpenAI call; see :func:`sentrial.pricing.calculate_openai_cost`."""
        return pricing.calculate_openai_cost(model, input_tokens, output_tokens)

    @staticmethod
    def calculate_anthropic_cost(model: str, input_tokens: int, output_tokens: int) -> float:
        """USD cost of an Anthropic call; see :func:`sentrial.pricing.calculate_anthropic_cost`."""
        return pricing.calculate_anthropic_cost(model, input_tokens, output_tokens)

    @staticmethod
    def calculate_google_cost(model: str, input_tokens: int, output_tokens: int) -> float:
        """USD cost of a Google Gemini call; see :func:`sentrial.pricing.calculate_google_cost`."""
        return pricing.calculate_google_cost(model, input_tokens, output_tokens)


def current_interaction() -> Interaction | None:
    """The interaction begun with ``begin()`` that is current here (this thread or task), if any."""
    value = otel_context.get_value(_INTERACTION_KEY)
    if isinstance(value, Interaction) and not value.finished:
        return value
    return None


# The published package's module-level calls at this path, and its retry figures.
def configure(
    api_key: str | None = None,
    api_url: str | None = None,
    fail_silently: bool = True,
    pii: Any = None,
    batching: bool | BatcherConfig | None = None,
    **options: Any,
) -> SentrialClient:
    """Configure the default client: :func:`sentrial.configure`, under the published path."""
    from sentrial import api  # api imports this module

    return api.configure(api_key, api_url, fail_silently, pii, batching, **options)


def begin(
    user_id: str,
    event: str,
    input: str | None = None,
    event_id: str | None = None,
    convo_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> Interaction:
    """Begin an interaction on the default client: :func:`sentrial.begin`, under the published path."""
    from sentrial import api

    return api.begin(user_id, event, input, event_id, convo_id, metadata)
