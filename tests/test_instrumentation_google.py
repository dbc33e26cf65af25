"""The google-genai instrumentation, with the real SDK talking to a fake Gemini API on 127.0.0.1.

Every test gets its own TracerProvider with an in-memory exporter; instrumentors are always undone
in teardown. End-to-end tests deliver the spans to the project's LocalServer.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import ssl
import types as pytypes
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from fake_google import FakeGemini
from google import genai
from google.genai import errors, types
from google.genai import models as genai_models
from helpers import wait_until
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from sentrial import SentrialClient, pricing
from sentrial import semconv as sc
from sentrial.instrumentation import google_genai
from sentrial.instrumentation._base import wrap_instance
from sentrial.instrumentation._llm import set_capture_content
from sentrial.instrumentation.google_genai import PATCHES, GoogleGenAIInstrumentor
from sentrial.server import LocalServer
from sentrial.wrappers import wrap_google, wrap_llm

MODEL = "gemini-2.0-flash"
SERVED_MODEL = "gemini-2.0-flash-001"
ANSWER = "Hello from Gemini!"
METHODS = [
    ("Models", "generate_content"),
    ("Models", "generate_content_stream"),
    ("AsyncModels", "generate_content"),
    ("AsyncModels", "generate_content_stream"),
]


# --- fixtures and helpers -----------------------------------------------------------------------
@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    """The fake Gemini API."""
    server = FakeGemini().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """A fresh TracerProvider with an in-memory exporter (``provider.exporter``)."""
    tracer_provider = TracerProvider()
    exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer_provider.exporter = exporter  # type: ignore[attr-defined]
    try:
        yield tracer_provider
    finally:
        tracer_provider.shutdown()


@pytest.fixture
def instrumented(provider: TracerProvider) -> Iterator[GoogleGenAIInstrumentor]:
    """google-genai instrumented on ``provider``; undone afterwards."""
    instrumentor = GoogleGenAIInstrumentor()
    assert not instrumentor.is_instrumented_by_opentelemetry, "another test left google-genai instrumented"
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield instrumentor
    finally:
        instrumentor.uninstrument()


@pytest.fixture
def capture_off() -> Iterator[None]:
    """Message capture switched off for the test."""
    set_capture_content(False)
    try:
        yield
    finally:
        set_capture_content(None)


@pytest.fixture
def sentrial_client(local_server: LocalServer, provider: TracerProvider) -> Iterator[SentrialClient]:
    """A SentrialClient delivering ``provider``'s spans to the local server."""
    client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=provider)
    try:
        yield client
    finally:
        client.shutdown(timeout=5)


_clients: list[genai.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Keep the test's google-genai clients alive until it ends (a collected Client closes its
    connections, even while ``client.models`` is still in use), then close them."""
    try:
        yield
    finally:
        while _clients:
            _clients.pop().close()


# Every Client loads the CA bundle up to three times unless given an SSL context; the fake is plain
# HTTP, so one shared context saves most of a client's set-up time.
_SSL = ssl.create_default_context()


def gemini(fake: FakeGemini, *, vertexai: bool = False, timeout_ms: int | None = None) -> genai.Client:
    """A real google-genai client pointed at the fake (no retries: the SDK's default)."""
    options = types.HttpOptions(
        base_url=fake.url,
        timeout=timeout_ms,
        client_args={"verify": _SSL},
        async_client_args={"verify": _SSL, "ssl": _SSL},
    )
    if vertexai:
        client = genai.Client(vertexai=True, api_key="test-key", http_options=options)
    else:
        client = genai.Client(api_key="test-key", http_options=options)
    _clients.append(client)
    return client


def llm_spans(provider: TracerProvider) -> list[ReadableSpan]:
    """The finished LLM spans."""
    exporter: InMemorySpanExporter = provider.exporter  # type: ignore[attr-defined]
    return [s for s in exporter.get_finished_spans() if (s.attributes or {}).get(sc.SPAN_KIND) == sc.KIND_LLM]


def one_span(provider: TracerProvider) -> ReadableSpan:
    """The one finished LLM span (fails if there are more or none)."""
    spans = llm_spans(provider)
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def compact(value: Any) -> str:
    """JSON as the SDK writes it into span attributes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def attrs(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes as a plain dict."""
    return dict(span.attributes or {})


def messages(span: ReadableSpan, name: str) -> Any:
    """A JSON-valued attribute, decoded."""
    return json.loads(attrs(span)[name])


def text_message(role: str, *texts: str) -> dict[str, Any]:
    """A GenAI message made of text parts."""
    return {"role": role, "parts": [{"type": "text", "content": t} for t in texts]}


def answer(text: str = ANSWER, finish: str = "stop") -> list[dict[str, Any]]:
    """The output messages of a plain text answer."""
    return [{**text_message("assistant", text), "finish_reason": finish}]


def usage_attributes(span: ReadableSpan) -> dict[str, Any]:
    """The span's token and cost attributes."""
    names = (
        sc.GEN_AI_USAGE_INPUT_TOKENS,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        sc.COST_USD,
    )
    return {k: v for k, v in attrs(span).items() if k in names}


def default_cost(model: str = SERVED_MODEL) -> float | None:
    """The price of the fake's default answer (12 prompt, 5 candidate tokens)."""
    return pricing.calculate_cost("google", model, 12, 5)


def assert_error_span(span: ReadableSpan, error: BaseException, error_type: str) -> None:
    """The span failed with ``error``, recorded as the standard exception event."""
    assert span.status.status_code == StatusCode.ERROR
    assert attrs(span)[sc.ERROR_TYPE_ATTRIBUTE] == error_type
    events = [e for e in span.events if e.name == sc.EXCEPTION_EVENT]
    assert len(events) == 1
    event_attributes: dict[str, Any] = dict(events[0].attributes or {})
    assert event_attributes[sc.EXCEPTION_TYPE].endswith(type(error).__name__)
    assert event_attributes[sc.EXCEPTION_MESSAGE] == str(error)


CONFIG = types.GenerateContentConfig(
    system_instruction="Answer briefly.",
    temperature=0.2,
    max_output_tokens=50,
    top_p=0.9,
    top_k=40,
    stop_sequences=["END"],
    seed=7,
)


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
    cost = pricing.calculate_cost("google", MODEL, 1000, 160, cached_input_tokens=400)
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
    assert sc.LLM_STREAM not in attrs(span)


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


# --- streams --------------------------------------------------------------------------------------
STREAM_ATTRIBUTES = {
    sc.GEN_AI_RESPONSE_MODEL: SERVED_MODEL,
    sc.GEN_AI_RESPONSE_ID: "resp-123",
    sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
    sc.GEN_AI_USAGE_INPUT_TOKENS: 12,
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: 5,  # the last running total, not the sum of the chunks' totals
    sc.LLM_STREAM: True,
}


def assert_stream_span(span: ReadableSpan) -> None:
    """A fully read stream of the fake's default answer."""
    assert span.status.status_code == StatusCode.UNSET
    values = attrs(span)
    assert {k: values.get(k) for k in STREAM_ATTRIBUTES} == STREAM_ATTRIBUTES
    assert values[sc.COST_USD] == default_cost()
    assert values[sc.GEN_AI_OUTPUT_MESSAGES] == compact(answer())
    assert values[sc.LLM_TIME_TO_FIRST_CHUNK_MS] >= 0


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
    duration_ms = (span.end_time - span.start_time) / 1e6
    assert attrs(span)[sc.LLM_TIME_TO_FIRST_CHUNK_MS] < duration_ms - 100  # three gaps of 50 ms follow it


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


def assert_abandoned(provider: TracerProvider, text: str) -> None:
    """Exactly one span, ended as an abandoned stream with what had arrived."""
    spans = wait_until(lambda: llm_spans(provider), what="the abandoned stream's span")
    assert len(spans) == 1
    span = spans[0]
    assert span.status.status_code == StatusCode.ERROR
    assert (span.status.description or "").startswith("stream abandoned")
    assert attrs(span)[sc.ERROR_TYPE_ATTRIBUTE] == "abandoned"
    assert messages(span, sc.GEN_AI_OUTPUT_MESSAGES) == [text_message("assistant", text)]


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
    assert [attrs(s).get(sc.LLM_STREAM, False) for s in spans] == [False, True, False, True]
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
    second_cost = pricing.calculate_cost("google", SERVED_MODEL, 30, 7, cached_input_tokens=10)
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
    assert second["toolName"] == f"llm:google:models/{MODEL}"
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
    assert attrs(span)[sc.LLM_STREAM] is True
    assert attrs(span)[sc.LLM_TIME_TO_FIRST_CHUNK_MS] >= 0


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

    assert [attrs(s).get(sc.LLM_STREAM, False) for s in llm_spans(provider)] == [False, True]


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
