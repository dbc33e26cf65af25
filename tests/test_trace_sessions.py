"""LLM spans outside any Sentrial session: one session per trace, completed with its local root."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from sentrial import SentrialClient
from sentrial.server import LocalServer
from sentrial.tracing import router_of

LLM = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}


@pytest.fixture
def provider(local_server: LocalServer) -> Iterator[TracerProvider]:
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout-bot"}))
    client = SentrialClient(api_url=local_server.url, tracer_provider=provider)
    router_of(provider).default = client.delivery
    yield provider
    client.shutdown(timeout=5)


def test_llm_calls_of_one_trace_share_a_session_named_after_the_root(
    local_server: LocalServer, provider: TracerProvider
) -> None:
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("POST /checkout") as root:
        for _ in range(2):
            with tracer.start_as_current_span("chat gpt-4o", attributes=LLM) as llm:
                llm.set_attribute("gen_ai.usage.input_tokens", 100)
                llm.set_attribute("gen_ai.usage.output_tokens", 20)
        with tracer.start_as_current_span("SELECT orders"):
            pass
    assert router_of(provider).default is not None and router_of(provider).default.flush(5)
    (session,) = local_server.sessions()
    assert session["id"] == f"trace-{root.get_span_context().trace_id:032x}"
    assert (session["name"], session["agentName"], session["status"]) == (
        "POST /checkout",
        "checkout-bot",
        "completed",
    )
    assert (session["promptTokens"], session["completionTokens"], session["totalTokens"]) == (200, 40, 240)
    events = local_server.session(session["id"])["events"]  # type: ignore[index]
    assert [e["toolName"] for e in events] == ["llm:openai:gpt-4o", "llm:openai:gpt-4o"]


def test_agent_name_from_env_and_failed_root_fails_the_session(
    local_server: LocalServer, provider: TracerProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SENTRIAL_AGENT_NAME", "named-agent")
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("job") as root:
        with tracer.start_as_current_span("chat gpt-4o", attributes=LLM):
            pass
        root.set_status(Status(StatusCode.ERROR, "job crashed"))
    assert router_of(provider).default.flush(5)  # type: ignore[union-attr]
    (session,) = local_server.sessions()
    assert (session["agentName"], session["status"], session["failureReason"]) == (
        "named-agent",
        "failed",
        "job crashed",
    )


def test_a_lone_llm_call_is_its_own_trace_session(
    local_server: LocalServer, provider: TracerProvider
) -> None:
    with provider.get_tracer("app").start_as_current_span("chat gpt-4o", attributes=LLM):
        pass
    assert router_of(provider).default.flush(5)  # type: ignore[union-attr]
    (session,) = local_server.sessions()
    assert session["status"] == "completed"
    assert [r["method"] for r in local_server.requests] == ["POST", "POST", "PATCH"]


def test_llm_calls_under_an_ended_span_each_get_a_completed_session(
    local_server: LocalServer, provider: TracerProvider
) -> None:
    """A context left behind by finished work (its span ended) still holds that span: LLM calls made
    there have no running root, and each is completed when it ends rather than left open."""
    tracer = provider.get_tracer("app")
    finished = tracer.start_span("finished work")
    finished.end()
    with trace.use_span(finished):
        for _ in range(2):
            with tracer.start_as_current_span("chat gpt-4o", attributes=LLM):
                pass
    assert router_of(provider).default.flush(5)  # type: ignore[union-attr]
    sessions = local_server.sessions()
    assert [(s["name"], s["status"]) for s in sessions] == [("chat gpt-4o", "completed")] * 2
    trace_id = f"{finished.get_span_context().trace_id:032x}"
    assert all(s["id"].startswith(f"trace-{trace_id}-") for s in sessions)
    assert all(len(local_server.session(s["id"])["events"]) == 1 for s in sessions)  # type: ignore[index]


def test_traces_without_llm_calls_send_nothing(local_server: LocalServer, provider: TracerProvider) -> None:
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("GET /health"), tracer.start_as_current_span("SELECT 1"):
        pass
    assert router_of(provider).default.flush(5)  # type: ignore[union-attr]
    assert local_server.requests == []
