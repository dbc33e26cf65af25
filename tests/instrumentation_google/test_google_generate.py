"""The google-genai instrumentation on generate_content, with the real SDK against a fake Gemini
API: what a call's span records (request, usage, tools, media), async, Vertex and chat calls,
errors and timeouts, instrumentation bugs, and content capture off."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from fake_google import FakeGemini
from google.genai import errors, types
from google_support import (
    ANSWER,
    CONFIG,
    MODEL,
    SERVED_MODEL,
    answer,
    assert_error_span,
    attrs,
    compact,
    default_cost,
    gemini,
    llm_spans,
    messages,
    one_span,
    text_message,
    usage_attributes,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from sentrial import pricing
from sentrial import semconv as sc
from sentrial.instrumentation import google_genai
from sentrial.instrumentation.google_genai import GoogleGenAIInstrumentor


# --- plain calls ----------------------------------------------------------------------------------
def test_generate_content_span(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    response = gemini(fake).models.generate_content(model=MODEL, contents="Say hello", config=CONFIG)

    assert response.text == ANSWER
    assert isinstance(response, types.GenerateContentResponse)
    span = one_span(provider)
    assert span.name == f"generate_content {MODEL}"
    assert span.kind == SpanKind.CLIENT
    assert span.status.status_code == StatusCode.UNSET
    assert attrs(span) == {
        sc.SPAN_KIND: sc.KIND_LLM,
        sc.GEN_AI_OPERATION_NAME: "generate_content",
        sc.GEN_AI_PROVIDER_NAME: "gcp.gemini",
        sc.GEN_AI_REQUEST_MODEL: MODEL,
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 50,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_TOP_K: 40.0,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",),
        sc.GEN_AI_REQUEST_SEED: 7,
        sc.GEN_AI_INPUT_MESSAGES: compact([text_message("user", "Say hello")]),
        sc.GEN_AI_SYSTEM_INSTRUCTIONS: compact([{"type": "text", "content": "Answer briefly."}]),
        sc.GEN_AI_RESPONSE_MODEL: SERVED_MODEL,
        sc.GEN_AI_RESPONSE_ID: "resp-123",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 12,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        sc.GEN_AI_OUTPUT_MESSAGES: compact(answer()),
        sc.COST_USD: default_cost(),
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: int(fake.url.rsplit(":", 1)[1].split("/")[0]),
    }


def test_request_reaches_the_api_unchanged(fake: FakeGemini, provider: TracerProvider) -> None:
    client = gemini(fake)
    client.models.generate_content(model=MODEL, contents=["a", "b"], config=CONFIG)
    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client.models.generate_content(model=MODEL, contents=["a", "b"], config=CONFIG)
    finally:
        instrumentor.uninstrument()

    plain, traced = fake.requests
    assert traced["path"] == plain["path"]
    assert traced["path"].endswith(f"/models/{MODEL}:generateContent")
    assert traced["json"] == plain["json"]
    assert len(llm_spans(provider)) == 1


def test_model_prefix_cache_and_thinking_tokens(
    fake: FakeGemini, provider: TracerProvider, instrumented: Any
) -> None:
    fake.reply(model_version=None, usage={"prompt": 1000, "candidates": 100, "cached": 400, "thoughts": 60})

    gemini(fake).models.generate_content(model=f"models/{MODEL}", contents="Think first")

    span = one_span(provider)
    assert attrs(span)[sc.GEN_AI_REQUEST_MODEL] == f"models/{MODEL}"
    assert sc.GEN_AI_RESPONSE_MODEL not in attrs(span)
    cost = pricing.calculate_provider_cost("google", MODEL, 1000, 160, cached_input_tokens=400)
    assert cost is not None and cost > 0
    assert usage_attributes(span) == {
        sc.GEN_AI_USAGE_INPUT_TOKENS: 1000,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 160,  # thinking tokens are billed as output
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 400,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: 60,
        sc.COST_USD: cost,
    }


def test_tool_calls_results_and_media_in_messages(
    fake: FakeGemini, provider: TracerProvider, instrumented: Any
) -> None:
    fake.reply(parts=[{"functionCall": {"id": "call-2", "name": "get_time", "args": {"tz": "CET"}}}])
    contents: list[Any] = [
        {
            "role": "user",
            "parts": [
                {"text": "Weather in Paris, and what is in this picture?"},
                {"inline_data": {"mime_type": "image/png", "data": b"\x89PNG-secret-bytes"}},
            ],
        },
        types.Content(
            role="model",
            parts=[
                types.Part(text="Let me check.", thought=True),
                types.Part(
                    function_call=types.FunctionCall(id="call-1", name="get_weather", args={"city": "Paris"})
                ),
            ],
        ),
        types.Content(
            role="user",
            parts=[types.Part.from_function_response(name="get_weather", response={"temp_c": 21})],
        ),
        types.Part.from_uri(file_uri="gs://bucket/doc.pdf", mime_type="application/pdf"),
        "And the time?",
    ]

    response = gemini(fake).models.generate_content(model=MODEL, contents=contents)

    assert response.function_calls is not None and response.function_calls[0].name == "get_time"
    span = one_span(provider)
    assert messages(span, sc.GEN_AI_INPUT_MESSAGES) == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "Weather in Paris, and what is in this picture?"},
                {"type": "blob", "mime_type": "image/png", "modality": "image"},
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Let me check."},
                {"type": "tool_call", "id": "call-1", "name": "get_weather", "arguments": {"city": "Paris"}},
            ],
        },
        {
            "role": "tool",
            "parts": [
                {"type": "tool_call_response", "id": None, "response": {"temp_c": 21}, "name": "get_weather"},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"type": "uri", "mime_type": "application/pdf", "uri": "gs://bucket/doc.pdf"},
                {"type": "text", "content": "And the time?"},
            ],
        },
    ]
    assert messages(span, sc.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call-2", "name": "get_time", "arguments": {"tz": "CET"}}],
            "finish_reason": "stop",
        }
    ]
    assert "secret" not in json.dumps(attrs(span), default=str)


def test_dict_config_and_list_of_strings(
    fake: FakeGemini, provider: TracerProvider, instrumented: Any
) -> None:
    config: Any = {
        "systemInstruction": {"parts": [{"text": "Be kind."}]},
        "temperature": 0.5,
        "maxOutputTokens": 9,
    }

    gemini(fake).models.generate_content(model=MODEL, contents=["first", "second"], config=config)

    span = one_span(provider)
    assert messages(span, sc.GEN_AI_INPUT_MESSAGES) == [text_message("user", "first", "second")]
    assert messages(span, sc.GEN_AI_SYSTEM_INSTRUCTIONS) == [{"type": "text", "content": "Be kind."}]
    assert attrs(span)[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert attrs(span)[sc.GEN_AI_REQUEST_MAX_TOKENS] == 9


# Quotes, backslashes, control characters, accents, CJK, an emoji, a line separator, markup.
ANY_TEXT = 'He said "hi" \\ \n\ttab \x00\x1f é 漢字 😀 \u2028 </script>'


def test_texts_of_any_characters_are_recorded_exactly_as_the_json_encoder_writes_them(
    fake: FakeGemini, provider: TracerProvider, instrumented: Any
) -> None:
    fake.reply(text=ANY_TEXT, finish_reason="MAX_TOKENS")
    config: Any = {"system_instruction": ANY_TEXT}
    gemini(fake).models.generate_content(model=MODEL, contents=ANY_TEXT, config=config)
    recorded = attrs(one_span(provider))
    # A lone string and a one-text answer are written directly as JSON text; it must be the text
    # the general encoding of the same messages gives, character for character.
    assert recorded[sc.GEN_AI_INPUT_MESSAGES] == compact([text_message("user", ANY_TEXT)])
    assert recorded[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == compact([{"type": "text", "content": ANY_TEXT}])
    assert recorded[sc.GEN_AI_OUTPUT_MESSAGES] == compact(answer(ANY_TEXT, finish="max_tokens"))
    assert json.loads(recorded[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0]["content"] == ANY_TEXT


def test_async_generate_content(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    async def call() -> types.GenerateContentResponse:
        return await gemini(fake).aio.models.generate_content(
            model=MODEL, contents="Say hello", config=CONFIG
        )

    response = asyncio.run(call())

    assert response.text == ANSWER
    span = one_span(provider)
    assert attrs(span)[sc.GEN_AI_OUTPUT_MESSAGES] == compact(answer())
    assert usage_attributes(span) == {
        sc.GEN_AI_USAGE_INPUT_TOKENS: 12,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
        sc.COST_USD: default_cost(),
    }
    assert sc.GEN_AI_REQUEST_STREAM not in attrs(span)


def test_vertex_client_is_vertex_ai(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    response = gemini(fake, vertexai=True).models.generate_content(model=MODEL, contents="Say hello")

    assert response.text == ANSWER
    assert "/publishers/google/models/" in fake.requests[0]["path"]
    span = one_span(provider)
    assert attrs(span)[sc.GEN_AI_PROVIDER_NAME] == "gcp.vertex_ai"
    assert attrs(span)[sc.COST_USD] == default_cost()


def test_chat_send_message_is_traced(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    chat = gemini(fake).chats.create(model=MODEL)

    chat.send_message("Hi")
    chat.send_message("Again")

    first, second = llm_spans(provider)
    assert messages(first, sc.GEN_AI_INPUT_MESSAGES) == [text_message("user", "Hi")]
    assert messages(second, sc.GEN_AI_INPUT_MESSAGES) == [
        text_message("user", "Hi"),
        text_message("assistant", ANSWER),
        text_message("user", "Again"),
    ]


# --- errors ---------------------------------------------------------------------------------------
def test_rate_limited(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    fake.reply(status=429, headers={"Retry-After": "7"})

    with pytest.raises(errors.ClientError) as caught:
        gemini(fake).models.generate_content(model=MODEL, contents="Hi")

    error = caught.value
    assert type(error) is errors.ClientError
    assert error.code == 429 and error.status == "RESOURCE_EXHAUSTED"
    assert error.response is not None and error.response.headers["Retry-After"] == "7"
    assert len(fake.requests) == 1
    span = one_span(provider)
    assert_error_span(span, error, "429")
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in attrs(span)


def test_rate_limited_error_type_is_the_status_code(
    fake: FakeGemini, provider: TracerProvider, instrumented: Any
) -> None:
    fake.reply(status=429)
    with pytest.raises(errors.ClientError):
        gemini(fake).models.generate_content(model=MODEL, contents="Hi")
    assert attrs(one_span(provider))[sc.ERROR_TYPE_ATTRIBUTE] == "429"


def test_server_error_async(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    fake.reply(status=500)

    async def call() -> None:
        await gemini(fake).aio.models.generate_content(model=MODEL, contents="Hi")

    with pytest.raises(errors.ServerError) as caught:
        asyncio.run(call())

    assert type(caught.value) is errors.ServerError and caught.value.code == 500
    assert_error_span(one_span(provider), caught.value, "500")


def test_stream_rate_limited(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    fake.reply(status=429)
    stream = gemini(fake).models.generate_content_stream(model=MODEL, contents="Hi")

    with pytest.raises(errors.ClientError) as caught:
        next(stream)

    assert caught.value.code == 429
    assert_error_span(one_span(provider), caught.value, "429")


def test_async_stream_server_error(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    fake.reply(status=500)

    async def read() -> None:
        stream = await gemini(fake).aio.models.generate_content_stream(model=MODEL, contents="Hi")
        async for _ in stream:
            pass

    with pytest.raises(errors.ServerError) as caught:
        asyncio.run(read())

    assert_error_span(one_span(provider), caught.value, "500")


def test_client_timeout(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    fake.reply(delay=5)

    with pytest.raises(Exception) as caught:
        gemini(fake, timeout_ms=200).models.generate_content(model=MODEL, contents="Hi")

    assert type(caught.value).__name__ == "ReadTimeout"
    assert_error_span(one_span(provider), caught.value, "ReadTimeout")


def test_timeout_in_the_middle_of_a_stream(
    fake: FakeGemini, provider: TracerProvider, instrumented: Any
) -> None:
    fake.reply(text="abcd", chunks=4, chunk_delay=5)
    stream = gemini(fake, timeout_ms=300).models.generate_content_stream(model=MODEL, contents="Hi")
    assert next(stream).text == "a"

    with pytest.raises(Exception) as caught:
        next(stream)

    assert type(caught.value).__name__ == "ReadTimeout"
    span = one_span(provider)
    assert_error_span(span, caught.value, "ReadTimeout")
    assert messages(span, sc.GEN_AI_OUTPUT_MESSAGES) == [text_message("assistant", "a")]


# --- instrumentation faults never break the call ---------------------------------------------------
def test_response_without_candidates_or_usage(
    fake: FakeGemini, provider: TracerProvider, instrumented: Any
) -> None:
    fake.reply(raw_body={})

    response = gemini(fake).models.generate_content(model=MODEL, contents="Hi")

    assert response.candidates is None and response.usage_metadata is None
    span = one_span(provider)
    assert span.status.status_code == StatusCode.UNSET
    assert usage_attributes(span) == {}
    assert messages(span, sc.GEN_AI_OUTPUT_MESSAGES) == []


def test_bug_in_finish_lets_the_call_through(
    fake: FakeGemini,
    provider: TracerProvider,
    instrumented: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(result: Any, usage: Any) -> None:
        raise KeyError("instrumentation bug")

    monkeypatch.setattr(google_genai, "_apply_usage", broken)
    client = gemini(fake)

    with caplog.at_level(logging.WARNING, logger="sentrial"):
        response = client.models.generate_content(model=MODEL, contents="Hi")
        chunks = list(client.models.generate_content_stream(model=MODEL, contents="Hi"))

    assert response.text == ANSWER
    assert "".join(c.text or "" for c in chunks) == ANSWER
    spans = llm_spans(provider)
    assert len(spans) == 2
    assert all(span.status.status_code == StatusCode.UNSET for span in spans)
    assert "could not" in caplog.text


def test_bug_in_describe_lets_the_call_through(
    fake: FakeGemini, provider: TracerProvider, instrumented: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(contents: Any) -> Any:
        raise TypeError("instrumentation bug")

    monkeypatch.setattr(google_genai, "_request_messages", broken)

    response = gemini(fake).models.generate_content(model=MODEL, contents="Hi")

    assert response.text == ANSWER
    assert llm_spans(provider) == []


# --- content capture, wrapping, uninstrument -------------------------------------------------------
def test_capture_off_records_no_messages(
    fake: FakeGemini, provider: TracerProvider, instrumented: Any, capture_off: None
) -> None:
    client = gemini(fake)
    client.models.generate_content(model=MODEL, contents="secret question", config=CONFIG)
    list(client.models.generate_content_stream(model=MODEL, contents="secret question"))

    spans = llm_spans(provider)
    assert len(spans) == 2
    for span in spans:
        values = attrs(span)
        for name in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS):
            assert name not in values
        assert values[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12
        assert "secret" not in json.dumps(values, default=str)
