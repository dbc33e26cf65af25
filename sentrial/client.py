"""``SentrialClient`` and ``Interaction``: the SDK reference's calls, turned into OpenTelemetry spans.

Every call returns at once: it starts and ends a span, and the client's delivery sends it in the
background. Sessions are spans that stay open until they are completed.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Status, StatusCode, Tracer

from sentrial import pricing, semconv
from sentrial._args import ArgumentChecker
from sentrial._config import DEFAULT_MAX_QUEUE_BYTES, BatcherConfig, settings_or_nearest
from sentrial._event_attributes import completion_attributes, content, decision_attributes, error_attributes
from sentrial._guard import public_call, public_call_failed
from sentrial._ids import with_private_ids
from sentrial._interaction import Interaction
from sentrial._lifecycle import live_clients, register_exit_hook
from sentrial._values import cap_text, safe_text, to_json
from sentrial.delivery import Delivery
from sentrial.redact import Redactor, redactor_for
from sentrial.tracing import (
    SessionRoute,
    current_route,
    for_events,
    resolve_provider,
    router_of,
    with_route,
)

__all__ = ["DeliveryError", "Interaction", "SentrialClient", "current_interaction"]

logger = logging.getLogger("sentrial")

_F = TypeVar("_F", bound=Callable[..., Any])
_INTERACTION_KEY = otel_context.create_key("sentrial-interaction")
_RECENTLY_COMPLETED = 10_000
_LONGEST_WAIT = threading.TIMEOUT_MAX / 2  # room for the deadlines computed from it


@dataclass
class _OpenSession:
    span: trace.Span
    route: SessionRoute
    context: otel_context.Context  # the session span and its route, for the spans made inside it
    events_context: otel_context.Context  # the same, for the session's tracked events (see for_events)
    trace_hex: str  # the session's trace id, as the API writes it
    interaction: Interaction | None = None  # set by begin()
    pid: int = field(default_factory=os.getpid)  # the process that opened it (and completes it at exit)


class SentrialClient:
    """A connection to one Sentrial server, with its own delivery, batching and redaction.

    ``api_key`` and ``api_url`` default to ``SENTRIAL_API_KEY`` and ``SENTRIAL_API_URL``.
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
        api_key: str | None = None,
        api_url: str | None = None,
        fail_silently: bool = True,
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
        self._checkers: dict[str, ArgumentChecker] = {}
        self._tool_call_check = self._check("track_tool_call")  # the hottest call's, at hand
        check = self._check("SentrialClient")
        export_to_sentrial = check.flag("export_to_sentrial", export_to_sentrial)
        settings, sending_refused = settings_or_nearest(
            not self._fail_silently,
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
            _warn_nothing_sent()
        self._provider = None if settings.disabled else self._provider_for(tracer_provider)
        self._tracer = (
            trace.NoOpTracer()
            if self._provider is None
            else with_private_ids(self._provider.get_tracer("sentrial"))
        )
        exporters = () if settings.disabled else self._exporters(check, additional_exporters)
        self._delivery = Delivery(settings, self._redactor(pii), exporters)
        # pii=True: the server's settings are fetched in the background (full redaction until then).
        self._awaiting_pii_settings = pii is True and settings.can_send
        if self._awaiting_pii_settings:
            self._fetch_pii_settings()
        self._sessions: dict[str, _OpenSession] = {}
        self._sampled_out_warned = False  # said once per client (see _warn_sampled_out)
        self._distro_setup = False  # set up by opentelemetry-instrument (see api.configure)
        self._completed: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._closed = False
        self._shut_down = threading.Event()  # set once shutdown() has done its work
        self._delivered_at_shutdown = False
        live_clients.add(self)
        register_exit_hook()

    def _provider_for(self, tracer_provider: Any) -> Any:
        """The provider for ``tracer_provider=``; a wrong one is refused (strict) or replaced."""
        try:
            return resolve_provider(tracer_provider)
        except TypeError:
            if not self._fail_silently:
                raise
            logger.exception("sentrial: invalid tracer_provider; the default provider is used instead")
            return resolve_provider(None)

    @staticmethod
    def _exporters(check: ArgumentChecker, given: Any) -> list[SpanExporter]:
        """The SpanExporters of ``additional_exporters=``; anything else is refused or left out."""
        if isinstance(given, SpanExporter):
            check.wrong_type("additional_exporters", given, "a sequence of SpanExporter")
            return [given]
        items: list[Any] = check.converted("additional_exporters", list, given, [])
        exporters = [item for item in items if isinstance(item, SpanExporter)]
        if len(exporters) < len(items):
            check.wrong_type("additional_exporters", given, "a sequence of SpanExporter (others left out)")
        return exporters

    def _redactor(self, pii: Any) -> Redactor | None:
        """The redaction for ``pii=``; a wrong value fails closed (full redaction) unless strict."""
        strict = not self._fail_silently
        try:
            return redactor_for(pii, strict=strict, max_chars=self._settings.max_value_chars)
        except (TypeError, ValueError):
            if strict:
                raise
            logger.exception("sentrial: invalid pii setting; redacting everything by default instead")
            return redactor_for(True, strict=False, max_chars=self._settings.max_value_chars)

    def _fetch_pii_settings(self) -> None:
        from sentrial._pii_remote import fetch_in_background  # pulls in requests: only when needed

        fetch_in_background(self._settings, self._use_redactor)

    def _use_redactor(self, redactor: Redactor) -> None:
        self._delivery.redactor = redactor
        self._awaiting_pii_settings = False

    def _start_over_in_child(self) -> None:
        """In a forked child: a lock of its own (a parent thread may have held this one at the fork,
        for good in the child), and ask the server for the PII settings again if the parent's
        request had not been answered at the fork (its thread is not in the child; pre-forking
        servers fork right after the app configured Sentrial, while that request is in flight)."""
        self._lock = threading.Lock()
        if self._awaiting_pii_settings and not self._closed:
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

    def _check(self, call: str) -> ArgumentChecker:
        checker = self._checkers.get(call)  # one per method: made once, the hot paths ask every call
        if checker is None:
            checker = self._checkers[call] = ArgumentChecker(call, strict=not self._fail_silently)
        return checker

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
        return self._open_session(
            name=check.text("name", name, required=True) or "",
            agent_name=check.text("agent_name", agent_name, required=True) or "",
            user_id=check.text("user_id", user_id, required=True) or "",
            parent_session_id=parent_session_id,
            convo_id=check.text("convo_id", convo_id),
            metadata=check.mapping("metadata", metadata, optional=True),
        )

    def _open_session(
        self,
        *,
        name: str,
        agent_name: str,
        user_id: str,
        parent_session_id: str | None,
        convo_id: str | None,
        metadata: dict[str, Any] | None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        session_id = str(uuid.uuid4())
        limit = self._max_chars  # names are recorded values too: none may hold megabytes
        attributes: dict[str, Any] = {
            semconv.SPAN_KIND: semconv.KIND_SESSION,
            semconv.SESSION_ID: session_id,
            semconv.SESSION_NAME: cap_text(name, limit),
            semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_INVOKE_AGENT,
            semconv.GEN_AI_AGENT_NAME: cap_text(agent_name, limit),
            semconv.USER_ID: cap_text(user_id, limit),
        }
        if parent_session_id:
            attributes[semconv.SESSION_PARENT_ID] = parent_session_id
        if convo_id:
            attributes[semconv.GEN_AI_CONVERSATION_ID] = cap_text(convo_id, limit)
        if metadata is not None:
            attributes[semconv.METADATA] = to_json(metadata, self._max_chars)
        if extra:
            attributes.update(extra)
        parent = self._sessions.get(parent_session_id) if parent_session_id else None
        parent_context = parent.context if parent is not None else None
        route = SessionRoute(session_id, self._delivery)
        span = self._tracer.start_span(
            semconv.session_span_name(agent_name),
            context=with_route(route, parent_context),
            attributes=attributes,
        )
        if not span.is_recording() and self._provider is not None and not self._sampled_out_warned:
            self._sampled_out_warned = True
            _warn_sampled_out(session_id)
        context = with_route(route, trace.set_span_in_context(span, parent_context))
        with self._lock:
            self._sessions[session_id] = _OpenSession(
                span,
                route,
                context,
                for_events(self._delivery, context),
                semconv.trace_hex(span.get_span_context().trace_id),
            )
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
        check = self._check("complete_session")
        if not (type(session_id) is str and session_id in self._sessions):
            valid_id = check.session_id("session_id", session_id)
            if valid_id is None:
                return None
            session_id = valid_id
        try:
            attributes = completion_attributes(
                check,
                self._max_chars,
                success,
                {
                    "failure_reason": failure_reason,
                    "estimated_cost": estimated_cost,
                    "custom_metrics": custom_metrics,
                    "duration_ms": duration_ms,
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": total_tokens,
                    "user_input": user_input,
                    "assistant_output": assistant_output,
                },
            )
        except Exception:  # a strict client's refusal raises here; else an SDK bug: the bare outcome
            public_call_failed(self, "complete_session")
            attributes = {semconv.SUCCESS: success is not False}
        success = attributes[semconv.SUCCESS]
        reason = attributes.get(semconv.FAILURE_REASON)

        with self._lock:
            open_session = self._sessions.pop(session_id, None)
            already = open_session is None and session_id in self._completed
            if not already:
                self._completed[session_id] = None
                if len(self._completed) > _RECENTLY_COMPLETED:
                    self._completed.popitem(last=False)
        if already:
            logger.warning("sentrial: session %s was already completed; ignored", session_id)
            return {"sessionId": session_id, "status": "already_completed"}
        if open_session is None:
            span = self._external_session_span(session_id)
        else:
            span = open_session.span
            open_session.route.open = False
        span.set_attributes(attributes)
        if not success:
            span.set_status(Status(StatusCode.ERROR, reason))
        span.end()
        return {"sessionId": session_id, "status": "completed" if success else "failed"}

    def _external_session_span(self, session_id: str) -> trace.Span:
        """A span that completes a session this client did not open (its id passes through)."""
        span = self._tracer.start_span(
            semconv.session_span_name("external"),
            context=with_route(SessionRoute(session_id, self._delivery)),
            attributes={
                semconv.SPAN_KIND: semconv.KIND_SESSION,
                semconv.SESSION_ID: session_id,
                semconv.SESSION_EXTERNAL: True,
            },
        )
        return span

    @public_call(fallback=lambda self: Interaction(self, None, "", None))
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
    ) -> tuple[Interaction, otel_context.Context]:
        """A begun interaction and the context in which it is current, not made current (the caller
        enters the context and leaves it, e.g. a framework integration following the framework's runs)."""
        check = self._check("begin")
        user_id = check.text("user_id", user_id, required=True) or ""
        event = check.text("event", event, required=True) or ""
        text_input = content(check, "input", input, self._max_chars)
        event_id = check.text("event_id", event_id) or str(uuid.uuid4())
        current = current_route()
        parent_id = current.session_id if current is not None and current.delivery is self._delivery else None
        extra: dict[str, Any] = {semconv.EVENT_ID: event_id}
        if text_input is not None:
            extra[semconv.INPUT] = text_input
        session_id = self._open_session(
            name=f"{event}:{event_id[:8]}",
            agent_name=event,
            user_id=user_id,
            parent_session_id=parent_id,
            convo_id=check.text("convo_id", convo_id),
            metadata=check.mapping("metadata", metadata, optional=True),
            extra=extra,
        )
        interaction = Interaction(self, session_id, event_id, text_input)
        open_session = self._sessions[session_id]
        open_session.interaction = interaction
        return interaction, otel_context.set_value(_INTERACTION_KEY, interaction, open_session.context)

    # --- events ---------------------------------------------------------------------------------
    def _record(
        self,
        check: ArgumentChecker,
        session_id: Any,
        name: str,
        attributes: dict[str, Any],
        error: str | None = None,
        exception: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Start and end one event span inside the session; returns what was recorded (None when
        the session id is refused: the event is dropped, and that is logged)."""
        open_session = self._sessions.get(session_id) if type(session_id) is str else None
        if open_session is not None:
            context = open_session.events_context
        else:  # a session opened elsewhere: its id passes through unchanged, if the API can take it
            session_id = check.session_id("session_id", session_id)
            if session_id is None:
                return None
            context = with_route(SessionRoute(session_id, self._delivery))
        attributes[semconv.SESSION_ID] = session_id
        span = self._tracer.start_span(name, context=context, attributes=attributes)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        if exception is not None:
            span.add_event(semconv.EXCEPTION_EVENT, exception)
        span.end()
        ids = span.get_span_context()
        return {
            "sessionId": session_id,
            "eventType": semconv.API_EVENT_TYPES[attributes[semconv.SPAN_KIND]],
            # The event's span is a child of the session's: same trace, whose id was written out once.
            "traceId": open_session.trace_hex
            if open_session is not None
            else semconv.trace_hex(ids.trace_id),
            "spanId": semconv.span_hex(ids.span_id),
        }

    @public_call()
    def track_tool_call(
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
        """Record a tool call of the session; returns at once with the event's ids."""
        return self._tool_call(
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

    def _tool_call(
        self,
        *,
        session_id: Any,
        tool_name: Any,
        tool_input: Any,
        tool_output: Any,
        reasoning: Any,
        estimated_cost: Any,
        tool_error: Any,
        token_count: Any,
        trace_id: Any,
        span_id: Any,
        metadata: Any,
    ) -> dict[str, Any] | None:
        # The hot path: arguments of the documented types skip the per-argument checks.
        well_typed = (
            type(session_id) is str
            and type(tool_name) is str
            and tool_name.isascii()  # O(1); other text is cleaned by the check
            and type(tool_input) is dict
            and type(tool_output) is dict
            and type(estimated_cost) is float
            and session_id
            and tool_name
            and 0.0 <= estimated_cost < math.inf
        )
        check = self._tool_call_check
        if not well_typed:  # the session id is checked by _record
            tool_name = check.text("tool_name", tool_name, required=True) or ""
            tool_input = check.mapping("tool_input", tool_input)
            tool_output = check.mapping("tool_output", tool_output)
            estimated_cost = check.number("estimated_cost", estimated_cost, low=0) or 0.0
        max_chars = self._max_chars
        attributes: dict[str, Any] = {
            semconv.SPAN_KIND: semconv.KIND_TOOL_CALL,
            semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_EXECUTE_TOOL,
            semconv.GEN_AI_TOOL_NAME: cap_text(tool_name, max_chars),
            semconv.TOOL_INPUT: to_json(tool_input, max_chars),
            semconv.TOOL_OUTPUT: to_json(tool_output, max_chars),
            semconv.COST_USD: estimated_cost,
        }
        # Optional arguments are usually absent: test for None before paying for a check.
        if reasoning is not None:
            attributes[semconv.REASONING] = content(check, "reasoning", reasoning, max_chars)
        if token_count is not None:
            attributes[semconv.TOKEN_COUNT] = check.integer("token_count", token_count)
        linked = trace_id is not None or span_id is not None
        if linked:
            for attribute, name, given, digits in (
                (semconv.LINKED_TRACE_ID, "trace_id", trace_id, 32),
                (semconv.LINKED_SPAN_ID, "span_id", span_id, 16),
            ):
                if given is not None and (hex_id := check.hex_id(name, given, digits)) is not None:
                    attributes[attribute] = hex_id
        message = None
        if tool_error is not None:
            error = check.mapping("tool_error", tool_error) or {}
            attributes[semconv.TOOL_ERROR] = to_json(error, max_chars)
            message = safe_text(error.get("message", "tool failed"))
        if metadata is not None:
            attributes[semconv.METADATA] = to_json(check.mapping("metadata", metadata), max_chars)
        span_name = semconv.tool_call_span_name(tool_name)
        recorded = self._record(check, session_id, span_name, attributes, message)
        if linked and recorded is not None:  # the event goes out with the caller's ids: say so
            recorded["traceId"] = attributes.get(semconv.LINKED_TRACE_ID, recorded["traceId"])
            recorded["spanId"] = attributes.get(semconv.LINKED_SPAN_ID, recorded["spanId"])
        return recorded

    @public_call()
    def track_decision(
        self,
        session_id: str,
        reasoning: str,
        alternatives: list[str] | None = None,
        confidence: float | None = None,
        estimated_cost: float = 0.0,
        token_count: int | None = None,
    ) -> dict[str, Any] | None:
        """Record an agent decision of the session; returns at once with the event's ids."""
        check = self._check("track_decision")
        attributes = decision_attributes(
            check,
            self._max_chars,
            reasoning=reasoning,
            alternatives=alternatives,
            confidence=confidence,
            estimated_cost=estimated_cost,
            token_count=token_count,
        )
        return self._record(check, session_id, semconv.SPAN_NAME_DECISION, attributes)

    @public_call()
    def track_error(
        self,
        session_id: str,
        error_message: str,
        error_type: str | None = None,
        tool_name: str | None = None,
        stack_trace: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Record an error of the session; returns at once with the event's ids."""
        check = self._check("track_error")
        attributes, exception = error_attributes(
            check,
            self._max_chars,
            error_message=error_message,
            error_type=error_type,
            tool_name=tool_name,
            stack_trace=stack_trace,
            metadata=metadata,
        )
        message = attributes[semconv.ERROR_MESSAGE]
        return self._record(
            check, session_id, semconv.SPAN_NAME_ERROR, attributes, error=message, exception=exception
        )

    def _record_exception(self, session_id: str | None, exc: BaseException) -> None:
        """Add the standard exception event to an open session span. Never raises: it runs while
        the app's own exception propagates, which must stay the one the app sees."""
        open_session = self._sessions.get(session_id) if session_id else None
        if open_session is not None:
            try:
                open_session.span.record_exception(exc)
            except Exception:  # e.g. the exception's __str__ raises
                kind = type(exc).__name__
                logger.warning("sentrial: could not record the %s exception", kind, exc_info=True)

    def _timeout(self, call: str, timeout: Any) -> float | None:
        """A ``timeout=`` in seconds (None: no limit); a wrong one is refused or becomes 10 s, and
        one longer than the longest wait threads support is that (a longer one overflows there)."""
        if timeout is None:
            return None
        seconds = self._check(call).number("timeout", timeout, low=0)
        return 10.0 if seconds is None else min(seconds, _LONGEST_WAIT)

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
        with self._lock:
            already, self._closed = self._closed, True
            # In a forked child, the sessions the parent opened are the parent's to complete.
            pid = os.getpid()
            unfinished = [
                (sid, each) for sid, each in self._sessions.items() if each.pid == pid and not already
            ]
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

    def _stop(self, unfinished: list[tuple[str, _OpenSession]], timeout: float | None) -> bool:
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
        exporter = self._delivery.exporter
        short = []
        if exporter is not None:
            stats, dropped = exporter.stats, exporter.stats.dropped + self._delivery.dropped
            short.append(f"to {self._settings.api_url} ({stats.pending} pending, {dropped} dropped so far)")
        if self._delivery.others_short:
            failed = ", ".join(self._delivery.others_short)
            short.append(f"through {failed} (failed, or not done in time)")
        if not short:
            short.append(f"({self._delivery.dropped} span(s) dropped so far)")
        message = f"sentrial: {what} did not deliver everything " + "; ".join(short)
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


class DeliveryError(RuntimeError):
    """Raised by ``flush()``/``shutdown()`` with ``fail_silently=False`` when data was not delivered."""


_nothing_sent_warned = threading.Event()


def _warn_nothing_sent() -> None:
    """Say once per process that, without a key or a URL, nothing goes to Sentrial."""
    if not _nothing_sent_warned.is_set():
        _nothing_sent_warned.set()
        logger.warning(
            "sentrial: no API key and no API URL (set SENTRIAL_API_KEY or SENTRIAL_API_URL); "
            "nothing will be sent"
        )


def _warn_sampled_out(session_id: str) -> None:
    """Say (once per client) that the provider's sampler drops sessions: none of them is recorded."""
    logger.warning(
        "sentrial: the tracer provider's sampler did not sample session %s, so it is not recorded "
        "(nor is any other session it does not sample: an unsampled traceparent, a ratio sampler); "
        "sample every trace Sentrial records, e.g. TracerProvider(sampler=ALWAYS_ON)",
        session_id,
    )


def current_interaction() -> Interaction | None:
    """The interaction begun with ``begin()`` that is current here (this thread or task), if any."""
    value = otel_context.get_value(_INTERACTION_KEY)
    if isinstance(value, Interaction) and not value.finished:
        return value
    return None
