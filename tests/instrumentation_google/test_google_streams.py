"""The google-genai instrumentation on streams, sync and async: read whole, slow, closed early,
abandoned or failing mid-stream."""

from __future__ import annotations

import asyncio
import gc
import types as pytypes
from typing import Any

from fake_google import FakeGemini
from google.genai import types
from google_support import (
    ANSWER,
    CONFIG,
    MODEL,
    SERVED_MODEL,
    answer,
    assert_abandoned,
    attrs,
    compact,
    default_cost,
    gemini,
    llm_spans,
    messages,
    one_span,
    text_message,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.trace import StatusCode

from sentrial import semconv as sc

# --- streams --------------------------------------------------------------------------------------
STREAM_ATTRIBUTES = {
    sc.GEN_AI_RESPONSE_MODEL: SERVED_MODEL,
    sc.GEN_AI_RESPONSE_ID: "resp-123",
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 12,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 5,  # the last running total, not the sum of the chunks' totals
    sc.GEN_AI_REQUEST_STREAM: True,
}


def assert_stream_span(span: ReadableSpan) -> None:
    """A fully read stream of the fake's default answer."""
    assert span.status.status_code == StatusCode.UNSET
    values = attrs(span)
    assert {k: values.get(k) for k in STREAM_ATTRIBUTES} == STREAM_ATTRIBUTES
    assert values[sc.COST_USD] == default_cost()
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == compact(answer())
    assert values[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] >= 0


def test_stream(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    stream = gemini(fake).models.generate_content_stream(model=MODEL, contents="Say hello", config=CONFIG)

    assert isinstance(stream, pytypes.GeneratorType)
    assert llm_spans(provider) == []
    chunks = list(stream)

    assert "".join(chunk.text or "" for chunk in chunks) == ANSWER
    assert len(chunks) == 3
    assert all(isinstance(chunk, types.GenerateContentResponse) for chunk in chunks)
    span = one_span(provider)
    assert_stream_span(span)
    assert attrs(span)[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.2


def test_async_stream(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    async def read() -> list[str]:
        stream = await gemini(fake).aio.models.generate_content_stream(model=MODEL, contents="Say hello")
        assert isinstance(stream, pytypes.AsyncGeneratorType)
        return [chunk.text or "" async for chunk in stream]

    assert "".join(asyncio.run(read())) == ANSWER
    assert_stream_span(one_span(provider))


def test_stream_with_tool_call(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    call = {"functionCall": {"id": "c1", "name": "lookup", "args": {"q": "x"}}}
    fake.reply(parts=[{"text": "Looking "}, {"text": "it up."}, call])

    chunks = list(gemini(fake).models.generate_content_stream(model=MODEL, contents="Find x"))

    assert chunks[-1].function_calls is not None
    assert messages(one_span(provider), sc.GEN_AI_OUTPUT_MESSAGES) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Looking it up."},
                {"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"q": "x"}},
            ],
            "finish_reason": "stop",
        }
    ]


def test_slow_stream_time_to_first_chunk(
    fake: FakeGemini, provider: TracerProvider, instrumented: Any
) -> None:
    fake.reply(chunks=4, chunk_delay=0.05)

    chunks = list(gemini(fake).models.generate_content_stream(model=MODEL, contents="Slowly"))

    assert len(chunks) == 4
    span = one_span(provider)
    assert span.end_time is not None and span.start_time is not None
    duration_s = (span.end_time - span.start_time) / 1e9
    # in seconds; three gaps of 50 ms follow the first chunk
    assert attrs(span)[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] < duration_s - 0.1


def test_stream_closed_early(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    fake.reply(text="x" * 50, chunks=50)
    stream: Any = gemini(fake).models.generate_content_stream(model=MODEL, contents="Long")

    first = next(stream)
    stream.close()

    assert first.text == "x"
    span = one_span(provider)
    assert span.status.status_code == StatusCode.UNSET
    assert messages(span, sc.GEN_AI_OUTPUT_MESSAGES) == [text_message("assistant", "x")]
    assert attrs(span)[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 0  # 5 * 1/50, rounded, as the fake reported it
    del stream
    gc.collect()
    assert len(llm_spans(provider)) == 1


def test_async_stream_closed_early(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    fake.reply(text="y" * 50, chunks=50)

    async def read_one() -> str | None:
        stream: Any = await gemini(fake).aio.models.generate_content_stream(model=MODEL, contents="Long")
        first: types.GenerateContentResponse = await stream.__anext__()
        await stream.aclose()
        return first.text

    assert asyncio.run(read_one()) == "y"
    span = one_span(provider)
    assert span.status.status_code == StatusCode.UNSET
    assert messages(span, sc.GEN_AI_OUTPUT_MESSAGES) == [text_message("assistant", "y")]


def test_abandoned_stream(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    fake.reply(text="z" * 50, chunks=50)
    stream = gemini(fake).models.generate_content_stream(model=MODEL, contents="Long")
    next(stream)
    next(stream)

    del stream
    gc.collect()

    assert_abandoned(provider, "zz")


def test_abandoned_async_stream(fake: FakeGemini, provider: TracerProvider, instrumented: Any) -> None:
    fake.reply(text="w" * 50, chunks=50)

    async def abandon() -> None:
        stream = await gemini(fake).aio.models.generate_content_stream(model=MODEL, contents="Long")
        await stream.__anext__()
        del stream
        gc.collect()
        await asyncio.sleep(0)  # let the loop finalize the dropped async generator

    asyncio.run(abandon())
    assert_abandoned(provider, "w")
