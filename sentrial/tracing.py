"""The OpenTelemetry plumbing: which provider Sentrial uses and how spans reach each client's exporter.

One :class:`SessionRouter` is added to a provider once. For every span that starts it decides which
client's :class:`Delivery` the span belongs to (the client of the current session in the OTel
context, else the default client) and whether Sentrial wants it at all. Each client's
:class:`Delivery` is its own chain: a BatchSpanProcessor in front of a SentrialSpanExporter.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from sentrial import semconv
from sentrial._config import Settings

if TYPE_CHECKING:
    from sentrial_otel_exporter.exporter import SentrialSpanExporter

logger = logging.getLogger("sentrial")

_SESSION_KEY = otel_context.create_key("sentrial-session")


@dataclass(frozen=True)
class SessionRoute:
    """What the OTel context carries while a Sentrial session is current."""

    session_id: str
    delivery: Delivery


def current_route(ctx: otel_context.Context | None = None) -> SessionRoute | None:
    """The Sentrial session current in ``ctx`` (default: the current context), if any."""
    route = otel_context.get_value(_SESSION_KEY, ctx)
    return route if isinstance(route, SessionRoute) else None


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
    """One client's way out: batching in front of the Sentrial exporter."""

    def __init__(self, settings: Settings) -> None:
        # Imported here: the exporter package reads sentrial.semconv, which imports this package.
        from sentrial_otel_exporter.exporter import SentrialSpanExporter

        self.settings = settings
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
            self._batcher = BatchSpanProcessor(
                self.exporter,
                max_queue_size=settings.queue_size,
                schedule_delay_millis=settings.schedule_delay_ms,
                max_export_batch_size=settings.batch_size,
            )
        self._closed = False

    def session_started(self, span: Span) -> None:
        """Hand on the opening snapshot of a session span, ahead of all its events."""
        if self._batcher is not None and not self._closed:
            self._batcher.on_end(_session_snapshot(span))

    def span_ended(self, span: ReadableSpan) -> None:
        """Hand on a finished span."""
        if self._batcher is not None and not self._closed:
            self._batcher.on_end(span)

    def flush(self, timeout: float | None) -> bool:
        """Send everything handed on so far; True when all of it was delivered in time."""
        if self._batcher is None or self.exporter is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        self._batcher.force_flush()
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self.exporter.flush(remaining)

    def shutdown(self, timeout: float | None) -> bool:
        """Flush within ``timeout`` seconds, then stop; later spans are ignored."""
        if self._closed:
            return True
        delivered = self.flush(timeout)
        self._closed = True
        if self._batcher is not None:
            self._batcher.shutdown()  # type: ignore[no-untyped-call]
        return delivered


class SessionRouter(SpanProcessor):
    """Sends each span Sentrial cares about to the delivery of the client it belongs to."""

    def __init__(self) -> None:
        self.default: Delivery | None = None
        self._owner: dict[int, Delivery] = {}  # span id -> delivery, while the span runs

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        attributes = span.attributes or {}
        if semconv.SPAN_KIND not in attributes:
            return
        route = current_route(parent_context)
        delivery = route.delivery if route is not None else self.default
        if delivery is None:
            return
        self._owner[span.context.span_id] = delivery
        if attributes.get(semconv.SPAN_KIND) == semconv.KIND_SESSION:
            delivery.session_started(span)

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is None:
            return
        delivery = self._owner.pop(span.context.span_id, None)
        if delivery is not None:
            delivery.span_ended(span)

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
