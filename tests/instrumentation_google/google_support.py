"""Helpers of the Google Gemini instrumentation tests: clients of the fake Gemini API, the recorded
spans and the attributes a call is expected to record."""

from __future__ import annotations

import json
import ssl
from typing import Any

from fake_google import FakeGemini
from google import genai
from google.genai import types
from helpers import wait_until
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from sentrial import pricing
from sentrial import semconv as sc

MODEL = "gemini-2.0-flash"


SERVED_MODEL = "gemini-2.0-flash-001"


ANSWER = "Hello from Gemini!"


_clients: list[genai.Client] = []


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
    return pricing.calculate_provider_cost("google", model, 12, 5)


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


def assert_abandoned(provider: TracerProvider, text: str) -> None:
    """Exactly one span, ended as an abandoned stream with what had arrived."""
    spans = wait_until(lambda: llm_spans(provider), what="the abandoned stream's span")
    assert len(spans) == 1
    span = spans[0]
    assert span.status.status_code == StatusCode.ERROR
    assert (span.status.description or "").startswith("stream abandoned")
    assert attrs(span)[sc.ERROR_TYPE_ATTRIBUTE] == "abandoned"
    assert messages(span, sc.GEN_AI_OUTPUT_MESSAGES) == [text_message("assistant", text)]
