"""Fixtures of the Google Gemini instrumentation tests: the fake Gemini API, a fresh provider with
an in-memory exporter, the instrumentor applied to it, and the clients closed at the end.

Every test gets its own TracerProvider; instrumentors are always undone in teardown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_google import FakeGemini
from google_support import _clients
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sentrial import SentrialClient
from sentrial.instrumentation._llm import set_capture_content
from sentrial.instrumentation.google_genai import GoogleGenAIInstrumentor
from sentrial.server import LocalServer


# --- fixtures and helpers -----------------------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    """The fake Gemini API."""
    server = FakeGemini().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """A fresh TracerProvider with an in-memory exporter (``provider.exporter``)."""
    tracer_provider = TracerProvider()
    exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer_provider.exporter = exporter  # type: ignore[attr-defined]
    try:
        yield tracer_provider
    finally:
        tracer_provider.shutdown()


@pytest.fixture
def instrumented(provider: TracerProvider) -> Iterator[GoogleGenAIInstrumentor]:
    """google-genai instrumented on ``provider``; undone afterwards."""
    instrumentor = GoogleGenAIInstrumentor()
    assert not instrumentor.is_instrumented_by_opentelemetry, "another test left google-genai instrumented"
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield instrumentor
    finally:
        instrumentor.uninstrument()


@pytest.fixture
def capture_off() -> Iterator[None]:
    """Message capture switched off for the test."""
    set_capture_content(False)
    try:
        yield
    finally:
        set_capture_content(None)


@pytest.fixture
def sentrial_client(local_server: LocalServer, provider: TracerProvider) -> Iterator[SentrialClient]:
    """A SentrialClient delivering ``provider``'s spans to the local server."""
    client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=provider)
    try:
        yield client
    finally:
        client.shutdown(timeout=5)


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Keep the test's google-genai clients alive until it ends (a collected Client closes its
    connections, even while ``client.models`` is still in use), then close them."""
    try:
        yield
    finally:
        while _clients:
            _clients.pop().close()
