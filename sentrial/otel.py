"""Send an existing OpenTelemetry setup's LLM spans to Sentrial, as the published package's names do.

``SentrialSpanProcessor`` is a span processor over this SDK's exporter: the LLM spans of a trace
become one session (see :mod:`sentrial._trace_sessions`), sent in the background.
``setup_otel_tracing()`` installs one on a new global tracer provider.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from sentrial._guard import guard
from sentrial_otel_exporter import SentrialSpanExporter

__all__ = ["SentrialSpanProcessor", "setup_otel_tracing"]


class SentrialSpanProcessor(SpanProcessor):
    """Hands ended spans to a Sentrial exporter in batches; add it to any ``TracerProvider``.

    ``custom_filter(span)`` may return False to leave a span out (True or None keeps it). The
    exporter turns LLM spans into events and leaves other spans out, so ``filter_ai_spans`` is
    kept for compatibility only; ``project`` and ``user_id_attribute`` are kept as attributes (the
    session's agent is ``SENTRIAL_AGENT_NAME`` or the resource's ``service.name``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        api_url: str | None = None,
        project: str | None = None,
        filter_ai_spans: bool = True,
        custom_filter: Callable[[Any], bool | None] | None = None,
        user_id_attribute: str = "user.id",
    ) -> None:
        self.project = project
        self.filter_ai_spans = filter_ai_spans
        self.custom_filter = custom_filter
        self.user_id_attribute = user_id_attribute
        self.exporter = SentrialSpanExporter(api_key=api_key, api_url=api_url)
        self._batches = BatchSpanProcessor(self.exporter)

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        """Nothing to do when a span starts."""

    def on_end(self, span: ReadableSpan) -> None:
        """Queue the ended span for export unless ``custom_filter`` leaves it out."""
        if self.custom_filter is not None:
            with guard("otel.custom_filter", "custom_filter raised; the span is kept"):
                if self.custom_filter(span) is False:
                    return
        self._batches.on_end(span)

    def shutdown(self) -> None:
        """Export what is queued and stop."""
        self._batches.shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export what is queued and wait for it to be sent; False if that took too long."""
        return self._batches.force_flush(timeout_millis) and self.exporter.force_flush(timeout_millis)


def setup_otel_tracing(
    project: str | None = None, api_key: str | None = None, filter_ai_spans: bool = True
) -> None:
    """Make a ``TracerProvider`` with a ``SentrialSpanProcessor`` the global one."""
    provider = TracerProvider()
    provider.add_span_processor(
        SentrialSpanProcessor(project=project, api_key=api_key, filter_ai_spans=filter_ai_spans)
    )
    trace.set_tracer_provider(provider)
