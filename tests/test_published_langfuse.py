"""``sentrial.langfuse_integration``: Langfuse as one more OTLP exporter of the same redacted spans,
against a local OTLP receiver standing in for Langfuse's endpoint."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from helpers import wait_until
from otlp_receiver import OtlpReceiver

from sentrial import SentrialClient
from sentrial.langfuse_integration import OTLP_PATH, LangfuseIntegration, LangfuseTraceContext
from sentrial.server import LocalServer

EMAIL = "jane.doe@example.com"


def by_kind(receiver: OtlpReceiver) -> dict[str, dict[str, Any]]:
    return {str(s["attributes"].get("sentrial.span.kind")): s for s in receiver.spans()}


def test_a_trace_context_sends_its_trace_redacted_to_the_langfuse_endpoint(
    otlp_receiver: OtlpReceiver,
) -> None:
    integration = LangfuseIntegration(
        public_key="pk-lf-1", secret_key="sk-lf-1", host=otlp_receiver.url + "/"
    )
    context = LangfuseTraceContext(
        integration,
        "session-1",
        "support",
        "user_7",
        input_data=f"Mail me at {EMAIL}",
        metadata={"tier": "gold"},
    )
    context.track_tool_call("lookup", {"email": EMAIL}, {"found": True})
    context.track_tool_call("refund", {"order": 7}, {}, tool_error={"message": "refund refused"})
    context.track_llm_call(
        "answer", model="gpt-4o", input_data="Hi", output_data="Hello", prompt_tokens=12, completion_tokens=5
    )
    context.finish(output="Done.", success=True, custom_metrics={"quality": 4.0})

    wait_until(lambda: len(otlp_receiver.spans()) == 4, timeout=10)
    path, headers = otlp_receiver.posts[0]
    assert path == OTLP_PATH
    assert headers["authorization"] == "Basic " + base64.b64encode(b"pk-lf-1:sk-lf-1").decode()
    everything = json.dumps(otlp_receiver.spans())
    assert EMAIL not in everything  # redacted like every Sentrial export
    spans = by_kind(otlp_receiver)
    session = spans["session"]["attributes"]
    assert (session["sentrial.user.id"], session["gen_ai.agent.name"]) == ("user_7", "support")
    assert json.loads(session["sentrial.metadata"]) == {"tier": "gold", "sentrial_session_id": "session-1"}
    assert (session["sentrial.output"], session["sentrial.success"]) == ("Done.", True)
    assert json.loads(session["sentrial.custom_metrics"]) == {"quality": 4.0, "success": 1.0}
    tools = [s for s in otlp_receiver.spans() if s["attributes"].get("sentrial.span.kind") == "tool_call"]
    assert sorted(s["attributes"]["gen_ai.tool.name"] for s in tools) == ["lookup", "refund"]
    llm = spans["llm"]["attributes"]
    assert (llm["gen_ai.request.model"], int(llm["gen_ai.usage.input_tokens"])) == ("gpt-4o", 12)
    integration.shutdown()


def test_scores_after_the_update_are_kept_until_the_flush(otlp_receiver: OtlpReceiver) -> None:
    integration = LangfuseIntegration(public_key="pk", secret_key="sk", host=otlp_receiver.url)
    trace = integration.create_trace("s-2", "triage", "user_8")
    span = integration.create_span(trace, "classify", {"text": "hello"})
    integration.end_span(span, {"label": "greeting"})
    integration.update_trace(trace, output="greeting", metadata={"success": False})
    integration.score_trace(trace, "confidence", 0.5)
    assert trace is not None and not trace.interaction.finished  # the flush finishes it
    integration.flush()
    assert trace.interaction.finished
    wait_until(lambda: "session" in by_kind(otlp_receiver), timeout=10)
    session = by_kind(otlp_receiver)["session"]["attributes"]
    assert (session["sentrial.output"], session["sentrial.success"]) == ("greeting", False)
    assert json.loads(session["sentrial.custom_metrics"]) == {"confidence": 0.5}
    integration.shutdown()


def test_without_keys_nothing_is_sent_or_it_raises_when_strict(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("LANGFUSE_PUBLIC_KEY", raising=False)
    monkeypatch.delenv("LANGFUSE_SECRET_KEY", raising=False)
    integration = LangfuseIntegration()
    assert "needs public_key and secret_key" in caplog.text
    assert (integration.enabled, integration.exporter(), integration.create_trace("s", "n", "u")) == (
        False,
        None,
        None,
    )
    LangfuseTraceContext(integration, "s", "n", "u").finish(output="x")  # does nothing, raises nothing
    with pytest.raises(ValueError, match="public_key"):
        LangfuseIntegration(fail_silently=False)
    assert LangfuseIntegration(public_key="pk", secret_key="sk", enabled=False).exporter() is None


def test_the_keys_and_host_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-env")
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-env")
    monkeypatch.setenv("LANGFUSE_HOST", "http://127.0.0.1:9")
    integration = LangfuseIntegration()
    assert integration.enabled and integration.endpoint == "http://127.0.0.1:9" + OTLP_PATH


def test_a_client_with_langfuse_sends_every_span_to_both_redacted_once(
    local_server: LocalServer, otlp_receiver: OtlpReceiver
) -> None:
    integration = LangfuseIntegration(public_key="pk", secret_key="sk", host=otlp_receiver.url)
    client = SentrialClient(api_key="k", api_url=local_server.url, pii=True, langfuse=integration)
    assert client.langfuse is integration
    session_id = client.create_session(name="Support", agent_name="support", user_id="user_7")
    client.track_tool_call(session_id, "lookup", {"email": EMAIL}, {"found": True})
    client.complete_session(session_id, success=True, assistant_output=f"Wrote to {EMAIL}")
    assert client.flush(timeout=10)

    session = local_server.session(session_id)
    assert session is not None and [e["toolName"] for e in session["events"]] == ["lookup"]
    wait_until(lambda: len(otlp_receiver.spans()) == 2, timeout=10)
    spans = by_kind(otlp_receiver)
    assert spans["session"]["attributes"]["sentrial.session.id"] == session_id
    assert EMAIL not in json.dumps(session) and EMAIL not in json.dumps(otlp_receiver.spans())
    client.shutdown(timeout=5)
