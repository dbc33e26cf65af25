"""The events of a session: ``track_tool_call``, ``track_decision`` and ``track_error``.

``EventCalls`` is the part of :class:`sentrial.client.SentrialClient` that records them: each call
checks its arguments, builds its attributes and starts and ends one span inside the session. It is
a base class rather than an object the client calls so that the hottest call, ``track_tool_call``,
costs no frame more; the tool call's attributes are built in ``_tool_call`` itself for that reason.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from opentelemetry.trace import Status, StatusCode, Tracer

from sentrial import semconv
from sentrial._args import ArgumentChecker
from sentrial._event_attributes import content, decision_attributes, error_attributes, tool_call_times
from sentrial._guard import public_call
from sentrial._sessions import OpenSession
from sentrial._span_attributes import OwnSpans
from sentrial._values import cap_text, safe_text, to_json
from sentrial.delivery import Delivery
from sentrial.tracing import SessionRoute, with_route


# Twins by nature: Interaction's and the async classes' event calls take these parameters, written out.
class EventCalls:
    """The event calls of a client; the client sets the attributes declared here."""

    _fail_silently: bool
    _max_chars: int
    _tracer: Tracer
    _own_spans: OwnSpans
    _delivery: Delivery
    _sessions: dict[str, OpenSession]  # the open sessions, by id (the client's SessionRegistry's)
    _checkers: dict[str, ArgumentChecker]
    _tool_call_check: ArgumentChecker

    def _check(self, call: str) -> ArgumentChecker:
        checker = self._checkers.get(call)  # one per method: made once, the hot paths ask every call
        if checker is None:
            checker = self._checkers[call] = ArgumentChecker(call, strict=not self._fail_silently)
        return checker

    def _record(
        self,
        check: ArgumentChecker,
        session_id: Any,
        name: str,
        attributes: dict[str, Any],
        error: str | None = None,
        exception: dict[str, Any] | None = None,
        times: tuple[int | None, int | None] = (None, None),
    ) -> dict[str, Any] | None:
        """Start and end one event span inside the session, at ``times`` (start and end in ns since
        the epoch, None for now); returns what was recorded (None when the session id is refused:
        the event is dropped, and that is logged)."""
        open_session = self._sessions.get(session_id) if type(session_id) is str else None
        if open_session is not None:
            context = open_session.events_context
        else:  # a session opened elsewhere: its id passes through unchanged, if the API can take it
            session_id = check.session_id("session_id", session_id)
            if session_id is None:
                return None
            context = with_route(SessionRoute(session_id, self._delivery))
        attributes[semconv.SESSION_ID] = session_id
        span = self._own_spans.start(name, context, attributes, times[0])
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        if exception is not None:
            span.add_event(semconv.EXCEPTION_EVENT, exception)
        span.end(times[1])
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
        *,
        tool_call_id: str | None = None,
        started_at: datetime | float | None = None,
        ended_at: datetime | float | None = None,
        duration_ms: float | None = None,
    ) -> dict[str, Any] | None:
        """Record a tool call of the session; returns at once with the event's ids.

        The span lasts no time unless two of ``started_at``, ``ended_at`` (datetimes, or seconds
        since the epoch as ``time.time()`` gives them) and ``duration_ms`` say when the tool ran;
        ``tool_call_id`` is the id the model gave the call.
        """
        return self._tool_call(
            session_id,
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

    def _tool_call(  # its arguments come by position: cheaper than by keyword, on the hot path
        self,
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
        tool_call_id: Any = None,
        started_at: Any = None,
        ended_at: Any = None,
        duration_ms: Any = None,
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
            semconv.GEN_AI_TOOL_TYPE: semconv.TOOL_TYPE_FUNCTION,
            semconv.GEN_AI_TOOL_CALL_ARGUMENTS: to_json(tool_input, max_chars),
            semconv.GEN_AI_TOOL_CALL_RESULT: to_json(tool_output, max_chars),
            semconv.COST_USD: estimated_cost,
        }
        # Optional arguments are usually absent: test for None before paying for a check.
        if reasoning is not None:
            attributes[semconv.REASONING] = content(check, "reasoning", reasoning, max_chars)
        if token_count is not None:
            attributes[semconv.TOKEN_COUNT] = check.integer("token_count", token_count)
        if tool_call_id is not None and (call_id := check.text("tool_call_id", tool_call_id)) is not None:
            attributes[semconv.GEN_AI_TOOL_CALL_ID] = cap_text(call_id, max_chars)
        linked = trace_id is not None or span_id is not None
        if linked:
            _link(check, attributes, trace_id, span_id)
        message = None
        if tool_error is not None:
            error = check.mapping("tool_error", tool_error) or {}
            attributes[semconv.TOOL_ERROR] = to_json(error, max_chars)
            kind = error.get("type")
            attributes[semconv.ERROR_TYPE_ATTRIBUTE] = (
                cap_text(kind, max_chars) if type(kind) is str else semconv.OTHER
            )
            message = safe_text(error.get("message", "tool failed"))
        if metadata is not None:
            attributes[semconv.METADATA] = to_json(check.mapping("metadata", metadata), max_chars)
        times: tuple[int | None, int | None] = (None, None)
        if started_at is not None or ended_at is not None or duration_ms is not None:
            times = tool_call_times(check, started_at, ended_at, duration_ms)
        span_name = semconv.tool_call_span_name(tool_name)
        recorded = self._record(check, session_id, span_name, attributes, message, times=times)
        return _with_linked_ids(recorded, attributes) if linked else recorded

    @public_call()
    def track_decision(
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
        """Record an agent decision of the session; returns at once with the event's ids."""
        return self._decision(
            session_id,
            reasoning,
            alternatives,
            confidence,
            estimated_cost,
            token_count,
            trace_id,
            span_id,
            metadata,
        )

    def _decision(
        self,
        session_id: Any,
        reasoning: Any,
        alternatives: Any,
        confidence: Any,
        estimated_cost: Any,
        token_count: Any,
        trace_id: Any,
        span_id: Any,
        metadata: Any,
    ) -> dict[str, Any] | None:
        """:meth:`track_decision` without its guard (Interaction's has its own), arguments by position."""
        check = self._check("track_decision")
        attributes = decision_attributes(
            check,
            self._max_chars,
            reasoning=reasoning,
            alternatives=alternatives,
            confidence=confidence,
            estimated_cost=estimated_cost,
            token_count=token_count,
            metadata=metadata,
        )
        linked = _link(check, attributes, trace_id, span_id)
        recorded = self._record(check, session_id, semconv.SPAN_NAME_DECISION, attributes)
        return _with_linked_ids(recorded, attributes) if linked else recorded

    @public_call()
    def track_error(
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
        linked = _link(check, attributes, trace_id, span_id)
        recorded = self._record(
            check, session_id, semconv.SPAN_NAME_ERROR, attributes, error=message, exception=exception
        )
        return _with_linked_ids(recorded, attributes) if linked else recorded


def _link(check: ArgumentChecker, attributes: dict[str, Any], trace_id: Any, span_id: Any) -> bool:
    """Add the caller's trace and span ids (for distributed tracing) that pass the check; whether
    any was given."""
    if trace_id is None and span_id is None:
        return False
    for attribute, name, given, digits in (
        (semconv.LINKED_TRACE_ID, "trace_id", trace_id, 32),
        (semconv.LINKED_SPAN_ID, "span_id", span_id, 16),
    ):
        if given is not None and (hex_id := check.hex_id(name, given, digits)) is not None:
            attributes[attribute] = hex_id
    return True


def _with_linked_ids(recorded: dict[str, Any] | None, attributes: dict[str, Any]) -> dict[str, Any] | None:
    """What ``_record`` returned, with the caller's ids where the event goes out with them."""
    if recorded is not None:
        recorded["traceId"] = attributes.get(semconv.LINKED_TRACE_ID, recorded["traceId"])
        recorded["spanId"] = attributes.get(semconv.LINKED_SPAN_ID, recorded["spanId"])
    return recorded
