"""Helpers of the OpenAI instrumentation tests: a provider that keeps its spans, the expected
attribute shapes (messages, usage, cost) and an async runner."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import openai
from fake_openai import FakeOpenAI
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from sentrial import pricing
from sentrial import semconv as sc

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


def run_async(fake: FakeOpenAI, body: Callable[[openai.AsyncOpenAI], Awaitable[_T]]) -> _T:
    """Run ``body`` with an async client of the fake, closed before the event loop ends."""

    async def main() -> _T:
        async with openai.AsyncOpenAI(base_url=fake.url, api_key="test-key", max_retries=0) as async_client:
            return await body(async_client)

    return asyncio.run(main())


def attributes(span: ReadableSpan) -> dict[str, Any]:
    """The span's attributes, with the JSON-valued ones decoded and, on an LLM span, the fake's
    address (checked) left out."""
    values = dict(span.attributes or {})
    if values.get(sc.SPAN_KIND) == sc.KIND_LLM:
        assert values.pop(sc.SERVER_ADDRESS) == "127.0.0.1"
        assert isinstance(values.pop(sc.SERVER_PORT), int)
    for name in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS):
        if name in values:
            values[name] = json.loads(values[name])
    return values


def assistant(*parts: dict[str, Any], finish: str | None = "stop") -> list[dict[str, Any]]:
    return [{"role": "assistant", "parts": list(parts), "finish_reason": finish}]


def text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def cost(model: str, prompt: int, completion: int, cached: int = 0) -> float:
    value = pricing.calculate_provider_cost("openai", model, prompt, completion, cached_input_tokens=cached)
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


class City(BaseModel):
    city: str
