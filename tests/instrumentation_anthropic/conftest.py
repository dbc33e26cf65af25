"""Fixtures of the Anthropic instrumentation tests: the fake Messages API, a provider whose spans
are kept in memory, and the instrumentor applied to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_anthropic import FakeAnthropic
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sentrial.instrumentation._llm import set_capture_content
from sentrial.instrumentation.anthropic import AnthropicInstrumentor


# --- fixtures ---------------------------------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def provider() -> TracerProvider:
    return TracerProvider()


@pytest.fixture
def exporter(provider: TracerProvider) -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


@pytest.fixture
def instrumented(provider: TracerProvider, exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        assert instrumentor.is_instrumented_by_opentelemetry
        yield exporter
    finally:
        instrumentor.uninstrument()


@pytest.fixture(autouse=True)
def _capture_on() -> Iterator[None]:
    set_capture_content(True)
    try:
        yield
    finally:
        set_capture_content(None)
