"""The OpenAI instrumentation on the Responses API (created, parsed and streamed), embeddings and
Azure clients."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
from fake_openai import FakeOpenAI, Reply
from openai_support import USER, City, Traced, assistant, attributes, cost, llm_span, run_async, text, usage
from opentelemetry.trace import StatusCode

from sentrial import semconv as sc

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
        service_tier="flex",
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
        sc.OPENAI_API_TYPE: "responses",
        sc.OPENAI_REQUEST_SERVICE_TIER: "flex",
        sc.OPENAI_RESPONSE_SERVICE_TIER: "default",
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
    assert values[sc.GEN_AI_REQUEST_STREAM] is True
    assert values[sc.GEN_AI_RESPONSE_ID] == events[-1].response.id
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == assistant(
        text("Sunny."),
        {"type": "tool_call", "id": "call_s", "name": "get_uv", "arguments": {}},
        finish="tool_calls",
    )
    assert {k: values[k] for k in usage()} == usage(cached=8)
    assert values[sc.OPENAI_RESPONSE_SERVICE_TIER] == "default"  # from the final response


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
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in values


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
