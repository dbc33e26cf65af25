"""Helpers of the Anthropic instrumentation tests: clients of the fake Messages API, the recorded
spans and the attributes a call is expected to record."""

from __future__ import annotations

import inspect
import json
from typing import Any

import anthropic
from fake_anthropic import MODEL, FakeAnthropic
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sentrial import semconv as sc
from sentrial.pricing import calculate_provider_cost as calculate_cost

REQUEST_MODEL = "claude-haiku-4-5"


ANSWER = "Hello there, friend."


QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


SYSTEM = "You are terse."


BASE_COST = calculate_cost("anthropic", MODEL, 12, 7)


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
    """The span's attributes, JSON ones decoded, the (timing-dependent) first-chunk time and the
    fake's address (checked) left out."""
    values = dict(span.attributes or {})
    values.pop(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, None)
    assert values.pop(sc.SERVER_ADDRESS) == "127.0.0.1"
    assert isinstance(values.pop(sc.SERVER_PORT), int)
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
        values[sc.GEN_AI_REQUEST_STREAM] = True
    return values
