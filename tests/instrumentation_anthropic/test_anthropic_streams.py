"""The Anthropic instrumentation on streams: stream=True and the stream helpers, sync and async,
read whole, left early, abandoned or failing, and streaming responses parsed by the caller."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import anthropic
import pytest
from anthropic.lib.streaming import AsyncMessageStream, MessageStream, MessageStreamManager
from anthropic_support import (
    ANSWER,
    async_client,
    attrs,
    base_attributes,
    create_kwargs,
    llm_spans,
    only_span,
    sync_client,
)
from fake_anthropic import FakeAnthropic, Reply
from helpers import wait_until
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from sentrial import semconv as sc


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
    assert (span.attributes or {})[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0


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
