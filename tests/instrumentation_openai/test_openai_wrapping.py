"""Wrapping and instrumenting OpenAI clients: one span per call however the two combine, copies
of wrapped clients, undoing, and sessions end to end on the local Sessions API server."""

from __future__ import annotations

import importlib
import json

import openai
import pytest
import wrapt
from fake_openai import FakeOpenAI, Reply
from openai_support import USER, Traced, attributes, cost, run_async
from opentelemetry.trace import SpanKind

import sentrial
from sentrial import SentrialClient
from sentrial import semconv as sc
from sentrial.instrumentation import uninstrument_all
from sentrial.instrumentation._base import TRACER_NAME, wrap_instance
from sentrial.instrumentation.openai import PATCHES, OpenAIInstrumentor
from sentrial.server import LocalServer


def test_wrapping_twice_gives_one_span_per_call(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    traced = Traced()
    tracer = traced.provider.get_tracer(TRACER_NAME)
    assert (
        wrap_instance(client, PATCHES, tracer) == 5
    )  # chat create/parse, responses create/parse, embeddings
    assert wrap_instance(client, PATCHES, tracer) == 5
    client.chat.completions.create(model="gpt-4o", messages=USER)
    client.embeddings.create(model="text-embedding-3-small", input="one")
    assert [s.name for s in traced.spans()] == ["chat gpt-4o", "embeddings text-embedding-3-small"]


def test_instrument_and_wrap_give_one_span_per_call(fake: FakeOpenAI, traced: Traced) -> None:
    async def call(client: openai.AsyncOpenAI) -> None:
        wrap_instance(client, PATCHES, traced.provider.get_tracer(TRACER_NAME))
        await client.chat.completions.create(model="gpt-4o", messages=USER)
        stream = await client.chat.completions.create(model="gpt-4o", messages=USER, stream=True)
        async for _ in stream:
            pass

    run_async(fake, call)
    assert [attributes(s).get(sc.GEN_AI_REQUEST_STREAM) for s in traced.spans()] == [None, True]


def test_a_call_under_another_instrumentations_agent_span_is_traced_but_not_under_its_llm_span(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI
) -> None:
    # Frameworks such as AutoGen make GenAI client spans of their own around a model call: an
    # agent's (invoke_agent) hides nothing, an LLM call's (chat) is that call already.
    other = traced.provider.get_tracer("another-instrumentation")
    for operation in ("invoke_agent", "chat"):
        attributes = {sc.GEN_AI_OPERATION_NAME: operation, "gen_ai.system": "autogen"}
        with other.start_as_current_span(operation, kind=SpanKind.CLIENT, attributes=attributes):
            client.chat.completions.create(model="gpt-4o", messages=USER)
    assert [s.name for s in traced.spans()] == ["chat gpt-4o", "invoke_agent", "chat"]


def test_wrap_openai_of_a_non_openai_object_changes_nothing() -> None:
    thing = object()
    assert sentrial.wrap_openai(thing) is thing


def test_uninstrument_restores_the_original_methods(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    owners = [(p.resolve_owner(), p.method) for p in PATCHES]
    present = [(owner, method) for owner, method in owners if owner is not None]
    assert len(present) == len(PATCHES) == 10
    originals = {(owner, method): owner.__dict__[method] for owner, method in present}
    traced = Traced()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=traced.provider)
    try:
        assert all(isinstance(owner.__dict__[method], wrapt.FunctionWrapper) for owner, method in present)
    finally:
        instrumentor.uninstrument()
    assert all(owner.__dict__[method] is originals[(owner, method)] for owner, method in present)
    client.chat.completions.create(model="gpt-4o", messages=USER)
    assert traced.spans() == []


# --- end to end: the local Sessions API server ---
def test_session_gets_one_llm_tool_call_per_call_and_totals_add_them_up(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI, local_server: LocalServer
) -> None:
    sentrial_client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=traced.provider)
    fake.reply = Reply(text="Paris.", prompt_tokens=1000, completion_tokens=200, cached_tokens=400)
    with sentrial_client.begin(user_id="u1", event="qa", input="Capital?") as interaction:
        client.chat.completions.create(model="gpt-4o", messages=USER)
        fake.reply = Reply(text="Hi!", prompt_tokens=50, completion_tokens=10)
        client.responses.create(model="gpt-4o-mini", input="Say hi", instructions="Be kind.")
    assert sentrial_client.flush(timeout=5)
    sentrial_client.shutdown(timeout=5)
    session = local_server.session(interaction.session_id)
    assert session is not None
    chat_event, responses_event = session["events"]
    chat_cost, responses_cost = cost("gpt-4o", 1000, 200, cached=400), cost("gpt-4o-mini", 50, 10)
    assert {
        k: chat_event[k]
        for k in ("eventType", "toolName", "toolInput", "toolOutput", "estimatedCost", "tokenCount")
    } == {
        "eventType": "tool_call",
        "toolName": "llm:openai:gpt-4o",
        "toolInput": {
            "messages": [{"role": "user", "content": "Capital of France?"}],
            "model": "gpt-4o",
            "provider": "openai",
        },
        "toolOutput": {
            "content": "Paris.",
            "tokens": {"prompt": 1000, "completion": 200, "total": 1200},
            "cost_usd": chat_cost,
        },
        "estimatedCost": chat_cost,
        "tokenCount": 1200,
    }
    assert responses_event["toolName"] == "llm:openai:gpt-4o-mini"
    assert responses_event["toolInput"]["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Say hi"},
    ]
    assert responses_event["toolOutput"]["content"] == "Hi!"
    assert responses_event["estimatedCost"] == responses_cost
    assert (session["promptTokens"], session["completionTokens"], session["totalTokens"]) == (1050, 210, 1260)
    assert session["estimatedCost"] == pytest.approx(chat_cost + responses_cost)


def test_a_stream_read_after_finish_is_recorded_and_counted_in_the_session(
    fake: FakeOpenAI, traced: Traced, client: openai.OpenAI, local_server: LocalServer
) -> None:
    # An agent that returns the stream for its caller (a web framework) to read after finish().
    sentrial_client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=traced.provider)
    fake.reply = Reply(text="Paris.", prompt_tokens=10, completion_tokens=3)
    interaction = sentrial_client.begin(user_id="u1", event="qa", input="Capital?")
    stream = client.chat.completions.create(
        model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    interaction.finish(output="streamed", estimated_cost=0.5)  # a cost given: only the tokens are summed
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "Paris."
    assert sentrial_client.flush(timeout=5)
    sentrial_client.shutdown(timeout=5)

    sid = interaction.session_id
    calls = [(r["method"], r["json"]) for r in local_server.requests if sid in json.dumps(r)]
    # Sent after the completion it ended after, then the completion's totals again, with it counted.
    assert [method for method, _ in calls] == ["POST", "PATCH", "POST", "PATCH"]
    assert calls[3][1] == {
        "status": "completed",
        "success": True,
        "promptTokens": 10,
        "completionTokens": 3,
        "totalTokens": 13,
    }
    session = local_server.session(sid)  # type: ignore[arg-type]
    assert session is not None and [e["toolName"] for e in session["events"]] == ["llm:openai:gpt-4o"]
    assert (session["status"], session["assistantOutput"], session["estimatedCost"]) == (
        "completed",
        "streamed",
        0.5,
    )
    assert (session["promptTokens"], session["completionTokens"], session["totalTokens"]) == (10, 3, 13)


def test_reference_wrap_openai_example(fake: FakeOpenAI, local_server: LocalServer) -> None:
    """The SDK reference's LLM auto-wrapper example, as written (pointed at the fakes)."""
    from openai import OpenAI

    from sentrial import configure, wrap_openai

    user_query = "How do I reset my password?"
    fake.reply = Reply(text="Use the reset link.", prompt_tokens=20, completion_tokens=6)
    configure(api_key="sentrial_live_xxx", api_url=local_server.url, instrument=False)
    try:
        # Wrap your LLM client — all calls are now auto-tracked
        client = wrap_openai(OpenAI(base_url=fake.url, api_key="test-key"))
        interaction = sentrial.begin(user_id="user_123", event="chat", input=user_query)
        # This call is automatically tracked
        response = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": user_query}]
        )
        interaction.finish(output=response.choices[0].message.content)
        assert sentrial.flush(timeout=5)
    finally:
        sentrial.shutdown(timeout=5)
    session = local_server.session(interaction.session_id)
    assert session is not None
    (event,) = session["events"]
    assert event["toolName"] == "llm:openai:gpt-4o"
    assert event["toolOutput"]["tokens"] == {"prompt": 20, "completion": 6, "total": 26}
    assert event["estimatedCost"] == cost("gpt-4o", 20, 6)
    assert (session["status"], session["assistantOutput"]) == ("completed", "Use the reset link.")
    assert (session["promptTokens"], session["completionTokens"]) == (20, 6)
    assert session["estimatedCost"] == cost("gpt-4o", 20, 6)


@pytest.mark.parametrize("make_copy", ["with_options", "copy"])
def test_copies_of_a_wrapped_client_are_wrapped_too(
    fake: FakeOpenAI, client: openai.OpenAI, make_copy: str
) -> None:
    traced = Traced()
    wrap_instance(client, PATCHES, traced.provider.get_tracer(TRACER_NAME))
    changed = getattr(client, make_copy)(timeout=30.0)
    assert isinstance(changed, openai.OpenAI) and changed is not client
    changed.chat.completions.create(model="gpt-4o", messages=USER)
    changed.with_options(max_retries=0).embeddings.create(model="text-embedding-3-small", input="one")
    client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    names = [s.name for s in traced.spans()]
    assert names == ["chat gpt-4o", "embeddings text-embedding-3-small", "chat gpt-4o-mini"]


def test_configure_instruments_again_after_an_uninstrument(local_server: LocalServer) -> None:
    instrumentor = OpenAIInstrumentor()  # the one instance there is
    try:
        sentrial.configure(api_key="k", api_url=local_server.url)
        assert instrumentor.is_instrumented_by_opentelemetry
        uninstrument_all()
        assert not instrumentor.is_instrumented_by_opentelemetry
        sentrial.configure(api_key="k", api_url=local_server.url)
        assert instrumentor.is_instrumented_by_opentelemetry
    finally:
        sentrial.shutdown(timeout=5)


@pytest.mark.parametrize("peer_first", [True, False], ids=["peer-first", "ours-first"])
@pytest.mark.parametrize(
    "peer_module", ["openinference.instrumentation.openai", "opentelemetry.instrumentation.openai_v2"]
)
def test_another_instrumentation_of_openai_adds_no_second_span(
    fake: FakeOpenAI, client: openai.OpenAI, peer_module: str, peer_first: bool
) -> None:
    traced = Traced()
    peer = importlib.import_module(peer_module).OpenAIInstrumentor()
    ours = OpenAIInstrumentor()
    if ours.is_instrumented_by_opentelemetry:
        ours.uninstrument()
    first, second = (peer, ours) if peer_first else (ours, peer)
    first.instrument(tracer_provider=traced.provider)
    second.instrument(tracer_provider=traced.provider)
    try:
        client.chat.completions.create(model="gpt-4o", messages=USER)
        for _ in client.chat.completions.create(model="gpt-4o", messages=USER, stream=True):
            pass
    finally:
        second.uninstrument()
        first.uninstrument()
    scopes = [s.instrumentation_scope.name for s in traced.spans()]
    if peer_module.endswith("openai_v2") and not peer_first:
        # The official instrumentation, patched after ours, wraps it: its span is the call's one span.
        assert scopes == ["opentelemetry.util.genai.handler"] * 2
    else:
        assert scopes == [TRACER_NAME] * 2
