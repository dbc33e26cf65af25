"""The OpenAI instrumentation on streamed chat completions: streams read whole, left early,
abandoned or failing, the stream helpers, and raw or streaming responses read by the caller."""

from __future__ import annotations

import gc
from typing import Any

import openai
import pytest
from fake_openai import FakeOpenAI, Reply
from helpers import wait_until
from openai_support import (
    USER,
    USER_PARTS,
    Traced,
    assistant,
    attributes,
    cost,
    llm_span,
    run_async,
    text,
    usage,
)
from opentelemetry.trace import StatusCode

from sentrial import SentrialClient
from sentrial import semconv as sc
from sentrial.instrumentation.openai import OpenAIInstrumentor, set_include_stream_usage
from sentrial.server import LocalServer

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
    assert values[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0
    del values[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    assert values == {
        **llm_span(),
        sc.GEN_AI_REQUEST_STREAM: True,
        sc.OPENAI_API_TYPE: "chat_completions",
        sc.OPENAI_RESPONSE_SERVICE_TIER: "default",  # as every chunk says
        sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_fake",
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
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK in values


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


def test_a_streamed_calls_event_carries_its_parameters_finish_reason_and_first_chunk_time(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI, local_server: LocalServer
) -> None:
    """The event's metadata gives a reader what the span knows: the request's parameters, why the
    answer ended, and when its first chunk came (the span's seconds, as milliseconds)."""
    sentrial_client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=traced.provider)
    with sentrial_client.begin(user_id="u", event="streamed") as interaction:
        list(client.chat.completions.create(model="gpt-4o", messages=USER, temperature=0.2, stream=True))
    assert sentrial_client.flush(timeout=5)
    sentrial_client.shutdown(timeout=5)
    (span,) = (s for s in traced.spans() if (s.attributes or {}).get(sc.SPAN_KIND) == sc.KIND_LLM)
    first_chunk_s = (span.attributes or {})[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK]
    session = local_server.session(interaction.session_id)
    assert session is not None
    (event,) = session["events"]
    metadata = event["metadata"]
    assert metadata["parameters"]["temperature"] == 0.2
    assert metadata["finish_reason"] == "stop"
    assert metadata["time_to_first_chunk_ms"] == pytest.approx(first_chunk_s * 1000, abs=0.001)
