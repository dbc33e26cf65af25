"""LLM spans of other instrumentations (OpenInference, Traceloop) reach Sentrial like ours, priced."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from sentrial import SentrialClient, pricing
from sentrial.redact import PiiConfig
from sentrial.server import LocalServer
from sentrial_otel_exporter import SentrialSpanExporter


@pytest.fixture
def client(local_server: LocalServer) -> Iterator[tuple[SentrialClient, TracerProvider]]:
    provider = TracerProvider()
    client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=provider, pii=PiiConfig())
    yield client, provider
    client.shutdown(timeout=5)


OPENINFERENCE = {
    "openinference.span.kind": "LLM",
    "llm.model_name": "gpt-4o",
    "llm.provider": "openai",
    "llm.token_count.prompt": 1000,
    "llm.token_count.completion": 500,
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "Be brief.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": "Mail me at jane@example.com",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "Sure.",
}
TRACELOOP = {
    "gen_ai.system": "Anthropic",
    "gen_ai.request.model": "claude-sonnet-4",
    "llm.request.type": "chat",
    "gen_ai.usage.prompt_tokens": 1000,
    "gen_ai.usage.completion_tokens": 500,
    "gen_ai.prompt.0.role": "user",
    "gen_ai.prompt.0.content": "Hi",
    "gen_ai.completion.0.role": "assistant",
    "gen_ai.completion.0.content": "Hello!",
}


PEERS = pytest.mark.parametrize(
    ("attributes", "tool_name", "cost", "messages", "content"),
    [
        (
            OPENINFERENCE,
            "llm:openai:gpt-4o",
            0.0075,
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Mail me at [EMAIL]"}],
            "Sure.",
        ),
        (TRACELOOP, "llm:anthropic:claude-sonnet-4", 0.0105, [{"role": "user", "content": "Hi"}], "Hello!"),
    ],
    ids=["openinference", "traceloop"],
)


@PEERS
def test_peer_llm_spans_become_priced_llm_tool_calls(
    local_server: LocalServer,
    client: tuple[SentrialClient, TracerProvider],
    attributes: dict[str, object],
    tool_name: str,
    cost: float,
    messages: list[dict[str, str]],
    content: str,
) -> None:
    sentrial_client, provider = client
    tracer = provider.get_tracer("peer.instrumentation")
    with (
        sentrial_client.begin(user_id="u", event="peer") as interaction,
        tracer.start_as_current_span("llm", attributes=attributes),
    ):
        pass
    assert sentrial_client.flush(timeout=5)

    session = local_server.session(interaction.session_id)  # type: ignore[arg-type]
    assert session is not None
    (event,) = session["events"]
    assert event["toolName"] == tool_name
    assert event["estimatedCost"] == pytest.approx(cost)
    assert event["toolOutput"]["tokens"] == {"prompt": 1000, "completion": 500, "total": 1500}
    assert event["toolOutput"]["content"] == content
    assert event["toolInput"]["messages"] == messages
    assert (session["promptTokens"], session["completionTokens"]) == (1000, 500)
    assert "jane@example.com" not in json.dumps(local_server.requests)


def test_prices_come_from_the_table() -> None:
    assert pricing.calculate_cost("openai", "gpt-4o", 1000, 500) == 0.0075


@PEERS
def test_peer_llm_spans_through_the_exporter_alone(
    local_server: LocalServer,
    attributes: dict[str, object],
    tool_name: str,
    cost: float,
    messages: list[dict[str, str]],
    content: str,
) -> None:
    """The same spans with only the exporter on the app's provider (no SDK, so no redaction): the
    trace's session gets the same priced event."""
    exporter = SentrialSpanExporter(api_key="k", api_url=local_server.url)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("peer.instrumentation").start_as_current_span(
        "llm", attributes=attributes
    ) as span:
        pass
    assert exporter.flush(timeout=5)
    provider.shutdown()
    session = local_server.session(f"trace-{span.get_span_context().trace_id:032x}")
    assert session is not None and session["status"] == "completed"
    (event,) = session["events"]
    assert (event["toolName"], event["toolOutput"]["content"]) == (tool_name, content)
    assert event["estimatedCost"] == pytest.approx(cost) == session["estimatedCost"]
    assert [m["content"].replace("jane@example.com", "[EMAIL]") for m in event["toolInput"]["messages"]] == [
        m["content"] for m in messages
    ]
