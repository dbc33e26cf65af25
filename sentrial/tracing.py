"""The OpenTelemetry plumbing: which provider Sentrial uses and how spans reach each client's exporter.

One :class:`SessionRouter` is added to a provider once. For every span that starts it decides which
client's :class:`~sentrial.delivery.Delivery` the span belongs to (the client of the current
session in the OTel context, else the default client) and whether it goes there at all.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import weakref
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import SpanContext

from sentrial import semconv
from sentrial._trace_sessions import TraceSessions
from sentrial.delivery import Delivery, SharedExporters
from sentrial_otel_exporter.foreign import is_llm_span
from sentrial_otel_exporter.forks import renew_in_child
from sentrial_otel_exporter.spans import attributes_of

logger = logging.getLogger("sentrial")

_SESSION_KEY = otel_context.create_key("sentrial-session")
# What the router knows in advance of a span Sentrial starts itself: the Delivery of a tracked event
# (for_events), or the SessionRoute of a span that belongs to that session, a session's own span or
# an LLM call inside one (for_own_span). One key for all, so that every other span costs the router
# a single look-up.
KNOWN_KEY = otel_context.create_key("sentrial-known")


class SessionRoute:
    """What the OTel context carries while a Sentrial session is current.

    ``open`` turns False when the session is completed, so a context that still carries it (an
    interaction that was never finished by hand, a context copied into a thread) stops routing to it.
    """

    __slots__ = ("delivery", "open", "session_id")

    def __init__(self, session_id: str, delivery: Delivery) -> None:
        self.session_id = session_id
        self.delivery = delivery
        self.open = True


def current_route(ctx: otel_context.Context | None = None) -> SessionRoute | None:
    """The Sentrial session current in ``ctx`` (default: the current context), if it is still open."""
    # A Context is a dict: read directly (this runs for every span and every LLM call).
    route = (otel_context.get_current() if ctx is None else ctx).get(_SESSION_KEY)
    if isinstance(route, SessionRoute) and route.open and not route.delivery.closed:
        return route
    return None


def with_route(route: SessionRoute, ctx: otel_context.Context | None = None) -> otel_context.Context:
    """A context in which ``route`` is the current Sentrial session."""
    return otel_context.set_value(_SESSION_KEY, route, ctx)


def leave_context(token: object) -> bool:
    """Leave the context entered with ``token`` (``otel_context.attach``); False, quietly, when this
    is not the context it was entered in (a copy of it: another task's), where OTel logs an error."""
    try:
        if isinstance(token, contextvars.Token):
            token.var.reset(token)
        else:
            otel_context.detach(token)  # type: ignore[arg-type]
    except ValueError:
        return False
    except RuntimeError:
        pass  # already left
    return True


def for_events(delivery: Delivery, ctx: otel_context.Context) -> otel_context.Context:
    """The context in which Sentrial starts its own event spans of a session open in ``ctx``.

    The router hands such spans straight to ``delivery``: they are Sentrial's by construction, have
    the session's span as their parent (so never start a trace) and are never LLM calls. Nothing
    else starts in this context: the event spans end at once and are never made current.
    """
    return otel_context.set_value(KNOWN_KEY, delivery, ctx)


def for_own_span(route: SessionRoute, ctx: otel_context.Context) -> otel_context.Context:
    """The context in which Sentrial starts a span of its own that belongs to ``route``'s session (the
    session's span, in the context where ``route`` is current; an LLM call's, inside the session):
    the router then knows its session and delivery without looking at it. Only that span starts in
    it: the spans inside it start in ``ctx`` with the span.
    """
    return otel_context.set_value(KNOWN_KEY, route, ctx)


def _inside_llm_call(parent_context: otel_context.Context | None) -> bool:
    """True when the parent span is itself an LLM call: a provider SDK's own span inside ours (or a
    second instrumentation's) describes the same call and must not be counted twice."""
    parent_attributes = getattr(trace.get_current_span(parent_context), "attributes", None) or {}
    kind = parent_attributes.get(semconv.SPAN_KIND)
    return kind == semconv.KIND_LLM or (kind is None and is_llm_span(parent_attributes))


class SessionRouter(SpanProcessor):
    """Sends each span to the delivery of the client it belongs to.

    A span belongs to the client of the session current where it started, else to the default
    client. Sentrial takes its own spans; other exporters that Sentrial set up take every span.
    ``shared`` are the exporters every client on this provider feeds (see :func:`share_exporters`).
    """

    def __init__(self) -> None:
        self.default: Delivery | None = None
        self.shared: SharedExporters | None = None
        self._owner: dict[int, Delivery] = {}  # span id -> its delivery, while the span runs
        # The same for tracked events (see for_events), by the identity of the span's context, which the
        # span that ends shares with the one that started (its id would cost two Python properties at
        # either end); the context is kept with the delivery, so that its identity stays its own.
        self._event_owner: dict[int, tuple[SpanContext | None, Delivery]] = {}
        self._traces = TraceSessions()

    # on_start/on_end run for every span of the process: the common cases are kept to a few lookups.
    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if parent_context is not None:
            known: Any = parent_context.get(KNOWN_KEY)  # a Context is a dict
            if type(known) is SessionRoute:  # a span of a session, Sentrial's own (see for_own_span)
                if not known.delivery.closed:  # else routed as any span (to the default)
                    self._own_span_started(span, known.delivery)
                    return
            elif known is not None:  # a tracked event's delivery (see for_events): nothing to decide
                ids = span._context
                self._event_owner[id(ids)] = (ids, known)
                return
        ids = span.context
        attributes = attributes_of(span)
        parent = span.parent
        if parent is None or parent.is_remote:
            self._traces.root_started(span, ids)
        route = current_route(parent_context)
        delivery: Delivery | None
        if route is not None:
            delivery = route.delivery
        else:  # outside every session: the client of the experiment run of this trace, else the default
            root = self._traces.roots.get(ids.trace_id)
            delivery = root.delivery if root is not None and root.delivery is not None else self.default
        if delivery is None:
            return
        kind = attributes.get(semconv.SPAN_KIND)
        genai = kind == semconv.KIND_LLM or (
            kind is None and is_llm_span(attributes) and not _inside_llm_call(parent_context)
        )
        for_sentrial = kind is not None or genai
        if not for_sentrial and not delivery.takes_every_span:
            return
        if genai and semconv.SESSION_ID not in attributes:
            if route is not None:
                span.set_attribute(semconv.SESSION_ID, route.session_id)
            else:  # an LLM call outside every session: it joins its trace's session
                session_id, opening = self._traces.open_for(span, delivery)
                span.set_attribute(semconv.SESSION_ID, session_id)
                if opening is not None:
                    delivery.hand_on(opening)
        self._owner[ids.span_id] = delivery
        if kind == semconv.KIND_SESSION:
            delivery.session_started(span)

    def _own_span_started(self, span: Span, delivery: Delivery) -> None:
        """on_start for a span of a session that Sentrial starts itself (see :func:`for_own_span`): it
        is for Sentrial, and its delivery is known. A session's span is handed on as it opens by the
        registry that opens it (see ``SessionRegistry.start``)."""
        ids = span.context
        parent = span.parent
        if parent is None or parent.is_remote:
            self._traces.root_started(span, ids)
        self._owner[ids.span_id] = delivery

    def on_end(self, span: ReadableSpan) -> None:
        event = self._event_owner.pop(id(span._context), None)
        if event is not None:  # a tracked event: never a trace's root
            event[1].hand_on(span)
            return
        ids = span.context
        if ids is None:
            return
        delivery = self._owner.pop(ids.span_id, None)
        if delivery is not None:
            delivery.hand_on(span)
        self._traces.root_ended(span, ids)

    def run_started(self, span: Span, run: Any, delivery: Delivery) -> None:
        """Note an experiment run's span (started in the events' context, see :func:`for_events`) as
        its trace's root when it starts a trace here: see ``TraceSessions.run_started``."""
        parent = span.parent
        if parent is None or parent.is_remote:
            self._traces.run_started(span, span.context, run, delivery)

    def run_ended(self, span: ReadableSpan) -> None:
        """Complete the session of an experiment run's trace, if LLM calls in the run opened one."""
        self._traces.root_ended(span, span.context)

    def shutdown(self) -> None:
        # Each client shuts its own delivery down; spans still ending afterwards are routed as before.
        # The shared exporters end with the provider (its exit hook runs after the clients' one).
        if self.shared is not None:
            self.shared.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_routers: weakref.WeakKeyDictionary[TracerProvider, SessionRouter] = weakref.WeakKeyDictionary()
_setup_lock = threading.Lock()
renew_in_child(globals(), "_setup_lock")


def resolve_provider(explicit: Any = None) -> TracerProvider:
    """The SDK TracerProvider Sentrial records on, with its router added exactly once.

    ``explicit`` wins; else the app's global provider when it is the OTel SDK's; else a new
    provider that becomes the global one (or stays private when a foreign provider is global).
    """
    with _setup_lock:
        provider = explicit if explicit is not None else trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            if explicit is not None:
                raise TypeError(
                    f"tracer_provider must be an opentelemetry.sdk.trace.TracerProvider, "
                    f"got {type(explicit).__name__}"
                )
            own = TracerProvider(resource=Resource.create({}))
            if isinstance(provider, trace.ProxyTracerProvider):
                trace.set_tracer_provider(own)
            else:
                logger.warning(
                    "sentrial: the global tracer provider is a %s, not the OpenTelemetry SDK's; "
                    "Sentrial records on a provider of its own",
                    type(provider).__name__,
                )
            provider = own
        if provider not in _routers:
            router = SessionRouter()
            provider.add_span_processor(router)
            _routers[provider] = router
        return provider


def router_of(provider: TracerProvider) -> SessionRouter:
    """The router that :func:`resolve_provider` added to ``provider``."""
    return _routers[provider]


def share_exporters(provider: TracerProvider, exporters: list[SpanExporter]) -> None:
    """Make ``exporters`` receive the spans of every client that records on ``provider``, each span
    once (``opentelemetry-instrument`` does this with the exporters ``OTEL_TRACES_EXPORTER`` names).
    Called once, before the clients: those made afterwards feed them."""
    router_of(resolve_provider(provider)).shared = SharedExporters(exporters)
