"""The Anthropic instrumentation on Messages calls, with the real SDK pointed at a fake Messages
API: what a call's span records (texts, cache, thinking, tools, images), parse and raw
responses, HTTP errors and timeouts, content capture off, and instrumentation bugs."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anthropic
import pytest
from anthropic_support import (
    ANSWER,
    QUESTION,
    REQUEST_MODEL,
    SYSTEM,
    answer_output,
    async_client,
    attrs,
    base_attributes,
    create_kwargs,
    llm_spans,
    only_span,
    sync_client,
)
from fake_anthropic import MODEL, FakeAnthropic, Reply, ToolCall
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from sentrial import semconv as sc
from sentrial._values import json_text
from sentrial.instrumentation import _anthropic_streams as anthropic_streams
from sentrial.instrumentation import anthropic as instrumentation
from sentrial.instrumentation._llm import set_capture_content
from sentrial.instrumentation.anthropic import AnthropicInstrumentor
from sentrial.pricing import calculate_provider_cost as calculate_cost


# --- messages.create ------------------------------------------------------------------------
def test_create_records_request_and_response(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    kwargs = create_kwargs(
        system=SYSTEM,
        stop_sequences=["END"],
        extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 40},
    )
    message = sync_client(fake).messages.create(**kwargs)

    assert isinstance(message, anthropic.types.Message) and message.content[0].text == ANSWER  # type: ignore[union-attr]
    span = only_span(instrumented)
    assert span.name == f"chat {REQUEST_MODEL}"
    assert span.status.status_code == StatusCode.UNSET
    assert attrs(span) == {
        **base_attributes(),
        sc.GEN_AI_SYSTEM_INSTRUCTIONS: [{"type": "text", "content": SYSTEM}],
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",),
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_TOP_K: 40,
    }
    sent = fake.requests[0]["json"]
    assert sent["system"] == SYSTEM and sent["temperature"] == 0.2 and sent["messages"] == QUESTION


# Quotes, backslashes, control characters, accents, CJK, an emoji, a line separator, markup.
ANY_TEXT = 'He said "hi" \\ \n\ttab \x00\x1f é 漢字 😀 \u2028 </script>'


def test_texts_of_any_characters_are_recorded_exactly_as_the_json_encoder_writes_them(
    fake: FakeAnthropic, instrumented: InMemorySpanExporter
) -> None:
    fake.reply = Reply(text=ANY_TEXT)
    messages = [
        {"role": "user", "content": ANY_TEXT},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": [{"type": "text", "text": ANY_TEXT}]},
    ]
    sync_client(fake).messages.create(**create_kwargs(messages=messages, system=ANY_TEXT))
    recorded = dict(only_span(instrumented).attributes or {})
    # Simple messages are written directly as JSON text: exactly what the general encoding gives.
    text = {"type": "text", "content": ANY_TEXT}
    expected_input = [
        {"role": "user", "parts": [text]},
        {"role": "assistant", "parts": [{"type": "text", "content": ""}]},
        {"role": "user", "parts": [text]},
    ]
    assert recorded[sc.GEN_AI_INPUT_MESSAGES] == json_text(expected_input)
    assert recorded[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == json_text([text])
    assert recorded[sc.GEN_AI_OUTPUT_MESSAGES] == json_text(answer_output(ANY_TEXT))


def test_extra_body_wins_over_the_arguments_as_it_does_on_the_wire(
    fake: FakeAnthropic, instrumented: InMemorySpanExporter
) -> None:
    sync_client(fake).messages.create(**create_kwargs(max_tokens=100, extra_body={"max_tokens": 5}))
    assert fake.requests[0]["json"]["max_tokens"] == 5
    assert attrs(only_span(instrumented))[sc.GEN_AI_REQUEST_MAX_TOKENS] == 5


def test_the_request_is_sent_unchanged(fake: FakeAnthropic, provider: TracerProvider) -> None:
    kwargs = create_kwargs(system=[{"type": "text", "text": SYSTEM}], metadata={"user_id": "u-1"})
    sync_client(fake).messages.create(**kwargs)
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        sync_client(fake).messages.create(**kwargs)
    finally:
        instrumentor.uninstrument()
    plain, traced = (request["json"] for request in fake.requests)
    assert plain == traced


def test_async_create(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    async def call() -> Any:
        return await async_client(fake).messages.create(**create_kwargs())

    message = asyncio.run(call())

    assert message.content[0].text == ANSWER
    assert attrs(only_span(instrumented)) == base_attributes()


def test_cache_reads_and_writes_are_priced_as_pricing_says(
    fake: FakeAnthropic, instrumented: InMemorySpanExporter
) -> None:
    usage = {
        "input_tokens": 50,
        "output_tokens": 20,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 200,
    }
    fake.reply = Reply(usage=usage)
    client = sync_client(fake)
    client.messages.create(**create_kwargs())
    list(client.messages.create(**create_kwargs(stream=True)))

    expected_cost = calculate_cost(
        "anthropic", MODEL, 50, 20, cached_input_tokens=1000, cache_creation_tokens=200
    )
    assert expected_cost == pytest.approx((50 * 1.00 + 20 * 5.00 + 1000 * 0.10 + 200 * 1.25) / 1e6)
    spans = llm_spans(instrumented)
    assert len(spans) == 2
    for span in spans:
        values = attrs(span)
        assert values[sc.GEN_AI_USAGE_INPUT_TOKENS] == 50 + 1000 + 200  # cache reads and writes included
        assert values[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 20
        assert values[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 1000
        assert values[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] == 200
        assert values[sc.COST_USD] == expected_cost


def test_thinking_and_tool_use_in_the_answer(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    fake.reply = Reply(
        text="Let me check.",
        thinking="The user wants weather.",
        tool_call=ToolCall(),
        usage={"input_tokens": 30, "output_tokens": 25, "output_tokens_details": {"thinking_tokens": 9}},
    )
    client = sync_client(fake)
    client.messages.create(**create_kwargs())
    list(client.messages.create(**create_kwargs(stream=True)))

    expected_parts = [
        {"type": "reasoning", "content": "The user wants weather."},
        {"type": "text", "content": "Let me check."},
        {
            "type": "tool_call",
            "id": "toolu_01",
            "name": "get_weather",
            "arguments": {"city": "Paris", "unit": "celsius"},
        },
    ]
    plain, streamed = llm_spans(instrumented)
    for span in (plain, streamed):
        values = attrs(span)
        assert values[sc.GEN_AI_OUTPUT_MESSAGES] == [
            {"role": "assistant", "parts": expected_parts, "finish_reason": "tool_use"}
        ]
        assert values[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_use",)
    assert attrs(plain)[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == 9


def test_tool_calls_tool_results_and_images_in_the_request(
    fake: FakeAnthropic, instrumented: InMemorySpanExporter
) -> None:
    client = sync_client(fake)
    fake.reply = Reply(text=None, tool_call=ToolCall())
    first = client.messages.create(**create_kwargs())
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather here?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "aGVsbG8="},
                },
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
            ],
        },
        {"role": "assistant", "content": first.content},  # the SDK's own blocks, echoed back
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "18 degrees"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_02",
                    "content": [{"type": "text", "text": "sunny"}],
                    "is_error": False,
                },
            ],
        },
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_03", "name": "f", "input": {}}]},
    ]
    fake.reply = Reply()
    client.messages.create(**create_kwargs(messages=messages))

    span = llm_spans(instrumented)[1]
    assert attrs(span)[sc.GEN_AI_INPUT_MESSAGES] == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "Weather here?"},
                {"type": "blob", "modality": "image", "mime_type": "image/png"},
                {"type": "uri", "modality": "image", "uri": "https://example.com/a.jpg"},
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "toolu_01",
                    "name": "get_weather",
                    "arguments": {"city": "Paris", "unit": "celsius"},
                }
            ],
        },
        {
            "role": "user",
            "parts": [
                {"type": "tool_call_response", "id": "toolu_01", "response": "18 degrees"},
                {"type": "tool_call_response", "id": "toolu_02", "response": "sunny"},
            ],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "toolu_03", "name": "f", "arguments": {}}],
        },
    ]
    assert "aGVsbG8=" not in str(span.attributes)


def test_a_generator_of_messages_is_not_consumed(
    fake: FakeAnthropic, instrumented: InMemorySpanExporter
) -> None:
    sync_client(fake).messages.create(**create_kwargs(messages=(m for m in QUESTION)))

    assert fake.requests[0]["json"]["messages"] == QUESTION
    assert sc.GEN_AI_INPUT_MESSAGES not in attrs(only_span(instrumented))


def test_parse_and_raw_response_and_beta(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    client = sync_client(fake)
    parsed = client.messages.parse(**create_kwargs())
    raw = client.messages.with_raw_response.create(**create_kwargs())
    beta = client.beta.messages.create(**create_kwargs())
    with client.beta.messages.stream(**create_kwargs()) as stream:
        beta_text = stream.get_final_text()

    assert parsed.content[0].text == ANSWER and beta.content[0].text == ANSWER  # type: ignore[union-attr]
    assert raw.parse().content[0].text == ANSWER and beta_text == ANSWER  # type: ignore[union-attr]
    spans = llm_spans(instrumented)
    assert [attrs(span) for span in spans] == [base_attributes()] * 3 + [base_attributes(stream=True)]


# --- errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error_class", "error_type"),
    [(429, anthropic.RateLimitError, "rate_limit_error"), (500, anthropic.InternalServerError, "api_error")],
)
def test_http_errors(
    fake: FakeAnthropic,
    instrumented: InMemorySpanExporter,
    status: int,
    error_class: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    fake.reply = Reply(status=status, error_type=error_type, headers={"retry-after": "1"})
    with pytest.raises(error_class) as raised:
        sync_client(fake).messages.create(**create_kwargs())

    assert type(raised.value) is error_class and raised.value.status_code == status
    span = only_span(instrumented)
    assert span.status.status_code == StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE_ATTRIBUTE] == str(status)
    assert span.events[0].name == "exception"


def test_stream_http_error_async(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    fake.reply = Reply(status=500)

    async def call() -> None:
        await async_client(fake).messages.create(**create_kwargs(stream=True))

    with pytest.raises(anthropic.InternalServerError):
        asyncio.run(call())
    assert attrs(only_span(instrumented))[sc.ERROR_TYPE_ATTRIBUTE] == "500"


def test_client_side_timeout(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    fake.reply = Reply(hold=True)
    with pytest.raises(anthropic.APITimeoutError):
        sync_client(fake, timeout=0.2).messages.create(**create_kwargs())
    fake.release()

    span = only_span(instrumented)
    assert span.status.status_code == StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE_ATTRIBUTE] == "APITimeoutError"


@pytest.mark.parametrize("is_async", [False, True])
def test_the_callers_exception_is_the_same_object(
    fake: FakeAnthropic, instrumented: InMemorySpanExporter, is_async: bool
) -> None:
    failure = anthropic.APIConnectionError(request=anthropic._base_client.httpx2.Request("POST", fake.url))

    def raising(*args: Any, **kwargs: Any) -> Any:
        raise failure

    async def async_raising(*args: Any, **kwargs: Any) -> Any:
        raise failure

    with pytest.raises(anthropic.APIConnectionError) as raised:
        if is_async:
            client = async_client(fake)
            client.messages._post = async_raising  # type: ignore[method-assign]
            asyncio.run(client.messages.create(**create_kwargs()))  # type: ignore[arg-type]
        else:
            sync = sync_client(fake)
            sync.messages._post = raising  # type: ignore[method-assign]
            sync.messages.create(**create_kwargs())

    assert raised.value is failure
    assert attrs(only_span(instrumented))[sc.ERROR_TYPE_ATTRIBUTE] == "APIConnectionError"


# --- content capture, wrapping, uninstrumenting, instrumentation bugs -------------------------
def test_content_capture_off(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    set_capture_content(False)
    client = sync_client(fake)
    client.messages.create(**create_kwargs(system=SYSTEM))
    list(client.messages.create(**create_kwargs(stream=True)))
    with client.messages.stream(**create_kwargs()) as stream:
        stream.until_done()

    spans = llm_spans(instrumented)
    assert len(spans) == 3
    hidden = {sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS}
    for span in spans:
        assert not hidden & set(attrs(span))
        assert attrs(span)[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 7
        assert "Paris" not in str(span.attributes) and "friend" not in str(span.attributes)


def test_an_answer_without_usage_is_fine(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    fake.reply = Reply(omit_usage=True)
    message = sync_client(fake).messages.create(**create_kwargs())

    assert message.content[0].text == ANSWER  # type: ignore[union-attr]
    values = attrs(only_span(instrumented))
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in values and sc.COST_USD not in values
    assert values[sc.GEN_AI_RESPONSE_ID] == "msg_01abc"


def test_an_instrumentation_bug_never_breaks_the_call(
    fake: FakeAnthropic,
    instrumented: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("instrumentation bug")

    monkeypatch.setattr(instrumentation, "message_result", broken)
    monkeypatch.setattr(anthropic_streams, "message_result", broken)  # read there by messages.stream()
    monkeypatch.setattr(instrumentation.EventAccumulator, "add", broken)
    client = sync_client(fake)
    with caplog.at_level(logging.WARNING, logger="sentrial"):
        message = client.messages.create(**create_kwargs())
        events = list(client.messages.create(**create_kwargs(stream=True)))
        with client.messages.stream(**create_kwargs()) as stream:
            text = stream.get_final_text()

    assert message.content[0].text == ANSWER and text == ANSWER  # type: ignore[union-attr]
    assert events[-1].type == "message_stop"
    assert len(llm_spans(instrumented)) == 3  # each still ended, exactly once
    assert "could not" in caplog.text

    failure = RuntimeError("the app failed")
    with pytest.raises(RuntimeError) as raised, client.messages.stream(**create_kwargs()) as stream:
        next(iter(stream.text_stream))
        raise failure
    assert raised.value is failure
    assert llm_spans(instrumented)[-1].status.status_code == StatusCode.ERROR

    monkeypatch.setattr(anthropic_streams, "_observe", lambda *args: None)  # as if the SDK changed shape
    with client.messages.stream(**create_kwargs()) as stream:
        assert stream.get_final_text() == ANSWER
        assert len(llm_spans(instrumented)) == 4
    assert len(llm_spans(instrumented)) == 5  # ended on exit instead

    monkeypatch.setattr(instrumentation, "_describe", broken)
    assert client.messages.create(**create_kwargs()).id == "msg_01abc"
    assert len(llm_spans(instrumented)) == 5  # undescribable: untraced
