"""The Anthropic instrumentation against the real SDK pointed at a fake Messages API."""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic.lib.streaming import AsyncMessageStream, MessageStream, MessageStreamManager
from anthropic.resources.messages import AsyncMessages, Messages
from fake_anthropic import MODEL, FakeAnthropic, Reply, ToolCall
from helpers import wait_until
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from sentrial import semconv as sc
from sentrial._values import json_text
from sentrial.client import SentrialClient
from sentrial.instrumentation import _anthropic_streams as anthropic_streams
from sentrial.instrumentation import anthropic as instrumentation
from sentrial.instrumentation._base import TRACER_NAME, wrap_instance
from sentrial.instrumentation._llm import set_capture_content
from sentrial.instrumentation.anthropic import PATCHES, AnthropicInstrumentor
from sentrial.pricing import calculate_cost
from sentrial.server import LocalServer
from sentrial.wrappers import wrap_anthropic

REQUEST_MODEL = "claude-haiku-4-5"
ANSWER = "Hello there, friend."
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
SYSTEM = "You are terse."
BASE_COST = calculate_cost("anthropic", MODEL, 12, 7)


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


def _options(fake: FakeAnthropic, **options: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"api_key": "test-key", "base_url": fake.url, "max_retries": 0}
    if "open_telemetry" in inspect.signature(anthropic.Anthropic).parameters:
        settings["open_telemetry"] = False  # the SDK's own spans are off unless a test turns them on
    return {**settings, **options}


def sync_client(fake: FakeAnthropic, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(**_options(fake, **options))


def async_client(fake: FakeAnthropic, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(**_options(fake, **options))


def llm_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if (s.attributes or {}).get(sc.SPAN_KIND) == sc.KIND_LLM]


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    spans = llm_spans(exporter)
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes, JSON ones decoded, the (timing-dependent) first-chunk time left out."""
    values = dict(span.attributes or {})
    values.pop(sc.LLM_TIME_TO_FIRST_CHUNK_MS, None)
    for name in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS):
        if name in values:
            values[name] = json.loads(values[name])
    return values


def create_kwargs(**overrides: Any) -> dict[str, Any]:
    return {"model": REQUEST_MODEL, "max_tokens": 100, "messages": QUESTION, **overrides}


def answer_output(text: str = ANSWER, finish: str = "end_turn") -> list[dict[str, Any]]:
    return [{"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": finish}]


def base_attributes(stream: bool = False) -> dict[str, Any]:
    """What a call of create_kwargs() answered by the default Reply records."""
    values: dict[str, Any] = {
        sc.SPAN_KIND: sc.KIND_LLM,
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "anthropic",
        sc.GEN_AI_REQUEST_MODEL: REQUEST_MODEL,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 100,
        sc.GEN_AI_INPUT_MESSAGES: [
            {"role": "user", "parts": [{"type": "text", "content": "What is the weather in Paris?"}]}
        ],
        sc.GEN_AI_RESPONSE_MODEL: MODEL,
        sc.GEN_AI_RESPONSE_ID: "msg_01abc",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("end_turn",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 12,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 7,
        sc.GEN_AI_OUTPUT_MESSAGES: answer_output(),
        sc.COST_USD: BASE_COST,
    }
    if stream:
        values[sc.LLM_STREAM] = True
    return values


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


def test_streaming_responses_are_recorded_when_parsed(
    fake: FakeAnthropic, instrumented: InMemorySpanExporter
) -> None:
    client = sync_client(fake)
    with client.messages.with_streaming_response.create(**create_kwargs()) as response:
        assert llm_spans(instrumented) == []  # the body is the caller's to read: nothing to record yet
        message = response.parse()
    with client.messages.with_streaming_response.create(**create_kwargs(stream=True)) as response:
        events = [event.type for event in response.parse()]
    raw = client.messages.with_raw_response.create(**create_kwargs(stream=True))
    raw_events = [event.type for event in raw.parse()]

    assert message.content[0].text == ANSWER  # type: ignore[union-attr]
    assert events[-1] == raw_events[-1] == "message_stop"
    spans = llm_spans(instrumented)
    assert [attrs(span) for span in spans] == [base_attributes()] + [base_attributes(stream=True)] * 2


def test_async_streaming_response_stream_left_early_ends_with_its_block(
    fake: FakeAnthropic, instrumented: InMemorySpanExporter
) -> None:
    fake.reply = Reply(text="word " * 200, chunks=200)

    async def read() -> list[str]:
        create = async_client(fake).messages.with_streaming_response.create
        async with create(**create_kwargs(stream=True)) as response:
            stream = await response.parse()
            return [(await stream.__anext__()).type for _ in range(3)]

    assert asyncio.run(read()) == ["message_start", "content_block_start", "content_block_delta"]
    span = only_span(instrumented)
    assert span.status.status_code == StatusCode.UNSET
    assert attrs(span)[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert sc.GEN_AI_RESPONSE_FINISH_REASONS not in attrs(span)


# --- streams --------------------------------------------------------------------------------
def test_stream_true_sync(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    stream = sync_client(fake).messages.create(**create_kwargs(stream=True))
    assert isinstance(stream, anthropic.Stream)

    events = []
    for event in stream:
        events.append(event.type)
        assert not llm_spans(instrumented)  # the span ends with the stream, not before
    assert events[0] == "message_start" and events[-1] == "message_stop"

    span = only_span(instrumented)
    assert attrs(span) == base_attributes(stream=True)
    assert (span.attributes or {})[sc.LLM_TIME_TO_FIRST_CHUNK_MS] >= 0


def test_stream_true_async(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    async def read() -> list[str]:
        stream = await async_client(fake).messages.create(**create_kwargs(stream=True))
        assert isinstance(stream, anthropic.AsyncStream)
        async with stream:
            return [event.type async for event in stream]

    events = asyncio.run(read())

    assert events[-1] == "message_stop"
    assert attrs(only_span(instrumented)) == base_attributes(stream=True)


def test_stream_true_closed_early(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    fake.reply = Reply(text="word " * 200, chunks=200)
    stream = sync_client(fake).messages.create(**create_kwargs(stream=True))
    first = [next(stream).type, next(stream).type, next(stream).type]
    stream.close()
    stream.close()  # closing again ends nothing more

    assert first == ["message_start", "content_block_start", "content_block_delta"]
    span = only_span(instrumented)
    assert span.status.status_code == StatusCode.UNSET
    values = attrs(span)
    assert values[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12 and values[sc.GEN_AI_RESPONSE_ID] == "msg_01abc"
    assert sc.GEN_AI_RESPONSE_FINISH_REASONS not in values


def test_stream_true_abandoned(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    fake.reply = Reply(hold_after_events=4)
    stream = sync_client(fake).messages.create(**create_kwargs(stream=True))
    assert next(stream).type == "message_start"
    del stream
    gc.collect()

    span = wait_until(lambda: llm_spans(instrumented), what="the abandoned stream's span")[0]
    assert span.status.status_code == StatusCode.ERROR
    assert (span.status.description or "").startswith("stream abandoned")
    assert attrs(span)[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert len(llm_spans(instrumented)) == 1


def test_async_stream_true_abandoned(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    fake.reply = Reply(hold_after_events=4)

    async def read_one_and_drop() -> None:
        stream = await async_client(fake).messages.create(**create_kwargs(stream=True))
        assert (await stream.__anext__()).type == "message_start"
        del stream
        gc.collect()
        await asyncio.sleep(0)  # let the loop finalize the dropped async generator

    asyncio.run(read_one_and_drop())

    span = wait_until(lambda: llm_spans(instrumented), what="the abandoned stream's span")[0]
    assert (span.status.description or "").startswith("stream abandoned")
    assert len(llm_spans(instrumented)) == 1


def _read(stream: MessageStream[Any], how: str) -> Any:
    if how == "text_stream":
        return "".join(stream.text_stream)
    if how == "get_final_text":
        return stream.get_final_text()
    if how == "get_final_message":
        return stream.get_final_message().content[0].text  # type: ignore[union-attr]
    if how == "until_done":
        stream.until_done()
        return stream.current_message_snapshot.content[0].text  # type: ignore[union-attr]
    return "".join(e.delta.text for e in stream if e.type == "content_block_delta")  # type: ignore[union-attr]


READING = ["text_stream", "get_final_text", "get_final_message", "until_done", "events"]


@pytest.mark.parametrize("how", READING)
def test_stream_helper_sync(fake: FakeAnthropic, instrumented: InMemorySpanExporter, how: str) -> None:
    manager = sync_client(fake).messages.stream(**create_kwargs())
    assert isinstance(manager, MessageStreamManager)
    with manager as stream:
        assert type(stream) is MessageStream
        assert _read(stream, how) == ANSWER
        span = only_span(instrumented)  # ended when the stream was read to the end
    assert attrs(span) == base_attributes(stream=True)
    assert len(llm_spans(instrumented)) == 1


@pytest.mark.parametrize("how", READING)
def test_stream_helper_async(fake: FakeAnthropic, instrumented: InMemorySpanExporter, how: str) -> None:
    async def read(stream: AsyncMessageStream[Any]) -> Any:
        if how == "text_stream":
            return "".join([text async for text in stream.text_stream])
        if how == "get_final_text":
            return await stream.get_final_text()
        if how == "get_final_message":
            return (await stream.get_final_message()).content[0].text  # type: ignore[union-attr]
        if how == "until_done":
            await stream.until_done()
            return stream.current_message_snapshot.content[0].text  # type: ignore[union-attr]
        return "".join([e.delta.text async for e in stream if e.type == "content_block_delta"])  # type: ignore[union-attr]

    async def run() -> Any:
        async with async_client(fake).messages.stream(**create_kwargs()) as stream:
            assert type(stream) is AsyncMessageStream
            return await read(stream)

    assert asyncio.run(run()) == ANSWER
    assert attrs(only_span(instrumented)) == base_attributes(stream=True)


def test_stream_helper_left_early(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    fake.reply = Reply(text="word " * 200, chunks=200)
    with sync_client(fake).messages.stream(**create_kwargs()) as stream:
        first = next(iter(stream.text_stream))
        assert not llm_spans(instrumented)

    assert first == "word "
    span = only_span(instrumented)
    assert span.status.status_code == StatusCode.UNSET
    partial = [{"role": "assistant", "parts": [{"type": "text", "content": "word "}]}]
    assert attrs(span)[sc.GEN_AI_OUTPUT_MESSAGES] == partial


def test_stream_helper_error_in_the_block(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    failure = ValueError("the app failed")
    with pytest.raises(ValueError) as raised, sync_client(fake).messages.stream(**create_kwargs()) as stream:
        next(iter(stream.text_stream))
        raise failure

    assert raised.value is failure
    span = only_span(instrumented)
    assert span.status.status_code == StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE_ATTRIBUTE] == "ValueError"


def test_stream_helper_http_error(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    fake.reply = Reply(status=429, error_type="rate_limit_error", headers={"retry-after": "1"})
    manager = sync_client(fake).messages.stream(**create_kwargs())
    with pytest.raises(anthropic.RateLimitError) as raised, manager:
        pytest.fail("the block must not run")

    assert raised.value.status_code == 429
    span = only_span(instrumented)
    assert span.status.status_code == StatusCode.ERROR and attrs(span)[sc.ERROR_TYPE_ATTRIBUTE] == "429"


def test_stream_helper_abandoned(fake: FakeAnthropic, instrumented: InMemorySpanExporter) -> None:
    fake.reply = Reply(hold_after_events=4)
    never_entered = sync_client(fake).messages.stream(**create_kwargs())
    del never_entered
    manager = sync_client(fake).messages.stream(**create_kwargs())
    stream = manager.__enter__()
    assert next(stream).type == "message_start"
    del stream, manager
    gc.collect()

    spans = wait_until(lambda: len(llm_spans(instrumented)) == 2 and llm_spans(instrumented))
    assert all((s.status.description or "").startswith("stream abandoned") for s in spans)
    assert [attrs(s).get(sc.GEN_AI_USAGE_INPUT_TOKENS) for s in spans] == [None, 12]
    assert len(fake.requests) == 1  # the manager never entered sent nothing


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
