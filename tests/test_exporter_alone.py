"""The exporter added alone to an app's OpenTelemetry setup, without the rest of the SDK."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from sentrial.server import LocalServer
from sentrial_otel_exporter import SentrialSpanExporter

LLM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}


def test_llm_spans_of_a_trace_become_one_session(local_server: LocalServer) -> None:
    exporter = SentrialSpanExporter(api_key="k", api_url=local_server.url)
    provider = TracerProvider(resource=Resource.create({"service.name": "ops-bot"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
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
