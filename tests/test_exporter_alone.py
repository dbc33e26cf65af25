"""The exporter added alone to an app's OpenTelemetry setup, without the rest of the SDK.

These tests import nothing of ``sentrial``: the exporter depends on OpenTelemetry and the standard
library only, and the server they talk to (conftest's local Sessions API server) is only a peer.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply
from helpers import RecordingServer, in_child
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from sentrial_otel_exporter import SentrialSpanExporter
from sentrial_otel_exporter.pricing import calculate_cost


def on_own_provider(url: str, service: str | None = None) -> tuple[SentrialSpanExporter, TracerProvider, Any]:
    """An app's own provider with only the exporter on it (batched, as apps set it up), and a tracer."""
    exporter = SentrialSpanExporter(api_key="k", api_url=url)
    resource = Resource.create({"service.name": service}) if service else None
    provider = TracerProvider(resource=resource) if resource else TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return exporter, provider, provider.get_tracer("app")


LLM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}


def test_llm_spans_of_a_trace_become_one_session(local_server: RecordingServer) -> None:
    exporter, provider, tracer = on_own_provider(local_server.url, service="ops-bot")
    with tracer.start_as_current_span("nightly job") as root:
        with tracer.start_as_current_span("SELECT 1"):
            pass
        for _ in range(2):
            with tracer.start_as_current_span("chat gpt-4o", attributes=LLM):
                pass
        root.set_status(Status(StatusCode.ERROR, "job failed"))
    with tracer.start_as_current_span("GET /health"):
        pass
    assert provider.force_flush()
    assert exporter.flush(timeout=5)
    provider.shutdown()

    (session,) = local_server.sessions()
    assert session["id"] == f"trace-{root.get_span_context().trace_id:032x}"
    assert (session["agentName"], session["status"], session["failureReason"]) == (
        "ops-bot",
        "failed",
        "job failed",
    )
    assert (session["promptTokens"], session["completionTokens"], session["totalTokens"]) == (200, 40, 240)
    events = local_server.session(session["id"])["events"]  # type: ignore[index]
    assert [e["toolName"] for e in events] == ["llm:openai:gpt-4o"] * 2
    assert [r["method"] for r in local_server.requests] == ["POST", "POST", "POST", "PATCH"]


# Run in a process of its own, so that what the other tests imported does not count.
USED_ALONE = """
import json, sys

def sdk_modules():
    return sorted(m for m in sys.modules if m == "sentrial" or m.startswith("sentrial."))

import sentrial_otel_exporter

after_import = sdk_modules()

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

exporter = sentrial_otel_exporter.SentrialSpanExporter(api_key="k", api_url=sys.argv[1])
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
with provider.get_tracer("app").start_as_current_span("chat gpt-4o", attributes=json.loads(sys.argv[2])):
    pass
flushed = exporter.flush(timeout=10)
provider.shutdown()
print(json.dumps({"after_import": after_import, "after_use": sdk_modules(), "flushed": flushed}))
"""


def test_the_exporter_imports_and_delivers_without_loading_the_sdk(local_server: RecordingServer) -> None:
    """The exporter is a leaf: importing it, and exporting through it, loads no module of ``sentrial``."""
    run = subprocess.run(
        [sys.executable, "-c", USED_ALONE, local_server.url, json.dumps(LLM)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"after_import": [], "after_use": [], "flushed": True}
    (session,) = local_server.sessions()
    events = local_server.session(session["id"])["events"]  # type: ignore[index]
    assert [e["toolName"] for e in events] == ["llm:openai:gpt-4o"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
# Python 3.12+ warns on every fork of a process with threads: forking one is what is tested here.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork():DeprecationWarning")
def test_the_exporter_alone_delivers_from_a_forked_child(local_server: RecordingServer) -> None:
    """``opentelemetry-instrument`` under a pre-forking server: only the exporter, on the app's provider."""
    exporter, provider, tracer = on_own_provider(local_server.url)
    llm = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
    }

    def one_trace() -> str:
        with (
            tracer.start_as_current_span("job") as root,
            tracer.start_as_current_span("chat gpt-4o", attributes=llm),
        ):
            pass
        return f"trace-{root.get_span_context().trace_id:032x}"

    try:
        parents = one_trace()
        assert provider.force_flush() and exporter.flush(timeout=10)  # the transport's threads run now

        result = in_child(
            lambda: {"session": one_trace(), "flushed": provider.force_flush() and exporter.flush(10)}
        )
    finally:
        provider.shutdown()

    assert result["flushed"] is True
    for session_id in (parents, result["session"]):
        stored = local_server.session(session_id)
        assert stored is not None and stored["status"] == "completed"
        assert [e["toolName"] for e in stored["events"]] == ["llm:openai:gpt-4o"]


def _instrumentor(name: str) -> Any:
    if name == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor

        return OpenAIInstrumentor()
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as OfficialInstrumentor

    return OfficialInstrumentor()


@pytest.mark.parametrize("instrumentation", ["openinference", "official"])
def test_another_instrumentations_openai_calls_arrive_priced_and_failing(
    local_server: RecordingServer, instrumentation: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OpenInference's or the official GenAI instrumentation of the real openai client, with only the
    exporter on the app's provider: a session per trace, each call an event with model, tokens and a
    cost from the price table; a failed call fails its session."""
    import openai

    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    exporter, provider, tracer = on_own_provider(local_server.url, service="mailer")
    instrumentor = _instrumentor(instrumentation)
    conflict = instrumentor._check_dependency_conflicts()
    if conflict:  # an older openai than the peer's instrumentation takes (.ci/lowest): nothing to test
        provider.shutdown()
        pytest.skip(f"{instrumentation}'s instrumentation does not take this openai: {conflict}")
    instrumentor.instrument(tracer_provider=provider)
    try:
        with FakeOpenAI() as fake:
            client = openai.OpenAI(api_key="sk-test", base_url=fake.url, max_retries=0)
            ask = [{"role": "user", "content": "Say hi"}]
            with tracer.start_as_current_span("good job") as good:
                client.chat.completions.create(model="gpt-4o", messages=ask)  # type: ignore[arg-type]
            fake.reply = Reply(status=500)
            with (
                tracer.start_as_current_span("bad job") as bad,
                contextlib.suppress(openai.InternalServerError),
            ):
                client.chat.completions.create(model="gpt-4o", messages=ask)  # type: ignore[arg-type]
    finally:
        instrumentor.uninstrument()
    assert provider.force_flush() and exporter.flush(timeout=10)
    provider.shutdown()

    worked = local_server.session(f"trace-{good.get_span_context().trace_id:032x}")
    assert worked is not None
    assert (worked["agentName"], worked["status"], worked["promptTokens"]) == ("mailer", "completed", 12)
    (call,) = worked["events"]
    assert call["toolName"] == "llm:openai:gpt-4o"
    assert call["toolOutput"]["tokens"] == {"prompt": 12, "completion": 5, "total": 17}
    assert call["estimatedCost"] == pytest.approx(calculate_cost("openai", "gpt-4o", 12, 5))
    assert worked["estimatedCost"] == pytest.approx(call["estimatedCost"])
    assert call["toolInput"]["messages"] == [{"role": "user", "content": "Say hi"}]
    assert call["toolOutput"]["content"] == "Hello there!"

    failed = local_server.session(f"trace-{bad.get_span_context().trace_id:032x}")
    assert failed is not None and failed["status"] == "failed"
    assert "gpt-4o call failed" in failed["failureReason"]
    (error,) = failed["events"]
    assert error["toolName"] == "llm:openai:gpt-4o" and "500" in error["toolError"]["message"]


def test_an_agents_tool_and_llm_spans_arrive_in_one_session(local_server: RecordingServer) -> None:
    """GenAI-conventions agent spans (as Mastra and the Vercel AI SDK write them): the tool call and
    the LLM calls of one run arrive as one session; the AI SDK's outer span is not a second call."""
    exporter, provider, tracer = on_own_provider(local_server.url)
    ai_sdk_call = {
        "ai.operationId": "ai.generateText.doGenerate",
        "gen_ai.system": "openai.chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 100,
        "ai.prompt.messages": json.dumps(
            [{"role": "user", "content": [{"type": "text", "text": "Weather?"}]}]
        ),
        "ai.response.text": "Sunny.",
    }
    tool = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.call.arguments": '{"city": "Oslo"}',
        "gen_ai.tool.call.result": '{"sky": "sunny"}',
    }
    with tracer.start_as_current_span(
        "invoke_agent weather", attributes={"gen_ai.operation.name": "invoke_agent"}
    ) as root:
        with tracer.start_as_current_span("ai.generateText", attributes={"ai.model.id": "gpt-4o-mini"}):
            with tracer.start_as_current_span("ai.generateText.doGenerate", attributes=ai_sdk_call):
                pass
            with tracer.start_as_current_span(
                "ai.toolCall", attributes={"ai.toolCall.name": "clock", "ai.toolCall.args": "{}"}
            ) as failing:
                failing.set_status(Status(StatusCode.ERROR, "no clock"))
        with tracer.start_as_current_span("execute_tool get_weather", attributes=tool):
            pass
    assert provider.force_flush() and exporter.flush(timeout=10)
    provider.shutdown()

    session = local_server.session(f"trace-{root.get_span_context().trace_id:032x}")
    assert session is not None and session["status"] == "completed"  # a failed tool is the agent's to handle
    llm, clock, weather = session["events"]
    assert llm["toolName"] == "llm:openai:gpt-4o-mini"
    assert llm["estimatedCost"] == pytest.approx(calculate_cost("openai", "gpt-4o-mini", 1000, 100))
    assert llm["toolInput"]["messages"] == [{"role": "user", "content": "Weather?"}]
    assert llm["toolOutput"]["content"] == "Sunny."
    assert (clock["toolName"], clock["toolError"]["message"]) == ("clock", "no clock")
    assert (weather["toolName"], weather["toolInput"], weather["toolOutput"]) == (
        "get_weather",
        {"city": "Oslo"},
        {"sky": "sunny"},
    )


def test_numbers_json_has_no_form_for_arrive_as_text(local_server: RecordingServer) -> None:
    """NaN and the infinities (a float attribute, or JSON text that Python's json.dumps wrote with
    them) cannot go into a JSON body: the events still arrive, those values written as text."""
    exporter, provider, tracer = on_own_provider(local_server.url)
    tool = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "fit",
        "gen_ai.tool.call.arguments": json.dumps({"loss": float("nan")}),
        "gen_ai.tool.call.result": json.dumps({"best": float("inf"), "worst": float("-inf")}),
    }
    with tracer.start_as_current_span(
        "invoke_agent fit", attributes={"gen_ai.operation.name": "invoke_agent"}
    ) as root:
        with tracer.start_as_current_span(
            "chat gpt-4o", attributes={**LLM, "gen_ai.request.temperature": float("nan")}
        ):
            pass
        with tracer.start_as_current_span("execute_tool fit", attributes=tool):
            pass
    assert provider.force_flush() and exporter.flush(timeout=10)
    provider.shutdown()
    assert exporter.stats.dropped == 0
    session = local_server.session(f"trace-{root.get_span_context().trace_id:032x}")
    assert session is not None
    llm, fit = session["events"]
    assert llm["toolName"] == "llm:openai:gpt-4o"
    assert (fit["toolInput"], fit["toolOutput"]) == ({"loss": "nan"}, {"best": "inf", "worst": "-inf"})


def test_json_attributes_given_as_bytes_arrive_decoded(local_server: RecordingServer) -> None:
    """OTel attributes may hold bytes: a tool's JSON arguments and result, and an LLM call's
    messages, given so arrive as JSON."""
    exporter, provider, tracer = on_own_provider(local_server.url)
    tool = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup",
        "gen_ai.tool.call.arguments": b'{"city": "Z\\u00fcrich"}',
        "gen_ai.tool.call.result": "Sonnig in Zürich".encode(),
    }
    messages = [{"role": "user", "parts": [{"type": "text", "content": "Wetter?"}]}]
    llm = {**LLM, "gen_ai.input.messages": json.dumps(messages).encode()}
    with tracer.start_as_current_span(
        "invoke_agent a", attributes={"gen_ai.operation.name": "invoke_agent"}
    ) as root:
        with tracer.start_as_current_span("chat gpt-4o", attributes=llm):
            pass
        with tracer.start_as_current_span("execute_tool lookup", attributes=tool):
            pass
    assert provider.force_flush() and exporter.flush(timeout=10)
    provider.shutdown()
    session = local_server.session(f"trace-{root.get_span_context().trace_id:032x}")
    assert session is not None
    chat, lookup = session["events"]
    assert chat["toolInput"]["messages"] == [{"role": "user", "content": "Wetter?"}]
    assert (lookup["toolInput"], lookup["toolOutput"]) == ({"city": "Zürich"}, {"result": "Sonnig in Zürich"})
