"""The instrumentation of the deprecated google-generativeai SDK (REST transport against the same
fake Gemini API): spans, tool calls, streams, errors, wrapping and undoing."""

from __future__ import annotations

import gc
import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from fake_google import FakeGemini
from google_support import (
    ANSWER,
    MODEL,
    SERVED_MODEL,
    answer,
    assert_abandoned,
    assert_error_span,
    attrs,
    compact,
    default_cost,
    llm_spans,
    messages,
    one_span,
    text_message,
    usage_attributes,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import StatusCode

from sentrial import semconv as sc
from sentrial.instrumentation._base import wrap_instance
from sentrial.wrappers import wrap_google


# --- the deprecated google-generativeai SDK (REST transport against the same fake) ----------------------
@pytest.fixture
def legacy(fake: FakeGemini) -> Iterator[Any]:
    """``google.generativeai`` configured for the fake over REST; skipped when it is not installed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the package announces its own end of support
        module = pytest.importorskip("google.generativeai")
    module.configure(api_key="test-key", transport="rest", client_options={"api_endpoint": fake.url})
    try:
        yield module
    finally:
        module.configure()  # the library's defaults again, without the cached clients


def legacy_patches() -> Any:
    """The legacy instrumentation module (imported only when the library is there)."""
    from sentrial.instrumentation import google_generativeai

    return google_generativeai


@pytest.fixture
def legacy_instrumented(legacy: Any, provider: TracerProvider) -> Iterator[Any]:
    """google-generativeai instrumented on ``provider``; undone afterwards."""
    instrumentor = legacy_patches().GoogleGenerativeAIInstrumentor()
    assert not instrumentor.is_instrumented_by_opentelemetry
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield instrumentor
    finally:
        instrumentor.uninstrument()


def test_legacy_generate_content(legacy: Any, provider: TracerProvider, legacy_instrumented: Any) -> None:
    model = legacy.GenerativeModel(
        MODEL,
        system_instruction="Answer briefly.",
        generation_config={"temperature": 0.5, "max_output_tokens": 40},
    )

    response = model.generate_content("Say hello", generation_config={"top_k": 5})

    assert isinstance(response, legacy.types.GenerateContentResponse)
    assert response.text == ANSWER
    span = one_span(provider)
    assert span.name == f"generate_content models/{MODEL}"
    assert attrs(span) == {
        sc.SPAN_KIND: sc.KIND_LLM,
        sc.GEN_AI_OPERATION_NAME: "generate_content",
        sc.GEN_AI_PROVIDER_NAME: "gcp.gemini",
        sc.GEN_AI_REQUEST_MODEL: f"models/{MODEL}",
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.5,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 40,
        sc.GEN_AI_REQUEST_TOP_K: 5,
        sc.GEN_AI_INPUT_MESSAGES: compact([text_message("user", "Say hello")]),
        sc.GEN_AI_SYSTEM_INSTRUCTIONS: compact([{"type": "text", "content": "Answer briefly."}]),
        sc.GEN_AI_RESPONSE_MODEL: SERVED_MODEL,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 12,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        sc.GEN_AI_OUTPUT_MESSAGES: compact(answer()),
        sc.COST_USD: default_cost(),
    }


def test_legacy_tool_call_messages(
    fake: FakeGemini, legacy: Any, provider: TracerProvider, legacy_instrumented: Any
) -> None:
    fake.reply(parts=[{"functionCall": {"name": "get_time", "args": {"tz": "CET"}}}])
    contents = [
        {"role": "user", "parts": ["Weather in Paris?"]},
        {"role": "model", "parts": [{"function_call": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {
            "role": "user",
            "parts": [{"function_response": {"name": "get_weather", "response": {"temp_c": 21}}}],
        },
    ]

    legacy.GenerativeModel(MODEL).generate_content(contents)

    span = one_span(provider)
    assert messages(span, sc.GEN_AI_INPUT_MESSAGES) == [
        text_message("user", "Weather in Paris?"),
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": None, "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
        },
        {
            "role": "tool",
            "parts": [
                {"type": "tool_call_response", "id": None, "response": {"temp_c": 21}, "name": "get_weather"}
            ],
        },
    ]
    assert messages(span, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": None, "name": "get_time", "arguments": {"tz": "CET"}}],
            "finish_reason": "stop",
        }
    ]


def assert_legacy_stream_span(span: ReadableSpan) -> None:
    """A fully read legacy stream of the fake's default answer."""
    assert span.status.status_code == StatusCode.UNSET
    assert usage_attributes(span) == {
        sc.GEN_AI_USAGE_INPUT_TOKENS: 12,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        sc.COST_USD: default_cost(),
    }
    assert json.loads(str(attrs(span)[sc.GEN_AI_OUTPUT_MESSAGES])) == answer()
    assert attrs(span)[sc.GEN_AI_REQUEST_STREAM] is True
    assert attrs(span)[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0


def test_legacy_stream(legacy: Any, provider: TracerProvider, legacy_instrumented: Any) -> None:
    response = legacy.GenerativeModel(MODEL).generate_content("Say hello", stream=True)

    assert isinstance(response, legacy.types.GenerateContentResponse)
    assert llm_spans(provider) == []
    assert [chunk.text for chunk in response] == ["Hello ", "from G", "emini!"]
    assert response.text == ANSWER
    assert_legacy_stream_span(one_span(provider))


def test_legacy_stream_resolve_and_chat(
    legacy: Any, provider: TracerProvider, legacy_instrumented: Any
) -> None:
    chat = legacy.GenerativeModel(MODEL).start_chat()
    streamed = chat.send_message("Hi", stream=True)
    streamed.resolve()
    chat.send_message("Again")

    assert streamed.text == ANSWER
    first, second = llm_spans(provider)
    assert_legacy_stream_span(first)
    assert messages(second, sc.GEN_AI_INPUT_MESSAGES) == [
        text_message("user", "Hi"),
        text_message("assistant", ANSWER),
        text_message("user", "Again"),
    ]


def test_legacy_abandoned_stream(
    fake: FakeGemini, legacy: Any, provider: TracerProvider, legacy_instrumented: Any
) -> None:
    fake.reply(text="v" * 50, chunks=50)
    response = legacy.GenerativeModel(MODEL).generate_content("Long", stream=True)

    del response
    gc.collect()

    assert_abandoned(provider, "v")


def test_legacy_rate_limited(
    fake: FakeGemini, legacy: Any, provider: TracerProvider, legacy_instrumented: Any
) -> None:
    fake.reply(status=429)

    with pytest.raises(Exception) as caught:
        legacy.GenerativeModel(MODEL).generate_content("Hi")

    assert type(caught.value).__name__ == "TooManyRequests" and getattr(caught.value, "code", None) == 429
    assert_error_span(one_span(provider), caught.value, "429")


def test_legacy_wrap_and_instrument_give_one_span_per_call(
    legacy: Any, provider: TracerProvider, legacy_instrumented: Any
) -> None:
    model = legacy.GenerativeModel(MODEL)
    patches = legacy_patches().PATCHES
    assert wrap_instance(model, patches, provider.get_tracer("test")) == 1
    assert wrap_instance(model, patches, provider.get_tracer("test")) == 1

    model.generate_content("Hi")
    list(model.generate_content("Hi", stream=True))

    assert [attrs(s).get(sc.GEN_AI_REQUEST_STREAM, False) for s in llm_spans(provider)] == [False, True]


def test_legacy_uninstrument_restores_the_method(legacy: Any, provider: TracerProvider) -> None:
    owner = legacy.GenerativeModel
    original = vars(owner)["generate_content"]
    instrumentor = legacy_patches().GoogleGenerativeAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        assert vars(owner)["generate_content"] is not original
    finally:
        instrumentor.uninstrument()

    assert vars(owner)["generate_content"] is original
    legacy.GenerativeModel(MODEL).generate_content("Hi")
    assert llm_spans(provider) == []


def test_legacy_wrap_google(legacy: Any) -> None:
    model = legacy.GenerativeModel(MODEL)

    assert wrap_google(model) is model
    assert getattr(model.generate_content, "_self_sentrial_wrapped", False)
