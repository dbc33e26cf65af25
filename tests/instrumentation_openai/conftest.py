"""Fixtures of the OpenAI instrumentation tests: the fake OpenAI endpoint, a client of it, and the
instrumentor applied to a fresh provider."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from fake_openai import FakeOpenAI
from openai_support import Traced

from sentrial.instrumentation._llm import set_capture_content
from sentrial.instrumentation.openai import OpenAIInstrumentor, set_include_stream_usage


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def traced() -> Iterator[Traced]:
    """The OpenAI instrumentor applied to a fresh provider, and always undone afterwards."""
    traced = Traced()
    instrumentor = OpenAIInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:  # left applied by code outside this file
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=traced.provider)
    try:
        yield traced
    finally:
        instrumentor.uninstrument()
        set_include_stream_usage(False)
        set_capture_content(None)
        traced.provider.shutdown()


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake.url, api_key="test-key", max_retries=0) as sync_client:
        yield sync_client
