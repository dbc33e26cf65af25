"""The OpenAI instrumentation on chat completions, with the real openai SDK against a fake OpenAI
endpoint: what a call's span records, parse and raw responses, and HTTP errors, timeouts and
instrumentation bugs that must never change what the caller gets."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import openai
import pytest
from fake_openai import FakeOpenAI, Reply
from openai_support import (
    USER,
    USER_PARTS,
    City,
    Traced,
    assistant,
    attributes,
    cost,
    llm_span,
    run_async,
    text,
    usage,
)
from opentelemetry.trace import SpanKind, StatusCode

from sentrial import SentrialClient
from sentrial import semconv as sc
from sentrial._values import DEFAULT_MAX_CHARS, json_text
from sentrial.instrumentation import openai as instrumentation
from sentrial.instrumentation._llm import set_capture_content
from sentrial.server import LocalServer


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
        service_tier="auto",
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
        sc.OPENAI_REQUEST_SERVICE_TIER: "auto",
        sc.GEN_AI_INPUT_MESSAGES: USER_PARTS,
        sc.GEN_AI_SYSTEM_INSTRUCTIONS: [text("Be brief.")],
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o",
        sc.GEN_AI_RESPONSE_ID: response.id,
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        **usage(120, 30, cached=100, reasoning=8),
        sc.GEN_AI_OUTPUT_MESSAGES: assistant(text("Paris.")),
        sc.COST_USD: cost("gpt-4o", 120, 30, cached=100),
        **CHAT_COMPLETIONS_DETAILS,
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
        "service_tier": "auto",
    }


# What every chat completion of the fake records besides the request and the answer.
CHAT_COMPLETIONS_DETAILS = {
    sc.OPENAI_API_TYPE: "chat_completions",
    sc.OPENAI_RESPONSE_SERVICE_TIER: "default",
    sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: "fp_fake",
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
        **CHAT_COMPLETIONS_DETAILS,
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
