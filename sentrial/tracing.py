"""The OpenTelemetry plumbing: which provider Sentrial uses and how spans reach each client's exporter.

One :class:`SessionRouter` is added to a provider once. For every span that starts it decides which
client's :class:`Delivery` the span belongs to (the client of the current session in the OTel
context, else the default client) and whether Sentrial wants it at all. Each client's
:class:`Delivery` is its own chain: redaction, then a BatchSpanProcessor in front of a
SentrialSpanExporter, and one in front of each other exporter Sentrial set up.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from sentrial import semconv
from sentrial._config import Settings
from sentrial._trace_sessions import TraceSessions
from sentrial.redact import Redactor

if TYPE_CHECKING:
    from sentrial_otel_exporter.exporter import SentrialSpanExporter

logger = logging.getLogger("sentrial")

_SESSION_KEY = otel_context.create_key("sentrial-session")


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
    route = otel_context.get_value(_SESSION_KEY, ctx)
    if isinstance(route, SessionRoute) and route.open and not route.delivery.closed:
        return route
    return None


def with_route(route: SessionRoute, ctx: otel_context.Context | None = None) -> otel_context.Context:
    """A context in which ``route`` is the current Sentrial session."""
    return otel_context.set_value(_SESSION_KEY, route, ctx)


def _session_snapshot(span: Span) -> ReadableSpan:
    """A frozen copy of a session span as it starts: the exporter opens the session from it."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=dict(span.attributes or {}),
        kind=span.kind,
        start_time=span.start_time,
        end_time=None,
        instrumentation_scope=span.instrumentation_scope,
    )


class Delivery:
    """One client's way out: redaction, then batching in front of the Sentrial exporter, and the
    other exporters Sentrial set up next to it.

    Redaction runs once per span; its copy goes to every exporter behind it. ``redactor`` may be
    swapped at any time (``pii=True`` swaps in the server's settings when they arrive).
    """

    def __init__(
        self,
        settings: Settings,
        redactor: Redactor | None = None,
        additional_exporters: Sequence[SpanExporter] = (),
    ) -> None:
        # Imported here: the exporter package reads sentrial.semconv, which imports this package.
        from sentrial_otel_exporter.exporter import SentrialSpanExporter

        self.settings = settings
        self.redactor = redactor
        self.exporter: SentrialSpanExporter | None = None
        self._batcher: BatchSpanProcessor | None = None
        if settings.can_send:
            self.exporter = SentrialSpanExporter(
                api_key=settings.api_key,
                api_url=settings.api_url,
                timeout=settings.timeout,
                retry_timeout=settings.retry_timeout,
                max_pending=max(settings.queue_size, 1000),
            )
            self._batcher = self._batch(self.exporter)
        self._others = [self._batch(exporter) for exporter in additional_exporters]
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether this delivery was shut down."""
        return self._closed

    @property
    def takes_every_span(self) -> bool:
        """Whether other exporters want every span, not only Sentrial's."""
        return bool(self._others)

    def _batch(self, exporter: SpanExporter) -> BatchSpanProcessor:
        return BatchSpanProcessor(
            exporter,
            max_queue_size=self.settings.queue_size,
            schedule_delay_millis=self.settings.schedule_delay_ms,
            max_export_batch_size=self.settings.batch_size,
        )

    def _redacted(self, span: ReadableSpan) -> ReadableSpan:
        redactor = self.redactor
        return span if redactor is None else redactor.redact_span(span)

    def session_started(self, span: Span) -> None:
        """Hand on the opening snapshot of a session span, ahead of all its events."""
        self.session_opened(_session_snapshot(span))

    def session_opened(self, opening: ReadableSpan) -> None:
        """Hand on a session's opening (a session span without an end), ahead of all its events."""
        self.to_sentrial_only(opening)

    def to_sentrial_only(self, span: ReadableSpan) -> None:
        """Hand on a span made up for Sentrial (an opening, a trace session's end), not to other exporters."""
        if self._batcher is not None and not self._closed:
            self._batcher.on_end(self._redacted(span))

    def span_ended(self, span: ReadableSpan, for_sentrial: bool) -> None:
        """Hand on a finished span: to Sentrial when it is one of its spans, to the others always."""
        if self._closed:
            return
        redacted = self._redacted(span)
        if for_sentrial and self._batcher is not None:
            self._batcher.on_end(redacted)
        for other in self._others:
            other.on_end(redacted)

    def flush(self, timeout: float | None) -> bool:
        """Send everything handed on so far; True when all of it was delivered in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delivered = True
        for other in self._others:
            delivered = other.force_flush() and delivered
        if self._batcher is None or self.exporter is None:
            return delivered
        self._batcher.force_flush()
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self.exporter.flush(remaining) and delivered

    def shutdown(self, timeout: float | None) -> bool:
        """Flush within ``timeout`` seconds, then stop; later spans are ignored."""
        if self._closed:
            return True
        delivered = self.flush(timeout)
        self._closed = True
        for processor in [*self._others, self._batcher]:
            if processor is not None:
                processor.shutdown()  # type: ignore[no-untyped-call]
        return delivered


def is_genai(attributes: Any) -> bool:
    """True for a span of an LLM call made by any instrumentation following the GenAI conventions."""
    return semconv.GEN_AI_OPERATION_NAME in attributes or semconv.GEN_AI_SYSTEM in attributes


def _inside_llm_call(parent_context: otel_context.Context | None) -> bool:
    """True when the parent span is itself an LLM call: a provider SDK's own span inside ours (or a
    second instrumentation's) describes the same call and must not be counted twice."""
    parent_attributes = getattr(trace.get_current_span(parent_context), "attributes", None) or {}
    kind = parent_attributes.get(semconv.SPAN_KIND)
    return kind == semconv.KIND_LLM or (kind is None and is_genai(parent_attributes))


class SessionRouter(SpanProcessor):
    """Sends each span to the delivery of the client it belongs to.

    A span belongs to the client of the session current where it started, else to the default
    client. Sentrial takes its own spans; other exporters that Sentrial set up take every span.
    """

    def __init__(self) -> None:
        self.default: Delivery | None = None
        self._owner: dict[int, tuple[Delivery, bool]] = {}  # span id -> (delivery, for Sentrial)
        self._traces = TraceSessions()

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        attributes = span.attributes or {}
        self._traces.root_started(span)
        route = current_route(parent_context)
        delivery = route.delivery if route is not None else self.default
        if delivery is None:
            return
        kind = attributes.get(semconv.SPAN_KIND)
        genai = kind == semconv.KIND_LLM or (
            kind is None and is_genai(attributes) and not _inside_llm_call(parent_context)
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
                    delivery.session_opened(opening)
        self._owner[span.context.span_id] = (delivery, for_sentrial)
        if for_sentrial and attributes.get(semconv.SPAN_KIND) == semconv.KIND_SESSION:
            delivery.session_started(span)

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is None:
            return
        owner = self._owner.pop(span.context.span_id, None)
        if owner is not None:
            owner[0].span_ended(span, owner[1])
        trace_session = self._traces.root_ended(span)
        if trace_session is not None:
            delivery, completion = trace_session
            delivery.to_sentrial_only(completion)

    def shutdown(self) -> None:
        # Each client shuts its own delivery down; spans still ending afterwards are routed as before.
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


_routers: weakref.WeakKeyDictionary[TracerProvider, SessionRouter] = weakref.WeakKeyDictionary()
_setup_lock = threading.Lock()


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
