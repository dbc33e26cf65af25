"""What any OpenTelemetry backend sees of Sentrial's agent, tool and decision spans: the GenAI
conventions' attributes, captured in memory on the app's own provider with Sentrial on top, and
the same events on the Sessions API as before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sentrial import SentrialClient, tool
from sentrial import semconv as sc
from sentrial.server import LocalServer

USER_MESSAGE = [{"role": "user", "parts": [{"type": "text", "content": "Where is order 7?"}]}]
ANSWER = [
    {"role": "assistant", "parts": [{"type": "text", "content": "It shipped."}], "finish_reason": "stop"}
]


@pytest.fixture
def app_spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(app_spans: InMemorySpanExporter) -> TracerProvider:
    app_provider = TracerProvider()  # the app's own, with its own exporter
    app_provider.add_span_processor(SimpleSpanProcessor(app_spans))
    return app_provider


@pytest.fixture
def client(local_server: LocalServer, provider: TracerProvider) -> Iterator[SentrialClient]:
    sentrial_client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=provider)
    yield sentrial_client
    sentrial_client.shutdown(timeout=5)


def by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name: span for span in exporter.get_finished_spans()}


def attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def test_agent_and_tool_spans_carry_the_conventions_names(
    client: SentrialClient, app_spans: InMemorySpanExporter, local_server: LocalServer
) -> None:
    with client.begin(user_id="u1", event="support", input="Where is order 7?", convo_id="conv-1") as chat:
        chat.track_tool_call(
            tool_name="lookup_order",
            tool_input={"order": 7},
            tool_output={"status": "shipped"},
            tool_call_id="call_7",
        )
        chat.track_decision(reasoning="the order shipped", alternatives=["refund", "wait"])
        chat.set_output("It shipped.")
    assert client.flush(timeout=5)

    spans = by_name(app_spans)
    agent = attributes(spans["invoke_agent support"])
    assert agent[sc.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert agent[sc.GEN_AI_PROVIDER_NAME] == "_OTHER"  # the app's agent: no provider to name
    assert agent[sc.GEN_AI_CONVERSATION_ID] == "conv-1"
    assert json.loads(agent[sc.GEN_AI_INPUT_MESSAGES]) == USER_MESSAGE
    assert json.loads(agent[sc.GEN_AI_OUTPUT_MESSAGES]) == ANSWER
    assert sc.ERROR_TYPE_ATTRIBUTE not in agent

    tool_span = attributes(spans["execute_tool lookup_order"])
    assert tool_span[sc.GEN_AI_OPERATION_NAME] == "execute_tool"
    assert (tool_span[sc.GEN_AI_TOOL_NAME], tool_span[sc.GEN_AI_TOOL_TYPE]) == ("lookup_order", "function")
    assert tool_span[sc.GEN_AI_TOOL_CALL_ID] == "call_7"
    assert json.loads(tool_span[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"order": 7}
    assert json.loads(tool_span[sc.GEN_AI_TOOL_CALL_RESULT]) == {"status": "shipped"}

    decision = spans["plan"]
    assert attributes(decision)[sc.GEN_AI_OPERATION_NAME] == "plan"

    # Each content once, under its conventional name: no sentrial.* copy of it.
    everything = {key for span in spans.values() for key in attributes(span)}
    assert (
        not {"sentrial.input", "sentrial.output", "sentrial.tool.input", "sentrial.tool.output"} & everything
    )

    # The Sessions API gets what it got before.
    (session,) = local_server.sessions()
    stored = local_server.session(session["id"])
    assert stored is not None
    assert (stored["userInput"], stored["assistantOutput"]) == ("Where is order 7?", "It shipped.")
    assert stored["metadata"]["input"] == "Where is order 7?"
    tool_event = next(event for event in stored["events"] if event["eventType"] == "tool_call")
    assert (tool_event["toolInput"], tool_event["toolOutput"]) == ({"order": 7}, {"status": "shipped"})


def test_failed_tools_and_agents_carry_error_type(
    client: SentrialClient, app_spans: InMemorySpanExporter, local_server: LocalServer
) -> None:
    @tool
    def charge(amount: int) -> str:
        raise TimeoutError("the bank did not answer")

    with pytest.raises(TimeoutError), client.begin(user_id="u1", event="checkout") as checkout:
        checkout.track_tool_call(
            tool_name="reserve",
            tool_input={"sku": "A"},
            tool_output={},
            tool_error={"message": "out of stock", "type": "OutOfStock"},
        )
        charge(12)
    with client.begin(user_id="u1", event="refund") as refund:
        refund.finish(success=False, failure_reason="refused by policy")
    assert client.flush(timeout=5)

    spans = by_name(app_spans)
    charged = attributes(spans["execute_tool charge"])
    assert charged[sc.ERROR_TYPE_ATTRIBUTE] == "TimeoutError"
    assert json.loads(charged[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"amount": 12}
    assert sc.GEN_AI_TOOL_CALL_RESULT not in charged  # the conventions: a result only on success
    assert attributes(spans["execute_tool reserve"])[sc.ERROR_TYPE_ATTRIBUTE] == "OutOfStock"
    assert attributes(spans["invoke_agent checkout"])[sc.ERROR_TYPE_ATTRIBUTE] == "TimeoutError"
    assert attributes(spans["invoke_agent refund"])[sc.ERROR_TYPE_ATTRIBUTE] == "_OTHER"

    stored = {s["name"].split(":")[0]: local_server.session(s["id"]) for s in local_server.sessions()}
    events = {event["toolName"]: event for event in stored["checkout"]["events"]}  # type: ignore[index]
    # a failing @tool goes out as the published decorator sends it: an error event of the tool
    assert events["charge"]["eventType"] == "error"
    assert events["charge"]["toolError"]["type"] == "TimeoutError"
    assert (events["reserve"]["eventType"], events["reserve"]["toolError"]["type"]) == (
        "tool_call",
        "OutOfStock",
    )


def test_a_tool_span_covers_the_tools_time(
    client: SentrialClient, app_spans: InMemorySpanExporter, provider: TracerProvider
) -> None:
    @tool
    def search(query: str) -> list[str]:
        with provider.get_tracer("app").start_as_current_span("GET /search"):
            return ["a", "b"]

    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    with client.begin(user_id="u1", event="research") as research:
        search("otel")
        research.track_tool_call(
            tool_name="fetch", tool_input={}, tool_output={}, started_at=started, duration_ms=1500
        )
        research.track_tool_call(
            tool_name="parse", tool_input={}, tool_output={}, started_at=100.0, ended_at=100.25
        )
    assert client.flush(timeout=5)

    spans = by_name(app_spans)
    searched, inner = spans["execute_tool search"], spans["GET /search"]
    assert inner.parent is not None and inner.parent.span_id == searched.context.span_id  # type: ignore[union-attr]
    assert searched.start_time <= inner.start_time and inner.end_time <= searched.end_time  # type: ignore[operator]
    fetched = spans["execute_tool fetch"]
    assert fetched.start_time == int(started.timestamp()) * 10**9
    assert fetched.end_time - fetched.start_time == 1_500_000_000  # type: ignore[operator]
    parsed = spans["execute_tool parse"]
    assert (parsed.start_time, parsed.end_time) == (100 * 10**9, 100_250_000_000)


def test_timing_arguments_that_make_no_sense_are_refused_by_a_strict_client(
    local_server: LocalServer,
) -> None:
    strict = SentrialClient(
        api_key="k", api_url=local_server.url, tracer_provider=TracerProvider(), fail_silently=False
    )
    try:
        session = strict.create_session(name="s", agent_name="a", user_id="u")
        with pytest.raises(ValueError, match="ended_at"):
            strict.track_tool_call(session, "t", {}, {}, started_at=10.0, ended_at=5.0)
        with pytest.raises(TypeError, match="started_at"):
            strict.track_tool_call(session, "t", {}, {}, started_at="yesterday")
        with pytest.raises(ValueError, match="duration_ms"):
            strict.track_tool_call(session, "t", {}, {}, duration_ms=-1)
    finally:
        strict.shutdown(timeout=5)
