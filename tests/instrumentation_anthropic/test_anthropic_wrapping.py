"""Wrapping and instrumenting Anthropic clients: one span per call however the two combine, copies
and async clients, undoing, and sessions end to end on the local Sessions API server."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import anthropic
import pytest
from anthropic.resources.messages import AsyncMessages, Messages
from anthropic_support import (
    ANSWER,
    BASE_COST,
    REQUEST_MODEL,
    SYSTEM,
    async_client,
    attrs,
    base_attributes,
    create_kwargs,
    llm_spans,
    sync_client,
)
from fake_anthropic import MODEL, FakeAnthropic, Reply
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sentrial.client import SentrialClient
from sentrial.instrumentation._base import TRACER_NAME, wrap_instance
from sentrial.instrumentation._llm import set_capture_content
from sentrial.instrumentation.anthropic import PATCHES, AnthropicInstrumentor
from sentrial.pricing import calculate_provider_cost as calculate_cost
from sentrial.server import LocalServer
from sentrial.wrappers import wrap_anthropic


def test_wrapping_twice_and_instrument_plus_wrap_give_one_span(
    fake: FakeAnthropic, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer(TRACER_NAME)
    client = sync_client(fake)
    assert wrap_instance(client, PATCHES, tracer) == 6  # create, parse, stream; messages and beta
    assert wrap_instance(client, PATCHES, tracer) == 6  # create, parse, stream; messages and beta
    assert wrap_anthropic(client) is client  # already wrapped: nothing more
    client.messages.create(**create_kwargs())
    with client.messages.stream(**create_kwargs()) as stream:
        stream.until_done()
    assert len(llm_spans(exporter)) == 2

    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        list(client.messages.create(**create_kwargs(stream=True)))
        with client.messages.stream(**create_kwargs()) as stream:
            stream.until_done()
        client.beta.messages.create(**create_kwargs())
    finally:
        instrumentor.uninstrument()
    assert len(llm_spans(exporter)) == 5


def test_a_copy_of_a_wrapped_client_is_wrapped_too(
    fake: FakeAnthropic, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client = sync_client(fake)
    wrap_instance(client, PATCHES, provider.get_tracer(TRACER_NAME))
    client.with_options(timeout=30.0).messages.create(**create_kwargs())
    client.copy(max_retries=0).messages.create(**create_kwargs())
    assert len(llm_spans(exporter)) == 2


def test_wrap_async_client(
    fake: FakeAnthropic, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client = async_client(fake)
    assert wrap_instance(client, PATCHES, provider.get_tracer(TRACER_NAME)) == 6

    async def run() -> str:
        await client.messages.create(**create_kwargs())
        async with client.messages.stream(**create_kwargs()) as stream:
            return await stream.get_final_text()

    assert asyncio.run(run()) == ANSWER
    assert [attrs(s) for s in llm_spans(exporter)] == [base_attributes(), base_attributes(stream=True)]


def test_uninstrument_restores_the_original_methods(provider: TracerProvider) -> None:
    owners = [Messages, AsyncMessages, anthropic.resources.beta.messages.Messages]
    originals = {
        (owner, name): owner.__dict__[name] for owner in owners for name in ("create", "stream", "parse")
    }
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        assert all(owner.__dict__[name] is not original for (owner, name), original in originals.items())
    finally:
        instrumentor.uninstrument()
    assert all(owner.__dict__[name] is original for (owner, name), original in originals.items())


# --- end to end -----------------------------------------------------------------------------
def _llm_events(server: LocalServer, session_id: str) -> list[dict[str, Any]]:
    session = server.session(session_id)
    assert session is not None
    return [e for e in session["events"] if str(e.get("toolName", "")).startswith("llm:")]


def test_end_to_end_to_the_local_server(
    fake: FakeAnthropic,
    local_server: LocalServer,
    provider: TracerProvider,
    instrumented: InMemorySpanExporter,
) -> None:
    sentrial = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=provider)
    try:
        client = sync_client(fake)
        interaction = sentrial.begin(user_id="user-1", event="weather", input="weather?")
        client.messages.create(**create_kwargs(system=SYSTEM))
        fake.reply = Reply(usage={"input_tokens": 40, "output_tokens": 10, "cache_read_input_tokens": 500})
        list(client.messages.create(**create_kwargs(stream=True)))
        fake.reply = Reply(text="Sunny.", usage={"input_tokens": 5, "output_tokens": 3})
        with client.messages.stream(**create_kwargs()) as stream:
            stream.until_done()
        interaction.finish(output="done")
        assert sentrial.flush(timeout=5)
    finally:
        sentrial.shutdown()

    assert interaction.session_id is not None
    first, second, third = _llm_events(local_server, interaction.session_id)
    assert first["toolName"] == f"llm:anthropic:{REQUEST_MODEL}"
    assert first["toolInput"] == {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "What is the weather in Paris?"},
        ],
        "model": REQUEST_MODEL,
        "provider": "anthropic",
    }
    assert first["toolOutput"] == {
        "content": ANSWER,
        "tokens": {"prompt": 12, "completion": 7, "total": 19},
        "cost_usd": BASE_COST,
    }
    assert (first["estimatedCost"], first["tokenCount"]) == (BASE_COST, 19)
    second_cost = calculate_cost("anthropic", MODEL, 40, 10, cached_input_tokens=500)
    assert second["toolOutput"]["tokens"] == {"prompt": 540, "completion": 10, "total": 550}
    assert second["estimatedCost"] == second_cost
    third_cost = calculate_cost("anthropic", MODEL, 5, 3)
    assert third["toolOutput"]["content"] == "Sunny." and third["estimatedCost"] == third_cost

    session = local_server.session(interaction.session_id)
    assert session is not None
    assert (session["promptTokens"], session["completionTokens"], session["totalTokens"]) == (557, 20, 577)
    assert session["estimatedCost"] == pytest.approx(BASE_COST + second_cost + third_cost)  # type: ignore[operator]


def test_end_to_end_without_content(
    fake: FakeAnthropic,
    local_server: LocalServer,
    provider: TracerProvider,
    instrumented: InMemorySpanExporter,
) -> None:
    set_capture_content(False)
    sentrial = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=provider)
    try:
        with sentrial.begin(user_id="user-1", event="weather") as interaction:
            sync_client(fake).messages.create(**create_kwargs(system=SYSTEM))
        assert sentrial.flush(timeout=5)
    finally:
        sentrial.shutdown()

    assert interaction.session_id is not None
    (event,) = _llm_events(local_server, interaction.session_id)
    assert event["toolInput"] == {"model": REQUEST_MODEL, "provider": "anthropic"}
    assert event["toolOutput"]["content"] is None
    assert "Paris" not in json.dumps(event) and "friend" not in json.dumps(event)


def test_the_sdks_own_spans_are_not_counted_twice(
    fake: FakeAnthropic,
    local_server: LocalServer,
    provider: TracerProvider,
    instrumented: InMemorySpanExporter,
) -> None:
    if "open_telemetry" not in inspect.signature(anthropic.Anthropic).parameters:
        pytest.skip("this SDK has no spans of its own: nothing to count twice")
    sentrial = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=provider)
    try:
        client = sync_client(fake, open_telemetry={"tracer_provider": provider})
        with sentrial.begin(user_id="user-1", event="weather") as interaction:
            client.messages.create(**create_kwargs())
        assert sentrial.flush(timeout=5)
    finally:
        sentrial.shutdown()

    assert interaction.session_id is not None
    events = _llm_events(local_server, interaction.session_id)
    assert len(events) == 1
