"""Canaries planted into every place a user can put data; none may leave through Sentrial raw.

Each mode redacts: what reaches the local Sessions API server (over real HTTP) and what an
exporter set up through Sentrial receives. The app's own exporter still sees the live values, and
the sessions of one user still share one (pseudonymous) user id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from fake_anthropic import FakeAnthropic
from fake_anthropic import Reply as AnthropicReply
from fake_openai import FakeOpenAI
from fake_openai import Reply as OpenAIReply
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool as lc_tool
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link

import sentrial
from sentrial import SentrialClient
from sentrial.instrumentation.anthropic import AnthropicInstrumentor
from sentrial.instrumentation.openai import OpenAIInstrumentor
from sentrial.integrations.langchain import LangChainInstrumentor
from sentrial.redact import PiiConfig
from sentrial.server import LocalServer

EMAIL = "canary.jane@example.com"
PHONE = "+1 555 867 5309"
SSN = "123-45-6789"
CARD = "4111 1111 1111 1111"
IP = "203.0.113.9"
SECRET = "sk-" + "Zq3" * 8
CANARIES = (EMAIL, PHONE, SSN, CARD, IP, SECRET)
BLOB = f"mail {EMAIL} call {PHONE} ssn {SSN} card {CARD} from {IP} key {SECRET}"
OTHER_USER = "canary.john@example.com"


@pytest.fixture
def fakes() -> Iterator[tuple[FakeOpenAI, FakeAnthropic]]:
    fake_openai = FakeOpenAI().start()
    fake_openai.reply = OpenAIReply(text=BLOB)
    fake_anthropic = FakeAnthropic().start()
    fake_anthropic.reply = AnthropicReply(text=BLOB)
    try:
        yield fake_openai, fake_anthropic
    finally:
        fake_openai.stop()
        fake_anthropic.stop()


def _plant(
    client: SentrialClient, provider: TracerProvider, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> list[str]:
    """Put the canaries everywhere; returns the ids of the sessions of the user EMAIL."""
    interaction = client.begin(
        user_id=EMAIL,
        event=f"agent {PHONE}",
        input=BLOB,
        convo_id=f"conversation {SSN}",
        event_id=f"event {CARD}",
        metadata={EMAIL: BLOB, "nested": {PHONE: [BLOB]}},
    )
    with interaction:
        interaction.track_tool_call(
            tool_name=f"lookup {EMAIL}",
            tool_input={EMAIL: BLOB},
            tool_output={PHONE: BLOB},
            reasoning=BLOB,
            tool_error={EMAIL: BLOB, "type": f"Timeout {PHONE}"},
            metadata={SSN: BLOB},
        )
        interaction.set_output({EMAIL: BLOB})
        interaction.track_decision(reasoning=BLOB, alternatives=[BLOB, EMAIL], confidence=0.5)
        interaction.track_error(
            error_message=BLOB, error_type=f"Error {EMAIL}", tool_name=f"tool {PHONE}", stack_trace=BLOB
        )

        @sentrial.tool(name=f"decorated {EMAIL}")
        def decorated(query: str) -> dict[str, Any]:
            raise ValueError(f"no answer for {query}")

        with pytest.raises(ValueError):
            decorated(BLOB)
        with openai.OpenAI(base_url=fake_openai.url, api_key="test", max_retries=0) as llm:
            stream = llm.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": BLOB}], stream=True
            )
            assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == BLOB
        with (
            anthropic.Anthropic(base_url=fake_anthropic.url, api_key="test", max_retries=0) as claude,
            claude.messages.stream(
                model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": BLOB}]
            ) as answer,
        ):
            assert answer.get_final_text() == BLOB
        interaction.finish(output=BLOB, custom_metrics={EMAIL: 1.0}, failure_reason=BLOB, success=False)
    first = interaction.session_id

    # A failure inside a second interaction of the same user: the exception's text is recorded.
    with pytest.raises(KeyError), client.begin(user_id=EMAIL, event="again", input=BLOB) as second:
        raise KeyError(BLOB)
    with client.begin(user_id=OTHER_USER, event="someone else"):
        pass

    @sentrial.session(f"support {PHONE}")
    def handle(user_id: str, message: str) -> str:
        return f"answered {message}"

    handle(EMAIL, BLOB)

    # A LangChain run outside every interaction: its metadata names the user and the thread.
    @lc_tool
    def lookup_customer(query: str) -> str:
        """Look a customer up."""
        return f"found {query}"

    run = RunnableLambda(lambda question: lookup_customer.invoke({"query": question}))
    run.with_config(run_name=f"agent {EMAIL}").invoke(
        BLOB, config={"metadata": {"user_id": EMAIL, "thread_id": f"thread {PHONE}", "note": BLOB}}
    )

    # The explicit API.
    session_id = client.create_session(name=f"session {EMAIL}", agent_name=f"agent {SSN}", user_id=EMAIL)
    client.track_tool_call(session_id, f"tool {EMAIL}", {PHONE: BLOB}, {CARD: BLOB}, reasoning=BLOB)
    client.complete_session(
        session_id,
        success=False,
        failure_reason=BLOB,
        custom_metrics={CARD: 2.0},
        user_input=BLOB,
        assistant_output=BLOB,
    )

    # The app's own HTTP root span, with LLM spans of other instrumentations (OpenInference and
    # Traceloop style) under it: they make a session named after the root span.
    tracer = provider.get_tracer("the app")
    with tracer.start_as_current_span(
        f"GET /users/{EMAIL}", attributes={"http.url": f"http://shop.test/users/{EMAIL}?phone={PHONE}"}
    ) as root:
        root.add_event(f"looked up {EMAIL}", {"who": BLOB, "ids": [SSN, CARD]})
        with tracer.start_as_current_span(
            "openinference llm",
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o",
                "input.value": BLOB,
                "llm.prompts": [BLOB],
                "llm.prompt_template.variables": json.dumps({"customer": EMAIL}),
                "llm.invocation_parameters": json.dumps({"user": EMAIL, "stop": [PHONE]}),
                "user.id": EMAIL,
                "session.id": f"session {PHONE}",
                "tag.tags": [EMAIL],
                "metadata": json.dumps({EMAIL: BLOB}),
            },
            links=[Link(root.get_span_context(), {"from": EMAIL})],
        ):
            pass
        with tracer.start_as_current_span(
            "traceloop chat",
            attributes={
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": BLOB,
                "gen_ai.completion.0.content": BLOB,
                "gen_ai.request.stop_sequences": [EMAIL],
                "traceloop.association.properties.user_id": EMAIL,
                "traceloop.association.properties.ticket": f"card {CARD}",
            },
        ):
            pass
    assert client.flush(timeout=10)
    assert first is not None and second.session_id is not None
    return [first, second.session_id, session_id]


def _texts_of(span: ReadableSpan) -> str:
    """Everything a span carries, as one text."""
    parts: list[Any] = [span.name, dict(span.attributes or {}), span.status.description]
    parts += [(event.name, dict(event.attributes or {})) for event in span.events]
    parts += [dict(link.attributes or {}) for link in span.links]
    return json.dumps(parts, ensure_ascii=False, default=str)


@pytest.mark.parametrize("mode", ["label", "hash", "remove"])
def test_no_canary_leaves_raw_in_any_mode(
    local_server: LocalServer, fakes: tuple[FakeOpenAI, FakeAnthropic], mode: Any
) -> None:
    provider = TracerProvider()
    app_spans = InMemorySpanExporter()  # the app's own exporter, beside Sentrial
    provider.add_span_processor(SimpleSpanProcessor(app_spans))
    additional = InMemorySpanExporter()  # an exporter set up through Sentrial
    # The default client: LLM calls outside its sessions join a session of their trace.
    client = sentrial.configure(
        api_key="k",
        api_url=local_server.url,
        pii=PiiConfig(mode=mode, enhanced_detection=True),
        instrument=False,  # instrumented on this provider below
        tracer_provider=provider,
        additional_exporters=[additional],
    )
    instrumentors = [OpenAIInstrumentor(), AnthropicInstrumentor(), LangChainInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=provider)
    try:
        sessions_of_the_user = _plant(client, provider, *fakes)
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()
        client.shutdown(timeout=10)

    wire = json.dumps([(r["path"], r["json"]) for r in local_server.requests], ensure_ascii=False)
    exported = [_texts_of(span) for span in additional.get_finished_spans()]
    assert len(exported) >= 10
    for canary in CANARIES:
        assert canary not in wire, canary
        assert not [text for text in exported if canary in text], canary
    # Everything planted arrived, in redacted form: the sessions, their events, the trace's session.
    sessions = local_server.sessions()
    assert len(sessions) == 7  # the trace's session too
    assert sum(len(local_server.session(s["id"])["events"]) for s in sessions) >= 8  # type: ignore[index]

    # The app's own exporter sees the live values.
    live = " ".join(_texts_of(span) for span in app_spans.get_finished_spans())
    assert all(canary in live for canary in CANARIES)

    # The sessions of one user share one pseudonym, which is not another user's.
    user_ids = {local_server.session(sid)["userId"] for sid in sessions_of_the_user}  # type: ignore[index]
    # and those of @session and of the LangChain run
    user_ids.update(s["userId"] for s in sessions if s["agentName"].startswith(("support", "agent [EMAIL")))
    assert len(user_ids) == 1
    (pseudonym,) = user_ids
    assert pseudonym.startswith("[EMAIL:") and EMAIL not in pseudonym
    others = [s["userId"] for s in sessions if s["userId"] not in (pseudonym, "anonymous")]
    assert len(others) == 1 and others[0].startswith("[EMAIL:") and others[0] != pseudonym
