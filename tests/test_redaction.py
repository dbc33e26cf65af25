"""PII redaction end to end: what reaches the local server and an OTLP receiver, over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import wait_until
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otlp_receiver import OtlpReceiver

from sentrial import SentrialClient
from sentrial._pii_secret import hash_secret
from sentrial.redact import PiiBuiltinPatterns, PiiConfig, PiiCustomPattern
from sentrial.relay import Relay, RelayServer
from sentrial.server import LocalServer
from sentrial.tracing import router_of

EMAIL, PHONE, SSN = "jane.doe@example.com", "(555) 123-4567", "123-45-6789"
CARD, KEY, TIMESTAMP = "4111 1111 1111 1111", "sk-" + "A1b2" * 9, "1732723200000"
PII_VALUES = (EMAIL, PHONE, SSN, CARD, KEY)
TEXT = f"Contact {EMAIL} or {PHONE}, SSN {SSN}, card {CARD}, key {KEY}, at {TIMESTAMP}"
LABELLED = f"Contact [EMAIL] or [PHONE], SSN [SSN], card [CREDIT_CARD], key [api_key], at {TIMESTAMP}"

REFERENCE_CONFIG = PiiConfig(
    enabled=True,
    mode="label",
    fields=["user_input", "assistant_output", "metadata", "reasoning"],
    builtin_patterns=PiiBuiltinPatterns(emails=True, phones=True, ssns=True, credit_cards=True),
    custom_patterns=[PiiCustomPattern(label="api_key", pattern=r"sk-[a-zA-Z0-9]{32,}")],
)
FULL_CONFIG = PiiConfig(custom_patterns=[PiiCustomPattern(label="api_key", pattern=r"sk-[a-zA-Z0-9]{32,}")])


def run_agent(client: SentrialClient) -> str:
    """An interaction that puts the PII text into every field there is; returns its session id."""
    interaction = client.begin(user_id="u1", event="support", input=TEXT, metadata={"note": TEXT})
    interaction.track_tool_call(
        tool_name="lookup",
        tool_input={"query": TEXT},
        tool_output={"result": TEXT},
        reasoning=TEXT,
        tool_error={"message": TEXT},
    )
    interaction.track_decision(reasoning=TEXT, alternatives=[TEXT], confidence=0.5)
    interaction.track_error(error_message=TEXT, error_type="LookupError", stack_trace=TEXT)
    interaction.finish(output=TEXT, success=False, failure_reason=TEXT)
    assert client.flush(timeout=10)
    assert interaction.session_id is not None
    return interaction.session_id


@pytest.fixture
def provider() -> TracerProvider:
    return TracerProvider()


def make_client(server: LocalServer, provider: TracerProvider, **options: Any) -> SentrialClient:
    return SentrialClient(api_key="k", api_url=server.url, tracer_provider=provider, **options)


@pytest.fixture
def clients() -> Iterator[list[SentrialClient]]:
    made: list[SentrialClient] = []
    yield made
    for client in made:
        client.shutdown(timeout=5)


def test_reference_config_redacts_exactly_the_configured_fields(
    local_server: LocalServer, provider: TracerProvider, clients: list[SentrialClient]
) -> None:
    client = make_client(local_server, provider, pii=REFERENCE_CONFIG)
    clients.append(client)
    sid = run_agent(client)
    session = local_server.session(sid)
    assert session is not None
    # Configured: user_input, assistant_output, metadata, reasoning.
    assert session["metadata"]["note"] == LABELLED
    assert session["metadata"]["input"] == LABELLED
    assert (session["userInput"], session["assistantOutput"]) == (LABELLED, LABELLED)
    tool, decision, error = session["events"]
    assert tool["reasoning"] == LABELLED and decision["reasoning"] == LABELLED
    # Not configured: left exactly as they were.
    assert tool["toolInput"] == {"query": TEXT} and tool["toolOutput"] == {"result": TEXT}
    assert tool["toolError"] == {"message": TEXT}
    assert decision["alternativesConsidered"] == [TEXT]
    assert error["toolError"] == {"message": TEXT, "type": "LookupError", "stack_trace": TEXT}
    assert session["failureReason"] == TEXT


def test_default_config_leaves_no_pii_anywhere(
    local_server: LocalServer, provider: TracerProvider, clients: list[SentrialClient]
) -> None:
    client = make_client(local_server, provider, pii=FULL_CONFIG)
    clients.append(client)
    run_agent(client)
    wire = json.dumps([r["json"] for r in local_server.requests])
    for value in PII_VALUES:
        assert value not in wire
    assert TIMESTAMP in wire
    assert wire.count("[EMAIL]") >= 10


def test_pii_true_fetches_the_server_settings_and_applies_custom_patterns(
    local_server: LocalServer, provider: TracerProvider, clients: list[SentrialClient]
) -> None:
    local_server.set_pii_config(
        {
            "enabled": True,
            "mode": "label",
            "fields": None,
            "enhancedDetection": False,
            "builtinPatterns": {"emails": True, "phones": True, "ssns": True, "creditCards": True},
            "customPatterns": [{"pattern": r"ACME-\d{4}", "label": "CUSTOMER_ID"}],
        }
    )
    client = make_client(local_server, provider, pii=True)
    clients.append(client)
    default_redactor = client.delivery.redactor
    wait_until(lambda: client.delivery.redactor is not default_redactor, what="the server's PII settings")
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    client.track_tool_call(sid, "crm", {"customer": "ACME-1234", "mail": EMAIL}, {})
    client.complete_session(sid)
    assert client.flush(timeout=5)
    event = local_server.session(sid)["events"][0]  # type: ignore[index]
    assert event["toolInput"] == {"customer": "[CUSTOMER_ID]", "mail": "[EMAIL]"}
    assert any(r["path"] == "/api/sdk/pii-config" for r in local_server.requests)


def test_pii_true_keeps_full_redaction_when_the_server_settings_cannot_be_applied_whole(
    local_server: LocalServer,
    provider: TracerProvider,
    clients: list[SentrialClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A typo in the field names: taking the rest would leave every field unredacted.
    local_server.set_pii_config({"enabled": True, "mode": "remove", "fields": ["userInputs"]})
    client = make_client(local_server, provider, pii=True)
    clients.append(client)
    default_redactor = client.delivery.redactor
    wait_until(lambda: client.delivery.redactor is not default_redactor, what="the server's PII settings")
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    client.track_tool_call(sid, "crm", {"mail": EMAIL, "phone": PHONE}, {})
    client.complete_session(sid)
    assert client.flush(timeout=5)
    assert local_server.session(sid)["events"][0]["toolInput"] == {"mail": "[EMAIL]", "phone": "[PHONE]"}  # type: ignore[index]
    assert "'userInputs'" in caplog.text


def test_pii_true_hashes_with_the_organisations_secret_from_the_server(
    local_server: LocalServer, provider: TracerProvider, clients: list[SentrialClient]
) -> None:
    local_server.set_pii_config({"enabled": True, "mode": "hash", "hashSecret": "org secret"})
    client = make_client(local_server, provider, pii=True)
    clients.append(client)
    default_redactor = client.delivery.redactor
    wait_until(lambda: client.delivery.redactor is not default_redactor, what="the server's PII settings")
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    client.track_decision(sid, reasoning=f"mail {EMAIL} now")
    client.complete_session(sid)
    assert client.flush(timeout=5)
    digest = hmac.new(b"org secret", EMAIL.encode(), hashlib.sha256).hexdigest()[:16]
    assert local_server.session(sid)["events"][0]["reasoning"] == f"mail [PII:{digest}] now"  # type: ignore[index]


def test_pii_true_fails_closed_when_the_settings_cannot_be_fetched(
    local_server: LocalServer, provider: TracerProvider, clients: list[SentrialClient]
) -> None:
    local_server.inject_faults(status=404, count=None, paths=["/api/sdk/pii-config"])
    client = make_client(local_server, provider, pii=True)
    clients.append(client)
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    client.track_tool_call(sid, "crm", {"mail": EMAIL, "phone": PHONE}, {})
    client.complete_session(sid)
    assert client.flush(timeout=5)
    assert local_server.session(sid)["events"][0]["toolInput"] == {"mail": "[EMAIL]", "phone": "[PHONE]"}  # type: ignore[index]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("label", "mail [EMAIL] now"), ("hash", "mail [PII:{digest}] now"), ("remove", "mail  now")],
)
def test_modes(
    local_server: LocalServer,
    provider: TracerProvider,
    clients: list[SentrialClient],
    mode: Any,
    expected: str,
) -> None:
    client = make_client(local_server, provider, pii=PiiConfig(mode=mode))
    clients.append(client)
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    client.track_decision(sid, reasoning=f"mail {EMAIL} now")
    client.complete_session(sid)
    assert client.flush(timeout=5)
    digest = hmac.new(hash_secret(), EMAIL.encode(), hashlib.sha256).hexdigest()[:16]
    assert local_server.session(sid)["events"][0]["reasoning"] == expected.format(digest=digest)  # type: ignore[index]


def test_otlp_exporter_next_to_sentrial_gets_the_same_redacted_spans_and_the_app_the_live_ones(
    local_server: LocalServer,
    otlp_receiver: OtlpReceiver,
    provider: TracerProvider,
    clients: list[SentrialClient],
) -> None:
    app_exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(app_exporter))
    otlp = OTLPSpanExporter(endpoint=f"{otlp_receiver.url}/v1/traces")
    client = make_client(local_server, provider, pii=FULL_CONFIG, additional_exporters=[otlp])
    clients.append(client)
    tracer = provider.get_tracer("some.genai.instrumentation")
    with client.begin(user_id="u", event="chat", input=TEXT) as interaction:
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.input.messages", json.dumps([{"role": "user", "content": TEXT}]))
            llm.record_exception(ValueError(TEXT))
        interaction.track_error(error_message=TEXT)
        interaction.set_output(TEXT)
    assert client.flush(timeout=10)

    received = wait_until(
        lambda: len(otlp_receiver.spans()) >= 3 and otlp_receiver.spans(), what="OTLP spans"
    )
    wire = json.dumps(received)
    for value in PII_VALUES:
        assert value not in wire
    assert "[EMAIL]" in wire and TIMESTAMP in wire
    names = sorted(span["name"] for span in received)
    assert names == ["chat gpt-4o", "invoke_agent chat", "sentrial.error"]
    llm_span = next(span for span in received if span["name"] == "chat gpt-4o")
    assert json.loads(llm_span["attributes"]["gen_ai.input.messages"])[0]["content"] == LABELLED
    assert llm_span["events"][0]["name"] == "exception"
    # The app's own exporter sees the live spans, untouched.
    live = {span.name: span for span in app_exporter.get_finished_spans()}
    assert live["invoke_agent chat"].attributes["sentrial.input"] == TEXT  # type: ignore[index]
    assert TEXT in str(live["chat gpt-4o"].events[0].attributes)


def test_invalid_custom_pattern_raises_when_strict_and_is_skipped_otherwise(
    local_server: LocalServer,
    provider: TracerProvider,
    clients: list[SentrialClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = PiiConfig(custom_patterns=[PiiCustomPattern(label="broken", pattern="(unclosed")])
    with pytest.raises(ValueError, match=r"\(unclosed"):
        make_client(local_server, provider, pii=bad, fail_silently=False)
    caplog.set_level(logging.ERROR, logger="sentrial")
    client = make_client(local_server, provider, pii=bad)
    clients.append(client)
    assert "(unclosed" in caplog.text
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    client.track_decision(sid, reasoning=f"mail {EMAIL}")
    client.complete_session(sid)
    assert client.flush(timeout=5)
    assert local_server.session(sid)["events"][0]["reasoning"] == "mail [EMAIL]"  # type: ignore[index]


def test_wrong_pii_value_fails_closed(
    local_server: LocalServer, provider: TracerProvider, clients: list[SentrialClient]
) -> None:
    with pytest.raises(TypeError):
        make_client(local_server, provider, pii="yes", fail_silently=False)
    client = make_client(local_server, provider, pii="yes")
    clients.append(client)
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    client.track_decision(sid, reasoning=f"mail {EMAIL}")
    client.complete_session(sid)
    assert client.flush(timeout=5)
    assert local_server.session(sid)["events"][0]["reasoning"] == "mail [EMAIL]"  # type: ignore[index]


def test_a_trace_session_named_after_a_root_span_with_pii_is_redacted(
    local_server: LocalServer, provider: TracerProvider, clients: list[SentrialClient]
) -> None:
    # An LLM call outside every session joins its trace's session, named after the app's root span.
    client = make_client(local_server, provider, pii=PiiConfig(fields=["tool_input"]))
    clients.append(client)
    router_of(provider).default = client.delivery
    tracer = provider.get_tracer("app")
    llm = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
    }
    with (
        tracer.start_as_current_span(f"GET /users/{EMAIL}"),
        tracer.start_as_current_span("chat", attributes=llm),
    ):
        pass
    assert client.flush(timeout=5)
    (session,) = local_server.sessions()
    assert session["name"] == "GET /users/[EMAIL]"


LLM_CALL = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
}
APP_RESOURCE = {"service.name": f"bot {EMAIL}", "user.email": EMAIL, "host.name": f"box {PHONE}"}


def run_llm_call_outside_sessions(provider: TracerProvider) -> None:
    """A trace with one LLM call and no Sentrial session: its session is named after service.name."""
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("job"), tracer.start_as_current_span("chat", attributes=LLM_CALL):
        pass


def test_resource_attributes_are_redacted_for_every_exporter_and_the_apps_resource_is_kept(
    local_server: LocalServer, clients: list[SentrialClient]
) -> None:
    resource = Resource.create(APP_RESOURCE)
    provider = TracerProvider(resource=resource)
    additional = InMemorySpanExporter()
    client = make_client(local_server, provider, pii=True, additional_exporters=[additional])
    clients.append(client)
    router_of(provider).default = client.delivery
    run_llm_call_outside_sessions(provider)
    assert client.flush(timeout=10)

    wire = json.dumps([r["json"] for r in local_server.requests])
    assert EMAIL not in wire and PHONE not in wire
    (session,) = local_server.sessions()
    pseudonym = hmac.new(hash_secret(), EMAIL.encode(), hashlib.sha256).hexdigest()[:16]
    assert session["agentName"] == f"bot [EMAIL:{pseudonym}]"
    spans = additional.get_finished_spans()
    assert spans and all(span.resource is spans[0].resource for span in spans)  # redacted once
    assert dict(spans[0].resource.attributes) == {
        **resource.attributes,
        "service.name": f"bot [EMAIL:{pseudonym}]",  # as the agent name: sessions still group by it
        "user.email": "[EMAIL]",
        "host.name": "box [PHONE]",
    }
    assert resource.attributes["user.email"] == EMAIL  # the app's own Resource is untouched


def test_the_relay_names_the_agent_after_the_redacted_service_name(local_server: LocalServer) -> None:
    """Over real HTTP: an app's OTLP exporter -> a redacting relay -> the local server."""
    relay = RelayServer(Relay(api_url=local_server.url, api_key="k", pii=True), port=0).start()
    provider = TracerProvider(resource=Resource.create(APP_RESOURCE))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{relay.url}/v1/traces")))
    try:
        run_llm_call_outside_sessions(provider)
        provider.shutdown()
        assert relay.relay.flush(timeout=10)
    finally:
        relay.stop()
    (session,) = wait_until(local_server.sessions, what="the trace's session")
    assert session["agentName"].startswith("bot [EMAIL:")
    wire = json.dumps([r["json"] for r in local_server.requests])
    assert EMAIL not in wire and PHONE not in wire
