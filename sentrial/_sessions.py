"""The sessions one client has open, and the ids of those it completed lately.

A session is a span that stays open until it is completed. The registry starts that span, keeps
it (with the contexts the session's own spans and events are made in) until ``complete``, and
remembers the last completed ids so that a second completion is told apart from a session opened
elsewhere. Its lock guards the open sessions, that memory and the ``closed`` flag.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode, Tracer

from sentrial import semconv
from sentrial._span_attributes import own_spans, set_span_attributes
from sentrial._values import to_json
from sentrial.context import current_run
from sentrial.delivery import Delivery
from sentrial.tracing import SessionRoute, current_route, for_events, for_own_span, with_route

if TYPE_CHECKING:
    from sentrial._interaction import Interaction

logger = logging.getLogger("sentrial")

RECENTLY_COMPLETED = 10_000
"""How many completed session ids a client remembers."""


@dataclass
class OpenSession:
    """A session span not completed yet, with what the spans made inside it need."""

    span: trace.Span
    route: SessionRoute
    context: otel_context.Context  # the session span and its route, for the spans made inside it
    events_context: otel_context.Context  # the same, for the session's tracked events (see for_events)
    trace_hex: str  # the session's trace id, as the API writes it
    interaction: Interaction | None = None  # set by begin()
    error_type: str | None = None  # the class of the exception that ended it, if one did
    pid: int = field(default_factory=os.getpid)  # the process that opened it (and completes it at exit)
    # What this client knows of the session's state: begin()'s input and the update_state() keys
    # (the exporter adds the tool results; see sentrial_otel_exporter.state).
    state: dict[str, Any] = field(default_factory=dict)


class SessionRegistry:
    """The open sessions of one client (``open``, by id) and the memory of its completed ones.

    ``warn_unsampled`` says whether a session the provider's sampler drops is worth a warning
    (not for a client that records nothing).
    """

    def __init__(self, tracer: Tracer, delivery: Delivery, *, warn_unsampled: bool) -> None:
        self.open: dict[str, OpenSession] = {}
        self.lock = threading.Lock()
        self.closed = False
        self._completed: OrderedDict[str, None] = OrderedDict()
        self._tracer = tracer
        self.own_spans = own_spans(tracer)  # starts the sessions' spans and their events'
        self._delivery = delivery
        self._warn_unsampled = warn_unsampled  # said once per client (see _warn_sampled_out)

    def start(
        self, session_id: str, agent_name: str, attributes: dict[str, Any], parent_session_id: str | None
    ) -> OpenSession:
        """Start the span of a new session (inside its parent's, when that one is open here; else
        inside the current span, e.g. an experiment run's, whose attributes it then carries too)."""
        run = current_run()
        if run is not None:
            run.session_begun(session_id, attributes, parent_session_id)
        parent = self.open.get(parent_session_id) if parent_session_id else None
        parent_context = parent.context if parent is not None else None
        route = SessionRoute(session_id, self._delivery)
        routed = with_route(route, parent_context)
        name, opening = semconv.session_span_name(agent_name), for_own_span(route, routed)
        if self._delivery.closed:  # routed as any span (to the default client), by its attributes
            span = self._tracer.start_span(name, opening, attributes=attributes)
        else:
            span = self.own_spans.start(name, opening, attributes)
            if span.is_recording():
                # Its opening, ahead of all its events, from the span with its attributes (the router
                # saw it start, maybe without them).
                self._delivery.session_started(span)  # type: ignore[arg-type]
        if self._warn_unsampled and not span.is_recording():
            self._warn_unsampled = False
            _warn_sampled_out(session_id)
        context = trace.set_span_in_context(span, routed)
        opened = OpenSession(
            span,
            route,
            context,
            for_events(self._delivery, context),
            semconv.trace_hex(span.get_span_context().trace_id),
        )
        with self.lock:
            self.open[session_id] = opened
        return opened

    def complete(self, session_id: str, attributes: dict[str, Any]) -> bool:
        """End the session's span with ``attributes`` (an error status when they say it failed);
        False, and nothing done, when it was completed already."""
        with self.lock:
            open_session = self.open.pop(session_id, None)
            already = open_session is None and session_id in self._completed
            if not already:
                self._completed[session_id] = None
                if len(self._completed) > RECENTLY_COMPLETED:
                    self._completed.popitem(last=False)
        if already:
            return False
        if open_session is None:
            span = self._external_session_span(session_id)
        else:
            span = open_session.span
            open_session.route.open = False
        set_span_attributes(span, attributes)
        if not attributes[semconv.SUCCESS]:
            failure = open_session.error_type if open_session is not None else None
            span.set_attribute(semconv.ERROR_TYPE_ATTRIBUTE, failure or semconv.OTHER)
            span.set_status(Status(StatusCode.ERROR, attributes.get(semconv.FAILURE_REASON)))
        span.end()
        return True

    def _external_session_span(self, session_id: str) -> trace.Span:
        """A span that completes a session this client did not open (its id passes through)."""
        return self._tracer.start_span(
            semconv.session_span_name("external"),
            context=with_route(SessionRoute(session_id, self._delivery)),
            attributes={
                semconv.SPAN_KIND: semconv.KIND_SESSION,
                semconv.SESSION_ID: session_id,
                semconv.SESSION_EXTERNAL: True,
            },
        )

    def close(self) -> tuple[bool, list[tuple[str, OpenSession]]]:
        """Mark the registry closed; whether it was already, and (if not) the sessions this process
        opened that are still open. In a forked child, the parent's sessions are the parent's."""
        with self.lock:
            already, self.closed = self.closed, True
            pid = os.getpid()
            unfinished = [(sid, each) for sid, each in self.open.items() if each.pid == pid and not already]
        return already, unfinished

    def for_state(self) -> OpenSession | None:
        """The session ``update_state`` and ``current_state`` mean: the one current here when it is
        open in this registry, else the one opened last that is still open."""
        route = current_route()
        if route is not None:
            found = self.open.get(route.session_id)
            if found is not None:
                return found
        with self.lock:
            return next(reversed(self.open.values()), None)

    def set_state(self, values: dict[str, Any], max_chars: int, replace: bool = False) -> bool:
        """Set keys of the state of the session :meth:`for_state` gives (all of it, with
        ``replace``), and send them as a state span; False when no session is open."""
        target = self.for_state()
        if target is None:
            return False
        if replace:
            target.state = dict(values)
        else:
            target.state.update(values)
        attributes: dict[str, Any] = {
            semconv.SPAN_KIND: semconv.KIND_STATE,
            semconv.SESSION_ID: target.route.session_id,
            semconv.STATE_UPDATE: to_json(values, max_chars),
        }
        if replace:
            attributes[semconv.STATE_REPLACE] = True
        self.own_spans.start(semconv.SPAN_NAME_STATE, target.events_context, attributes).end()
        return True

    def record_exception(self, session_id: str | None, exc: BaseException) -> None:
        """Add the standard exception event to an open session span. Never raises: it runs while
        the app's own exception propagates, which must stay the one the app sees."""
        open_session = self.open.get(session_id) if session_id else None
        if open_session is not None:
            open_session.error_type = type(exc).__qualname__
            try:
                open_session.span.record_exception(exc)
            except Exception:  # e.g. the exception's __str__ raises
                kind = type(exc).__name__
                logger.warning("sentrial: could not record the %s exception", kind, exc_info=True)

    def start_over_in_child(self) -> None:
        """A lock of its own in a forked child: a parent thread may have held this one at the fork,
        for good in the child."""
        self.lock = threading.Lock()


def _warn_sampled_out(session_id: str) -> None:
    """Say that the provider's sampler drops sessions: none of them is recorded."""
    logger.warning(
        "sentrial: the tracer provider's sampler did not sample session %s, so it is not recorded "
        "(nor is any other session it does not sample: an unsampled traceparent, a ratio sampler); "
        "sample every trace Sentrial records, e.g. TracerProvider(sampler=ALWAYS_ON)",
        session_id,
    )
