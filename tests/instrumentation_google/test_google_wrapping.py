"""Wrapping and instrumenting google-genai clients: one span per call however the two combine,
undoing, and sessions end to end on the local Sessions API server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fake_google import FakeGemini
from google import genai
from google.genai import models as genai_models
from google_support import ANSWER, CONFIG, MODEL, SERVED_MODEL, attrs, default_cost, gemini, llm_spans
from opentelemetry.sdk.trace import TracerProvider

from sentrial import SentrialClient, pricing
from sentrial import semconv as sc
from sentrial.instrumentation._base import wrap_instance
from sentrial.instrumentation.google_genai import PATCHES, GoogleGenAIInstrumentor
from sentrial.server import LocalServer
from sentrial.wrappers import wrap_google, wrap_llm

METHODS = [
    ("Models", "generate_content"),
    ("Models", "generate_content_stream"),
    ("AsyncModels", "generate_content"),
    ("AsyncModels", "generate_content_stream"),
]


def run_all_four(client: genai.Client) -> None:
    """One call of each patched method."""
    client.models.generate_content(model=MODEL, contents="Hi")
    list(client.models.generate_content_stream(model=MODEL, contents="Hi"))

    async def calls() -> None:
        await client.aio.models.generate_content(model=MODEL, contents="Hi")
        async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents="Hi"):
            pass

    asyncio.run(calls())


def test_wrap_twice_gives_one_span_per_call(fake: FakeGemini, provider: TracerProvider) -> None:
    client = gemini(fake)
    tracer = provider.get_tracer("test")

    assert wrap_instance(client, PATCHES, tracer) == 4
    assert wrap_instance(client, PATCHES, tracer) == 4
    run_all_four(client)

    spans = llm_spans(provider)
    assert [attrs(s).get(sc.GEN_AI_REQUEST_STREAM, False) for s in spans] == [False, True, False, True]
    assert all(attrs(s)[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5 for s in spans)


def test_instrument_and_wrap_give_one_span_per_call(
    fake: FakeGemini, provider: TracerProvider, instrumented: Any
) -> None:
    client = gemini(fake)
    assert wrap_instance(client, PATCHES, provider.get_tracer("test")) == 4

    run_all_four(client)

    assert len(llm_spans(provider)) == 4


def test_wrap_google_and_wrap_llm(fake: FakeGemini) -> None:
    client = gemini(fake)
    assert wrap_google(client) is client
    assert wrap_llm(client) is client
    for method in ("generate_content", "generate_content_stream"):
        assert getattr(getattr(client.models, method), "_self_sentrial_wrapped", False)
        assert getattr(getattr(client.aio.models, method), "_self_sentrial_wrapped", False)
    assert client.models.generate_content(model=MODEL, contents="Hi").text == ANSWER


def test_uninstrument_restores_the_methods(fake: FakeGemini, provider: TracerProvider) -> None:
    originals = {(owner, name): vars(getattr(genai_models, owner))[name] for owner, name in METHODS}
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        for (owner, name), original in originals.items():
            assert vars(getattr(genai_models, owner))[name] is not original
    finally:
        instrumentor.uninstrument()

    for (owner, name), original in originals.items():
        assert vars(getattr(genai_models, owner))[name] is original
    run_all_four(gemini(fake))
    assert llm_spans(provider) == []


# --- end to end: the local server gets one llm tool call per call ------------------------------------
def llm_events(local_server: LocalServer, session_id: str) -> list[dict[str, Any]]:
    """The session's tool_call events, in arrival order."""
    session = local_server.session(session_id)
    assert session is not None
    return [e for e in session["events"] if e["eventType"] == "tool_call"]


def test_end_to_end_session(
    fake: FakeGemini,
    provider: TracerProvider,
    instrumented: Any,
    sentrial_client: SentrialClient,
    local_server: LocalServer,
) -> None:
    client = gemini(fake)
    interaction = sentrial_client.begin(user_id="u1", event="ask_gemini", input="Say hello")
    client.models.generate_content(model=MODEL, contents="Say hello", config=CONFIG)
    fake.reply(usage={"prompt": 30, "candidates": 7, "cached": 10})
    list(client.models.generate_content_stream(model=f"models/{MODEL}", contents="Say hello"))
    interaction.finish(output="done")
    assert sentrial_client.flush(timeout=10)

    session_id = interaction.session_id
    assert session_id is not None
    first, second = llm_events(local_server, session_id)
    first_cost = default_cost()
    second_cost = pricing.calculate_provider_cost("google", SERVED_MODEL, 30, 7, cached_input_tokens=10)
    assert first_cost and second_cost
    assert first["toolName"] == f"llm:google:{MODEL}"
    assert first["toolInput"] == {
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "Say hello"},
        ],
        "model": MODEL,
        "provider": "google",
    }
    assert first["toolOutput"] == {
        "content": ANSWER,
        "tokens": {"prompt": 12, "completion": 5, "total": 17},
        "cost_usd": first_cost,
    }
    assert first["estimatedCost"] == first_cost and first["tokenCount"] == 17
    assert second["toolName"] == f"llm:google:{MODEL}"  # the resource name "models/..." as the model
    assert second["toolOutput"]["tokens"] == {"prompt": 30, "completion": 7, "total": 37}
    assert second["estimatedCost"] == second_cost

    session = local_server.session(session_id)
    assert session is not None
    assert session["status"] == "completed"
    assert (session["promptTokens"], session["completionTokens"], session["totalTokens"]) == (42, 12, 54)
    assert session["estimatedCost"] == pytest.approx(first_cost + second_cost)


def test_end_to_end_without_content(
    fake: FakeGemini,
    provider: TracerProvider,
    instrumented: Any,
    sentrial_client: SentrialClient,
    local_server: LocalServer,
    capture_off: None,
) -> None:
    interaction = sentrial_client.begin(user_id="u1", event="ask_gemini")

    async def call() -> None:
        await gemini(fake, vertexai=True).aio.models.generate_content(
            model=MODEL, contents="secret", config=CONFIG
        )

    asyncio.run(call())
    interaction.finish()
    assert sentrial_client.flush(timeout=10)

    session_id = interaction.session_id
    assert session_id is not None
    (event,) = llm_events(local_server, session_id)
    assert event["toolName"] == f"llm:google:{MODEL}"
    assert event["toolInput"] == {"model": MODEL, "provider": "google"}
    assert event["toolOutput"]["content"] is None
    assert event["toolOutput"]["tokens"] == {"prompt": 12, "completion": 5, "total": 17}
    assert "secret" not in json.dumps(local_server.session(session_id))
