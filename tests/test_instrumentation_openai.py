"""The OpenAI instrumentation, with the real openai SDK against a fake OpenAI endpoint.

Every test checks the spans exactly (an in-memory exporter on a fresh provider); the end-to-end
ones also check what the local Sessions API server received.
"""

from __future__ import annotations

import asyncio
import gc
import json
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import openai
import pytest
import wrapt
from fake_openai import FakeOpenAI, Reply
from helpers import wait_until
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

import sentrial
from sentrial import SentrialClient, pricing
from sentrial import semconv as sc
from sentrial._values import DEFAULT_MAX_CHARS, json_text
from sentrial.instrumentation import openai as instrumentation
from sentrial.instrumentation import uninstrument_all
from sentrial.instrumentation._base import TRACER_NAME, wrap_instance
from sentrial.instrumentation._llm import set_capture_content
from sentrial.instrumentation.openai import PATCHES, OpenAIInstrumentor, set_include_stream_usage
from sentrial.server import LocalServer

_T = TypeVar("_T")
USER = [{"role": "user", "content": "Capital of France?"}]
USER_PARTS = [{"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]}]


class Traced:
    """A fresh tracer provider whose finished spans are kept in memory."""

    def __init__(self) -> None:
        self.provider = TracerProvider()
        self.exporter = InMemorySpanExporter()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def only_span(self) -> ReadableSpan:
        (span,) = self.spans()
        return span


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


def run_async(fake: FakeOpenAI, body: Callable[[openai.AsyncOpenAI], Awaitable[_T]]) -> _T:
    """Run ``body`` with an async client of the fake, closed before the event loop ends."""

    async def main() -> _T:
        async with openai.AsyncOpenAI(base_url=fake.url, api_key="test-key", max_retries=0) as async_client:
            return await body(async_client)

    return asyncio.run(main())


def attributes(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes, with the JSON-valued ones decoded."""
    values = dict(span.attributes or {})
    for name in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS):
        if name in values:
            values[name] = json.loads(values[name])
    return values


def assistant(*parts: dict[str, Any], finish: str | None = "stop") -> list[dict[str, Any]]:
    return [{"role": "assistant", "parts": list(parts), "finish_reason": finish}]


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def cost(model: str, prompt: int, completion: int, cached: int = 0) -> float:
    value = pricing.calculate_cost("openai", model, prompt, completion, cached_input_tokens=cached)
    assert value is not None
    return value


def usage(prompt: int = 12, completion: int = 5, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        sc.GEN_AI_USAGE_INPUT_TOKENS: prompt,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: completion,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: cached,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: reasoning,
    }


def llm_span(
    operation: str = sc.OPERATION_CHAT, model: str = "gpt-4o", provider: str = sc.PROVIDER_OPENAI
) -> dict[str, Any]:
    return {
        sc.SPAN_KIND: sc.KIND_LLM,
        sc.GEN_AI_OPERATION_NAME: operation,
        sc.GEN_AI_PROVIDER_NAME: provider,
        sc.GEN_AI_REQUEST_MODEL: model,
    }


# --- chat completions ---
def test_chat_completion_records_request_parameters_messages_usage_and_cost(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(
        text="Paris.", prompt_tokens=120, completion_tokens=30, cached_tokens=100, reasoning_tokens=8
    )
    response = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": "Be brief."}, *USER],
        temperature=0.3,
        max_tokens=50,
        top_p=0.9,
        frequency_penalty=0.1,
        presence_penalty=0.2,
        stop=["\n\n", "END"],
        seed=7,
    )
    assert response.choices[0].message.content == "Paris."
    span = traced.only_span()
    assert (span.name, span.kind, span.status.status_code) == (
        "chat gpt-4o",
        SpanKind.CLIENT,
        StatusCode.UNSET,
    )
    assert attributes(span) == {
        **llm_span(),
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.3,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 50,
        sc.GEN_AI_REQUEST_TOP_P: 0.9,
        sc.GEN_AI_REQUEST_FREQUENCY_PENALTY: 0.1,
        sc.GEN_AI_REQUEST_PRESENCE_PENALTY: 0.2,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("\n\n", "END"),
        sc.GEN_AI_REQUEST_SEED: 7,
        sc.GEN_AI_INPUT_MESSAGES: USER_PARTS,
        sc.GEN_AI_SYSTEM_INSTRUCTIONS: [text("Be brief.")],
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o",
        sc.GEN_AI_RESPONSE_ID: response.id,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        **usage(120, 30, cached=100, reasoning=8),
        sc.GEN_AI_OUTPUT_MESSAGES: assistant(text("Paris.")),
        sc.COST_USD: cost("gpt-4o", 120, 30, cached=100),
    }
    # The request went out exactly as the caller wrote it.
    assert fake.bodies()[0] == {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Be brief."}, *USER],
        "temperature": 0.3,
        "max_tokens": 50,
        "top_p": 0.9,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "stop": ["\n\n", "END"],
        "seed": 7,
    }


def test_async_chat_completion_is_traced_and_max_completion_tokens_count_as_max_tokens(
    fake: FakeOpenAI, traced: Traced
) -> None:
    async def call(client: openai.AsyncOpenAI) -> Any:
        return await client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, max_completion_tokens=64, stop="END"
        )

    response = run_async(fake, call)
    assert response.choices[0].message.content == "Hello there!"
    assert attributes(traced.only_span()) == {
        **llm_span(model="gpt-4o-mini"),
        sc.GEN_AI_REQUEST_MAX_TOKENS: 64,
        sc.GEN_AI_REQUEST_STOP_SEQUENCES: ("END",),
        sc.GEN_AI_INPUT_MESSAGES: USER_PARTS,
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        sc.GEN_AI_RESPONSE_ID: response.id,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        **usage(),
        sc.GEN_AI_OUTPUT_MESSAGES: assistant(text("Hello there!")),
        sc.COST_USD: cost("gpt-4o-mini", 12, 5),
    }


def test_tool_calls_and_tool_results_in_messages_and_tool_calls_in_the_answer(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(text="", tool_calls=[("call_2", "get_time", '{"tz": "CET"}')])
    messages = [
        {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/sky.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
    ]
    response = client.chat.completions.create(model="gpt-4o", messages=messages)
    assert response.choices[0].message.tool_calls[0].id == "call_2"
    values = attributes(traced.only_span())
    assert values[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == [text("Use tools.")]
    assert values[sc.GEN_AI_INPUT_MESSAGES] == [
        {
            "role": "user",
            "parts": [
                text("Weather?"),
                {"type": "uri", "modality": "image", "uri": "https://example.com/sky.png"},
            ],
        },
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18C and sunny"}],
        },
    ]
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(
        {"type": "tool_call", "id": "call_2", "name": "get_time", "arguments": {"tz": "CET"}},
        finish="tool_calls",
    )
    assert values[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_calls",)


# Quotes, backslashes, control characters, accents, CJK, an emoji, a line separator, markup.
ANY_TEXT = 'He said "hi" \\ \n\ttab \x00\x1f é 漢字 😀 \u2028 </script>'


def test_messages_of_any_characters_are_recorded_exactly_as_the_json_encoder_writes_them(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(text=ANY_TEXT)
    messages = [
        {"role": "developer", "content": ANY_TEXT},
        {"role": "user", "content": ANY_TEXT},
        {"role": "assistant", "content": ""},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": ANY_TEXT}]},
    ]
    client.chat.completions.create(model="gpt-4o", messages=messages)
    recorded = dict(traced.only_span().attributes or {})
    # The simple messages are written directly as JSON text; it must be the text the general
    # encoding of the same messages gives, character for character.
    expected_input = [
        {"role": "user", "parts": [text(ANY_TEXT)]},
        {"role": "assistant", "parts": [text("")]},
        {"role": "user", "parts": [text(ANY_TEXT)]},
    ]
    assert recorded[sc.GEN_AI_INPUT_MESSAGES] == json_text(expected_input)
    assert recorded[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == json_text([text(ANY_TEXT), text("Be brief.")])
    assert recorded[sc.GEN_AI_OUTPUT_MESSAGES] == json_text(assistant(text(ANY_TEXT)))
    assert json.loads(recorded[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0]["content"] == ANY_TEXT


def test_messages_longer_than_the_cap_are_cut_with_a_marker(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    long_text = "word " * 20_000
    fake.reply = Reply(text=long_text)
    client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "system", "content": long_text}, {"role": "user", "content": long_text}],
    )
    values = attributes(traced.only_span())
    for name in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS, sc.GEN_AI_OUTPUT_MESSAGES):
        cut = values[name]
        assert cut["truncated"] is True and cut["original_chars"] > len(long_text), name
        assert cut["preview"].startswith('[{"'), name
        assert cut["preview"].endswith(f"...[truncated by sentrial: {cut['original_chars']} chars in all]"), (
            name
        )
        assert len(cut["preview"]) < DEFAULT_MAX_CHARS + 100, name


class City(BaseModel):
    city: str


def test_chat_parse_is_traced_once_and_still_parses(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(text='{"city": "Paris"}')
    completion = client.chat.completions.parse(model="gpt-4o", messages=USER, response_format=City)
    assert completion.choices[0].message.parsed == City(city="Paris")
    values = attributes(traced.only_span())
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text('{"city": "Paris"}'))
    assert values[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12


def test_raw_response_calls_are_traced_and_the_caller_still_parses(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER)
    assert raw.headers["content-type"] == "application/json"
    assert raw.parse().choices[0].message.content == "Hello there!"
    assert attributes(traced.only_span())[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


# --- chat streams ---
TOOL_REPLY = Reply(
    text="Checking.",
    tool_calls=[("call_a", "get_weather", '{"city": "Paris"}'), ("call_b", "get_time", '{"tz": "CET"}')],
)
TOOL_PARTS = (
    text("Checking."),
    {"type": "tool_call", "id": "call_a", "name": "get_weather", "arguments": {"city": "Paris"}},
    {"type": "tool_call", "id": "call_b", "name": "get_time", "arguments": {"tz": "CET"}},
)


def test_chat_stream_accumulates_content_and_tool_call_deltas(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = TOOL_REPLY
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    assert isinstance(stream, openai.Stream)
    assert traced.spans() == []  # open until the stream ends
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Checking."
    span = traced.only_span()
    values = attributes(span)
    assert values[sc.LLM_TIME_TO_FIRST_CHUNK_MS] >= 0
    del values[sc.LLM_TIME_TO_FIRST_CHUNK_MS]
    assert values == {
        **llm_span(),
        sc.LLM_STREAM: True,
        sc.GEN_AI_INPUT_MESSAGES: USER_PARTS,
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o",
        sc.GEN_AI_RESPONSE_ID: chunks[0].id,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("tool_calls",),
        sc.GEN_AI_OUTPUT_MESSAGES: assistant(*TOOL_PARTS, finish="tool_calls"),
    }
    # Without the opt-in the request is untouched, so the stream reports no usage.
    assert "stream_options" not in fake.bodies()[0]


def test_include_stream_usage_opt_in_adds_stream_options_only_when_the_caller_set_none(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    set_include_stream_usage(True)
    fake.reply = Reply(prompt_tokens=40, completion_tokens=9, cached_tokens=32)
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert fake.bodies()[0]["stream_options"] == {"include_usage": True}
    values = attributes(traced.only_span())
    assert {k: values[k] for k in usage()} == usage(40, 9, cached=32)
    assert values[sc.COST_USD] == cost("gpt-4o", 40, 9, cached=32)
    own = {"include_usage": False}
    list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True, stream_options=own))
    assert fake.bodies()[1]["stream_options"] == {"include_usage": False}
    assert own == {"include_usage": False}


def test_instrument_option_include_stream_usage(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    instrumentor = OpenAIInstrumentor()
    instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=traced.provider, include_stream_usage=True)
    list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
    assert fake.bodies()[0]["stream_options"] == {"include_usage": True}
    assert attributes(traced.only_span())[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12


def test_async_chat_stream(fake: FakeOpenAI, traced: Traced) -> None:
    fake.reply = TOOL_REPLY

    async def call(client: openai.AsyncOpenAI) -> list[Any]:
        stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
        assert isinstance(stream, openai.AsyncStream)
        return [chunk async for chunk in stream]

    chunks = run_async(fake, call)
    assert len(chunks) > 3
    values = attributes(traced.only_span())
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(*TOOL_PARTS, finish="tool_calls")
    assert sc.LLM_TIME_TO_FIRST_CHUNK_MS in values


def test_stream_used_as_context_manager_ends_its_span_once(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    with client.chat.completions.create(model="gpt-4o", messages=USER, stream=True) as stream:
        first = next(stream)
    assert first.choices[0].delta.role == "assistant"
    span = traced.only_span()
    assert span.status.status_code == StatusCode.UNSET


def test_stream_closed_early_ends_with_what_arrived(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(text="abcdefghij" * 50, pieces=500)
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    received = [next(stream) for _ in range(4)]  # the role chunk and three letters
    stream.close()
    stream.close()
    span = traced.only_span()
    assert span.status.status_code == StatusCode.UNSET
    values = attributes(span)
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text("abc"), finish=None)
    assert sc.GEN_AI_RESPONSE_FINISH_REASONS not in values
    assert len(received) == 4


def test_abandoned_stream_ends_as_abandoned(fake: FakeOpenAI, traced: Traced, client: openai.OpenAI) -> None:
    fake.reply = Reply(text="x" * 500, pieces=500)
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    next(stream)
    next(stream)
    del stream
    gc.collect()
    span = wait_until(lambda: traced.spans() and traced.spans()[0], what="the abandoned stream's span")
    assert len(traced.spans()) == 1
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, sc.LLM_ABANDONED_MESSAGE)
    assert attributes(span)[sc.ERROR_TYPE_ATTRIBUTE] == "abandoned"
    assert attributes(span)[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text("x"), finish=None)


def test_stream_error_event_fails_the_span_with_what_arrived(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(text="abc", pieces=3, stream_error_after=3)
    stream = client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    span = traced.only_span()
    assert span.status.status_code == StatusCode.ERROR
    assert attributes(span)[sc.ERROR_TYPE_ATTRIBUTE] == "APIError"
    assert str(caught.value) in (span.status.description or "")
    assert attributes(span)[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text("ab"), finish=None)


def test_chat_stream_helper_is_traced_once_and_keeps_its_events(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = TOOL_REPLY
    with client.chat.completions.stream(model="gpt-4o", messages=USER) as stream:
        kinds = {event.type for event in stream}
        final = stream.get_final_completion()
    assert {"content.delta", "tool_calls.function.arguments.done"} <= kinds
    assert final.choices[0].message.tool_calls[1].function.name == "get_time"
    values = attributes(traced.only_span())
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(*TOOL_PARTS, finish="tool_calls")


def test_leaving_a_stream_helper_early_ends_the_span_at_once(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(text="y" * 300, pieces=300)
    with client.chat.completions.stream(model="gpt-4o", messages=USER) as stream:
        for event in stream:
            if event.type == "content.delta" and event.delta:
                break
    span = traced.only_span()  # ended on leaving the block, not when the stream is collected
    assert span.status.status_code == StatusCode.UNSET
    assert attributes(span)[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text("y"), finish=None)
    assert stream.current_completion_snapshot.choices[0].message.content == "y"


def test_leaving_an_async_stream_helper_early_ends_the_span_at_once(fake: FakeOpenAI, traced: Traced) -> None:
    fake.reply = Reply(text="z" * 300, pieces=300)

    async def call(client: openai.AsyncOpenAI) -> None:
        async with client.chat.completions.stream(model="gpt-4o", messages=USER) as stream:
            async for event in stream:
                if event.type == "content.delta" and event.delta:
                    break
        assert len(traced.spans()) == 1

    run_async(fake, call)
    assert attributes(traced.only_span())[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text("z"), finish=None)


# --- the Responses API ---
RESPONSES_INPUT: list[Any] = [
    {"role": "user", "content": "Weather in Paris?"},
    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
    {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
    {"role": "user", "content": [{"type": "input_text", "text": "And tomorrow?"}]},
]
RESPONSES_MESSAGES = [
    {"role": "user", "parts": [text("Weather in Paris?")]},
    {
        "role": "assistant",
        "parts": [
            {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
        ],
    },
    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "18C"}]},
    {"role": "user", "parts": [text("And tomorrow?")]},
]


def test_responses_create_records_instructions_items_usage_and_output(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(
        text="Rain.",
        tool_calls=[("call_9", "get_forecast", '{"day": 2}')],
        prompt_tokens=300,
        completion_tokens=40,
        cached_tokens=256,
        reasoning_tokens=16,
    )
    response = client.responses.create(
        model="gpt-4.1",
        instructions="You are a weather bot.",
        input=RESPONSES_INPUT,
        temperature=0.5,
        top_p=0.8,
        max_output_tokens=200,
    )
    assert response.output_text == "Rain."
    span = traced.only_span()
    assert span.name == "chat gpt-4.1"
    assert attributes(span) == {
        **llm_span(model="gpt-4.1"),
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.5,
        sc.GEN_AI_REQUEST_TOP_P: 0.8,
        sc.GEN_AI_REQUEST_MAX_TOKENS: 200,
        sc.GEN_AI_INPUT_MESSAGES: RESPONSES_MESSAGES,
        sc.GEN_AI_SYSTEM_INSTRUCTIONS: [text("You are a weather bot.")],
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4.1",
        sc.GEN_AI_RESPONSE_ID: response.id,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("tool_calls",),
        **usage(300, 40, cached=256, reasoning=16),
        sc.GEN_AI_OUTPUT_MESSAGES: assistant(
            text("Rain."),
            {"type": "tool_call", "id": "call_9", "name": "get_forecast", "arguments": {"day": 2}},
            finish="tool_calls",
        ),
        sc.COST_USD: cost("gpt-4.1", 300, 40, cached=256),
    }


def test_responses_incomplete_answer_finishes_with_length(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(text="Partial", finish_reason="length")
    client.responses.create(model="gpt-4o", input="Write a novel.")
    assert attributes(traced.only_span())[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)


def test_async_responses_create_and_parse(fake: FakeOpenAI, traced: Traced) -> None:
    fake.reply = Reply(text='{"city": "Paris"}')

    async def call(client: openai.AsyncOpenAI) -> Any:
        await client.responses.create(model="gpt-4o", input="Which city?")
        return await client.responses.parse(model="gpt-4o", input="Which city?", text_format=City)

    parsed = run_async(fake, call)
    assert parsed.output_parsed == City(city="Paris")
    spans = traced.spans()
    assert len(spans) == 2
    for span in spans:
        values = attributes(span)
        assert values[sc.GEN_AI_INPUT_MESSAGES] == [{"role": "user", "parts": [text("Which city?")]}]
        assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text('{"city": "Paris"}'))


def test_responses_stream_accumulates_events(fake: FakeOpenAI, traced: Traced, client: openai.OpenAI) -> None:
    fake.reply = Reply(text="Sunny.", tool_calls=[("call_s", "get_uv", "{}")], cached_tokens=8)
    events = list(client.responses.create(model="gpt-4o", input="Weather?", stream=True))
    assert events[-1].type == "response.completed"
    values = attributes(traced.only_span())
    assert values[sc.LLM_STREAM] is True
    assert values[sc.GEN_AI_RESPONSE_ID] == events[-1].response.id
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(
        text("Sunny."),
        {"type": "tool_call", "id": "call_s", "name": "get_uv", "arguments": {}},
        finish="tool_calls",
    )
    assert {k: values[k] for k in usage()} == usage(cached=8)


def test_responses_stream_helper_sync_is_traced_once(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    with client.responses.stream(model="gpt-4o", input="Hi", instructions="Be kind.") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "Hello there!"
    values = attributes(traced.only_span())
    assert values[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == [text("Be kind.")]
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text("Hello there!"))
    assert values[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_responses_stream_helper_async_is_traced_once(fake: FakeOpenAI, traced: Traced) -> None:
    async def call(client: openai.AsyncOpenAI) -> str:
        async with client.responses.stream(model="gpt-4o", input="Hi") as stream:
            return (await stream.get_final_response()).output_text

    assert run_async(fake, call) == "Hello there!"
    values = attributes(traced.only_span())
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text("Hello there!"))
    assert sc.LLM_TIME_TO_FIRST_CHUNK_MS in values


def test_leaving_a_responses_stream_helper_early_keeps_the_partial_answer(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(text="w" * 200, pieces=200)
    with client.responses.stream(model="gpt-4o", input="Hi") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                break
    span = traced.only_span()
    assert span.status.status_code == StatusCode.UNSET
    values = attributes(span)
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text("w"), finish=None)
    assert values[sc.GEN_AI_RESPONSE_ID] == "resp_1"


# --- embeddings ---
def test_embeddings_record_input_tokens_and_cost_without_messages(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(prompt_tokens=64)
    result = client.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
    assert [d.embedding for d in result.data] == [[0.25, -0.5, 0.75]] * 2
    span = traced.only_span()
    assert span.name == "embeddings text-embedding-3-small"
    assert attributes(span) == {
        **llm_span(sc.OPERATION_EMBEDDINGS, "text-embedding-3-small"),
        sc.GEN_AI_RESPONSE_MODEL: "text-embedding-3-small",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 64,
        sc.COST_USD: cost("text-embedding-3-small", 64, 0),
    }


def test_async_embeddings(fake: FakeOpenAI, traced: Traced) -> None:
    async def call(client: openai.AsyncOpenAI) -> Any:
        return await client.embeddings.create(
            model="text-embedding-3-large", input="one", encoding_format="float"
        )

    assert run_async(fake, call).data[0].embedding == [0.25, -0.5, 0.75]
    assert attributes(traced.only_span())[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12


# --- Azure ---
def test_azure_clients_are_traced_as_azure_openai(fake: FakeOpenAI, traced: Traced) -> None:
    with openai.AzureOpenAI(
        azure_endpoint=fake.azure_endpoint, api_version="2024-10-21", api_key="test-key", max_retries=0
    ) as azure:
        azure.chat.completions.create(model="gpt-4o", messages=USER)
    assert fake.requests[0]["path"] == "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    assert fake.requests[0]["headers"]["api-key"] == "test-key"

    async def call() -> None:
        async with openai.AsyncAzureOpenAI(
            azure_endpoint=fake.azure_endpoint, api_version="2024-10-21", api_key="test-key", max_retries=0
        ) as azure:
            await azure.embeddings.create(model="text-embedding-3-small", input="one")

    asyncio.run(call())
    chat, embedding = traced.spans()
    assert attributes(chat)[sc.GEN_AI_PROVIDER_NAME] == sc.PROVIDER_AZURE_OPENAI
    assert attributes(chat)[sc.COST_USD] == cost("gpt-4o", 12, 5)
    assert attributes(embedding)[sc.GEN_AI_PROVIDER_NAME] == sc.PROVIDER_AZURE_OPENAI


# --- errors ---
@pytest.mark.parametrize(
    ("status", "error_class"), [(429, openai.RateLimitError), (500, openai.InternalServerError)]
)
def test_http_errors_fail_the_span_and_reach_the_caller(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI, status: int, error_class: type[Exception]
) -> None:
    fake.reply = Reply(status=status, retry_after="7")
    with pytest.raises(error_class) as caught:
        client.chat.completions.create(model="gpt-4o", messages=USER)
    assert type(caught.value) is error_class
    assert caught.value.response.headers["retry-after"] == "7"
    span = traced.only_span()
    assert span.status.status_code == StatusCode.ERROR
    assert attributes(span)[sc.ERROR_TYPE_ATTRIBUTE] == str(status)
    (event,) = span.events
    assert str(event.attributes[sc.EXCEPTION_TYPE]).endswith(error_class.__qualname__)


def test_async_rate_limit_fails_the_span(fake: FakeOpenAI, traced: Traced) -> None:
    fake.reply = Reply(status=429, retry_after="1")

    async def call(client: openai.AsyncOpenAI) -> None:
        with pytest.raises(openai.RateLimitError):
            await client.responses.create(model="gpt-4o", input="Hi")

    run_async(fake, call)
    span = traced.only_span()
    assert (span.status.status_code, attributes(span)[sc.ERROR_TYPE_ATTRIBUTE]) == (StatusCode.ERROR, "429")


def test_client_timeout_fails_the_span(fake: FakeOpenAI, traced: Traced) -> None:
    fake.reply = Reply(delay=30)
    slow = openai.OpenAI(base_url=fake.url, api_key="test-key", max_retries=0, timeout=0.2)
    with slow, pytest.raises(openai.APITimeoutError):
        slow.chat.completions.create(model="gpt-4o", messages=USER)
    span = traced.only_span()
    assert (span.status.status_code, attributes(span)[sc.ERROR_TYPE_ATTRIBUTE]) == (
        StatusCode.ERROR,
        "APITimeoutError",
    )


def test_llm_calls_after_reseeding_random_get_distinct_ids(traced: Traced, client: openai.OpenAI) -> None:
    for _ in range(5):
        random.seed(42)  # the provider's own generator would repeat its ids after this
        client.chat.completions.create(model="gpt-4o", messages=USER)
    spans = traced.spans()
    assert len(spans) == 5
    assert len({span.context.span_id for span in spans}) == 5
    assert len({span.context.trace_id for span in spans}) == 5


def test_the_caller_gets_the_very_exception_object(
    traced: Traced, client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = openai.APIConnectionError(request=httpx.Request("POST", str(client.base_url)))

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(client.chat.completions, "_post", refuse)
    with pytest.raises(openai.APIConnectionError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=USER)
    assert caught.value is error
    assert attributes(traced.only_span())[sc.ERROR_TYPE_ATTRIBUTE] == "APIConnectionError"


# --- the instrumentation never breaks a call ---
def test_an_answer_missing_fields_is_returned_and_traced_with_what_it_has(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(usage=False, drop_fields=("choices", "model"))
    response = client.chat.completions.create(model="gpt-4o", messages=USER)
    assert response.id == "chatcmpl-1"
    values = attributes(traced.only_span())
    assert values[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-1"
    assert sc.GEN_AI_USAGE_INPUT_TOKENS not in values and sc.COST_USD not in values


def test_bugs_in_describe_finish_or_accumulate_never_break_the_call(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("instrumentation bug")

    monkeypatch.setattr(instrumentation, "chat_result", broken)
    assert (
        client.chat.completions.create(model="gpt-4o", messages=USER).choices[0].message.content
        == "Hello there!"
    )
    assert traced.only_span().status.status_code == StatusCode.UNSET  # ended, with the request's side
    monkeypatch.setattr(instrumentation.ChatStreamAccumulator, "add", broken)
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=USER, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Hello there!"
    assert len(traced.spans()) == 2
    monkeypatch.setattr(instrumentation, "chat_parameters", broken)
    assert client.chat.completions.create(model="gpt-4o", messages=USER).id
    assert len(traced.spans()) == 2  # an undescribable call goes through untraced


# --- content capture, wrapping, uninstrument ---
def test_content_capture_off_keeps_messages_out_of_spans_and_the_server(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI, local_server: LocalServer
) -> None:
    set_capture_content(False)
    sentrial_client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=traced.provider)
    with sentrial_client.begin(user_id="u", event="private") as interaction:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "system", "content": "secret"}, *USER]
        )
        list(client.responses.create(model="gpt-4o", input="secret too", stream=True))
    assert sentrial_client.flush(timeout=5)
    sentrial_client.shutdown(timeout=5)
    content = {sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS}
    llm_spans = [s for s in traced.spans() if attributes(s).get(sc.SPAN_KIND) == sc.KIND_LLM]
    assert len(llm_spans) == 2
    assert all(not content & set(s.attributes or {}) for s in llm_spans)
    session = local_server.session(interaction.session_id)
    assert session is not None
    for event in session["events"]:
        assert event["toolInput"] == {"model": "gpt-4o", "provider": "openai"}
        assert event["toolOutput"]["content"] is None
    assert "secret" not in json.dumps(session)


def test_wrapping_twice_gives_one_span_per_call(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    traced = Traced()
    tracer = traced.provider.get_tracer(TRACER_NAME)
    assert (
        wrap_instance(client, PATCHES, tracer) == 5
    )  # chat create/parse, responses create/parse, embeddings
    assert wrap_instance(client, PATCHES, tracer) == 5
    client.chat.completions.create(model="gpt-4o", messages=USER)
    client.embeddings.create(model="text-embedding-3-small", input="one")
    assert [s.name for s in traced.spans()] == ["chat gpt-4o", "embeddings text-embedding-3-small"]


def test_instrument_and_wrap_give_one_span_per_call(fake: FakeOpenAI, traced: Traced) -> None:
    async def call(client: openai.AsyncOpenAI) -> None:
        wrap_instance(client, PATCHES, traced.provider.get_tracer(TRACER_NAME))
        await client.chat.completions.create(model="gpt-4o", messages=USER)
        stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
        async for _ in stream:
            pass

    run_async(fake, call)
    assert [attributes(s).get(sc.LLM_STREAM) for s in traced.spans()] == [None, True]


def test_wrap_openai_of_a_non_openai_object_changes_nothing() -> None:
    thing = object()
    assert sentrial.wrap_openai(thing) is thing


def test_uninstrument_restores_the_original_methods(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    owners = [(p.resolve_owner(), p.method) for p in PATCHES]
    present = [(owner, method) for owner, method in owners if owner is not None]
    assert len(present) == len(PATCHES) == 10
    originals = {(owner, method): owner.__dict__[method] for owner, method in present}
    traced = Traced()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=traced.provider)
    try:
        assert all(isinstance(owner.__dict__[method], wrapt.FunctionWrapper) for owner, method in present)
    finally:
        instrumentor.uninstrument()
    assert all(owner.__dict__[method] is originals[(owner, method)] for owner, method in present)
    client.chat.completions.create(model="gpt-4o", messages=USER)
    assert traced.spans() == []


# --- end to end: the local Sessions API server ---
def test_session_gets_one_llm_tool_call_per_call_and_totals_add_them_up(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI, local_server: LocalServer
) -> None:
    sentrial_client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=traced.provider)
    fake.reply = Reply(text="Paris.", prompt_tokens=1000, completion_tokens=200, cached_tokens=400)
    with sentrial_client.begin(user_id="u1", event="qa", input="Capital?") as interaction:
        client.chat.completions.create(model="gpt-4o", messages=USER)
        fake.reply = Reply(text="Hi!", prompt_tokens=50, completion_tokens=10)
        client.responses.create(model="gpt-4o-mini", input="Say hi", instructions="Be kind.")
    assert sentrial_client.flush(timeout=5)
    sentrial_client.shutdown(timeout=5)
    session = local_server.session(interaction.session_id)
    assert session is not None
    chat_event, responses_event = session["events"]
    chat_cost, responses_cost = cost("gpt-4o", 1000, 200, cached=400), cost("gpt-4o-mini", 50, 10)
    assert {
        k: chat_event[k]
        for k in ("eventType", "toolName", "toolInput", "toolOutput", "estimatedCost", "tokenCount")
    } == {
        "eventType": "tool_call",
        "toolName": "llm:openai:gpt-4o",
        "toolInput": {
            "messages": [{"role": "user", "content": "Capital of France?"}],
            "model": "gpt-4o",
            "provider": "openai",
        },
        "toolOutput": {
            "content": "Paris.",
            "tokens": {"prompt": 1000, "completion": 200, "total": 1200},
            "cost_usd": chat_cost,
        },
        "estimatedCost": chat_cost,
        "tokenCount": 1200,
    }
    assert responses_event["toolName"] == "llm:openai:gpt-4o-mini"
    assert responses_event["toolInput"]["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Say hi"},
    ]
    assert responses_event["toolOutput"]["content"] == "Hi!"
    assert responses_event["estimatedCost"] == responses_cost
    assert (session["promptTokens"], session["completionTokens"], session["totalTokens"]) == (1050, 210, 1260)
    assert session["estimatedCost"] == pytest.approx(chat_cost + responses_cost)


def test_a_stream_read_after_finish_is_recorded_and_counted_in_the_session(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI, local_server: LocalServer
) -> None:
    # An agent that returns the stream for its caller (a web framework) to read after finish().
    sentrial_client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=traced.provider)
    fake.reply = Reply(text="Paris.", prompt_tokens=10, completion_tokens=3)
    interaction = sentrial_client.begin(user_id="u1", event="qa", input="Capital?")
    stream = client.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    interaction.finish(output="streamed", estimated_cost=0.5)  # a cost given: only the tokens are summed
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "Paris."
    assert sentrial_client.flush(timeout=5)
    sentrial_client.shutdown(timeout=5)

    sid = interaction.session_id
    calls = [(r["method"], r["json"]) for r in local_server.requests if sid in json.dumps(r)]
    # Sent after the completion it ended after, then the completion's totals again, with it counted.
    assert [method for method, _ in calls] == ["POST", "PATCH", "POST", "PATCH"]
    assert calls[3][1] == {
        "status": "completed",
        "success": True,
        "promptTokens": 10,
        "completionTokens": 3,
        "totalTokens": 13,
    }
    session = local_server.session(sid)  # type: ignore[arg-type]
    assert session is not None and [e["toolName"] for e in session["events"]] == ["llm:openai:gpt-4o"]
    assert (session["status"], session["assistantOutput"], session["estimatedCost"]) == (
        "completed",
        "streamed",
        0.5,
    )
    assert (session["promptTokens"], session["completionTokens"], session["totalTokens"]) == (10, 3, 13)


def test_reference_wrap_openai_example(fake: FakeOpenAI, local_server: LocalServer) -> None:
    """The SDK reference's LLM auto-wrapper example, as written (pointed at the fakes)."""
    from openai import OpenAI

    from sentrial import configure, wrap_openai

    user_query = "How do I reset my password?"
    fake.reply = Reply(text="Use the reset link.", prompt_tokens=20, completion_tokens=6)
    configure(api_key="sentrial_live_xxx", api_url=local_server.url, instrument=False)
    try:
        # Wrap your LLM client — all calls are now auto-tracked
        client = wrap_openai(OpenAI(base_url=fake.url, api_key="test-key"))
        interaction = sentrial.begin(user_id="user_123", event="chat", input=user_query)
        # This call is automatically tracked
        response = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": user_query}]
        )
        interaction.finish(output=response.choices[0].message.content)
        assert sentrial.flush(timeout=5)
    finally:
        sentrial.shutdown(timeout=5)
    session = local_server.session(interaction.session_id)
    assert session is not None
    (event,) = session["events"]
    assert event["toolName"] == "llm:openai:gpt-4o"
    assert event["toolOutput"]["tokens"] == {"prompt": 20, "completion": 6, "total": 26}
    assert event["estimatedCost"] == cost("gpt-4o", 20, 6)
    assert (session["status"], session["assistantOutput"]) == ("completed", "Use the reset link.")
    assert (session["promptTokens"], session["completionTokens"]) == (20, 6)
    assert session["estimatedCost"] == cost("gpt-4o", 20, 6)


@pytest.mark.parametrize("make_copy", ["with_options", "copy"])
def test_copies_of_a_wrapped_client_are_wrapped_too(
    fake: FakeOpenAI, client: openai.OpenAI, make_copy: str
) -> None:
    traced = Traced()
    wrap_instance(client, PATCHES, traced.provider.get_tracer(TRACER_NAME))
    changed = getattr(client, make_copy)(timeout=30.0)
    assert isinstance(changed, openai.OpenAI) and changed is not client
    changed.chat.completions.create(model="gpt-4o", messages=USER)
    changed.with_options(max_retries=0).embeddings.create(model="text-embedding-3-small", input="one")
    client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    names = [s.name for s in traced.spans()]
    assert names == ["chat gpt-4o", "embeddings text-embedding-3-small", "chat gpt-4o-mini"]


def test_raw_response_streams_record_what_the_caller_reads(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    """LangChain streams through ``with_raw_response``: the span follows the chunks of ``parse()``."""
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert traced.spans() == []  # the span is open while the stream is
    text_read = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text_read == "Hello there!"
    values = attributes(traced.only_span())
    assert values[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text("Hello there!"))


def test_async_raw_response_streams_record_what_the_caller_reads(fake: FakeOpenAI, traced: Traced) -> None:
    async def call(client: openai.AsyncOpenAI) -> str:
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        return "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])

    assert run_async(fake, call) == "Hello there!"
    assert attributes(traced.only_span())[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5


def test_streaming_response_is_recorded_when_the_caller_parses_it(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    with client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=USER) as response:
        assert traced.spans() == []  # the body is the caller's to read: nothing to record yet
        completion = response.parse()
        assert response.parse() is completion
    assert completion.choices[0].message.content == "Hello there!"
    values = attributes(traced.only_span())
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text("Hello there!"))
    assert values[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert values[sc.COST_USD] == cost("gpt-4o", 12, 5)


def test_streamed_streaming_response_follows_the_chunks_and_closes_with_its_block(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    fake.reply = Reply(text="abcdefghij" * 50, pieces=500)
    create = client.chat.completions.with_streaming_response.create
    with create(model="gpt-4o", messages=USER, stream=True) as response:
        stream = response.parse()
        received = [next(stream) for _ in range(4)]  # the role chunk and three letters
        assert traced.spans() == []
    span = traced.only_span()  # the block's end closed the stream left early: ended once, with what came
    assert attributes(span)[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text("abc"), finish=None)
    assert span.status.status_code == StatusCode.UNSET
    assert len(received) == 4


def test_streaming_response_read_raw_ends_its_span_once_without_an_answer(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    create = client.chat.completions.with_streaming_response.create
    with create(model="gpt-4o", messages=USER, stream=True) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data:")]
    assert lines[-1] == "data: [DONE]"
    span = traced.only_span()
    assert span.status.status_code == StatusCode.UNSET
    assert sc.GEN_AI_OUTPUT_MESSAGES not in attributes(span)
    assert attributes(span)[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o"


def test_async_streaming_responses_are_recorded_when_parsed(fake: FakeOpenAI, traced: Traced) -> None:
    async def call(client: openai.AsyncOpenAI) -> str:
        create = client.chat.completions.with_streaming_response.create
        async with create(model="gpt-4o", messages=USER) as response:
            completion = await response.parse()
        streamed_call = create(
            model="gpt-4o-mini", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        async with streamed_call as response:
            chunks = [c async for c in await response.parse()]
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return f"{completion.choices[0].message.content}|{streamed}"

    assert run_async(fake, call) == "Hello there!|Hello there!"
    first, second = traced.spans()
    assert attributes(first)[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 5
    assert (second.name, attributes(second)[sc.GEN_AI_USAGE_OUTPUT_TOKENS]) == ("chat gpt-4o-mini", 5)
    assert attributes(second)[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(text("Hello there!"))


def test_streaming_responses_of_the_responses_api_and_embeddings(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    with client.responses.with_streaming_response.create(model="gpt-4o", input="Hi") as response:
        response.parse()
    embed = client.embeddings.with_streaming_response.create
    with embed(model="text-embedding-3-small", input="Hi") as response:
        response.parse()
    chat, embeddings = traced.spans()
    assert attributes(chat)[sc.GEN_AI_USAGE_OUTPUT_TOKENS] is not None
    assert attributes(embeddings)[sc.GEN_AI_USAGE_INPUT_TOKENS] is not None


def test_streaming_response_dropped_unread_and_unclosed_ends_as_abandoned(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    manager = client.chat.completions.with_streaming_response.create(model="gpt-4o", messages=USER)
    response = manager.__enter__()  # entered by hand and never left: nothing closes the response
    response.http_response.close()  # hand the connection back; the proxy itself is only dropped
    del manager, response
    gc.collect()
    span = wait_until(lambda: traced.spans() and traced.spans()[0], what="the dropped response's span")
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, sc.LLM_ABANDONED_MESSAGE)
    assert len(traced.spans()) == 1


def test_configure_instruments_again_after_an_uninstrument(local_server: LocalServer) -> None:
    instrumentor = OpenAIInstrumentor()  # the one instance there is
    try:
        sentrial.configure(api_key="k", api_url=local_server.url)
        assert instrumentor.is_instrumented_by_opentelemetry
        uninstrument_all()
        assert not instrumentor.is_instrumented_by_opentelemetry
        sentrial.configure(api_key="k", api_url=local_server.url)
        assert instrumentor.is_instrumented_by_opentelemetry
    finally:
        sentrial.shutdown(timeout=5)
