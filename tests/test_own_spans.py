"""Sentrial's own spans (a session's, a tracked event's) start without OpenTelemetry's attribute
cleaning where nothing reads their attributes as they start, and are the same spans: a sampler or a
span processor that does read them there still sees them, and the exporters get the same attributes."""

from __future__ import annotations

from typing import Any

import openai
import opentelemetry.attributes
import pytest
from fake_openai import FakeOpenAI
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
)

import sentrial
from sentrial import semconv
from sentrial._span_attributes import _ignores_attributes
from sentrial.delivery import session_snapshot
from sentrial.instrumentation.openai import OpenAIInstrumentor
from sentrial.server import LocalServer

OTHER_IDS = {semconv.SESSION_ID}


class _SeesKinds(Sampler):
    """Samples everything, noting the Sentrial kind in the attributes of each span it is asked about."""

    def __init__(self) -> None:
        self.kinds: list[Any] = []

    def should_sample(
        self, parent_context: Any, trace_id: int, name: str, kind: Any = None, attributes: Any = None, *_: Any
    ) -> SamplingResult:
        self.kinds.append((attributes or {}).get(semconv.SPAN_KIND))
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "sees kinds"


class _ReadsOnStart(SpanProcessor):
    """Notes the Sentrial kind of each span as it starts."""

    def __init__(self) -> None:
        self.kinds: list[Any] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.kinds.append((span.attributes or {}).get(semconv.SPAN_KIND))


def _client(server: LocalServer, provider: TracerProvider, exporter: InMemorySpanExporter) -> Any:
    return sentrial.SentrialClient(
        api_key="k",
        api_url=server.url,
        tracer_provider=provider,
        additional_exporters=[exporter],
        fail_silently=False,
    )


def _one_interaction(client: Any) -> str:
    interaction = client.begin(
        user_id="u", event="own", input="Weather?", event_id="event-1", metadata={"n": 1}
    )
    interaction.track_tool_call(tool_name="search", tool_input={"q": "x"}, tool_output={"ok": True})
    interaction.track_decision(reasoning="enough", alternatives=["a", "b"], confidence=0.5)
    interaction.finish(output="done", prompt_tokens=3, completion_tokens=4)
    assert client.flush(timeout=10)
    return str(interaction.session_id)


KINDS = [semconv.KIND_SESSION, semconv.KIND_TOOL_CALL, semconv.KIND_DECISION]


def _described(spans: list[ReadableSpan]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """Each span's name and attributes in their order, the session ids left out (new every time)."""
    return [
        (span.name, [(k, v) for k, v in (span.attributes or {}).items() if k not in OTHER_IDS])
        for span in sorted(spans, key=lambda each: each.name)
    ]


def test_the_spans_are_the_same_whether_their_start_is_watched_or_not(local_server: LocalServer) -> None:
    spans = []
    for watched in (False, True):
        provider, exporter = TracerProvider(), InMemorySpanExporter()
        client = _client(local_server, provider, exporter)
        if watched:
            provider.add_span_processor(_ReadsOnStart())
        assert client._own_spans.unwatched() is not watched
        session_id = _one_interaction(client)
        client.shutdown()
        session = local_server.session(session_id)
        assert session is not None and session["status"] == "completed" and len(session["events"]) == 2
        spans.append(_described(list(exporter.get_finished_spans())))
    unwatched, watched_spans = spans
    assert [name for name, _ in unwatched] == ["execute_tool search", "invoke_agent own", "plan"]
    assert unwatched == watched_spans


def test_a_sampler_that_reads_attributes_sees_every_kind(local_server: LocalServer) -> None:
    sampler = _SeesKinds()
    client = _client(local_server, TracerProvider(sampler=sampler), InMemorySpanExporter())
    assert not client._own_spans.unwatched()
    _one_interaction(client)
    client.shutdown()
    assert sampler.kinds == KINDS


def test_a_processor_added_later_sees_the_attributes_as_spans_start(local_server: LocalServer) -> None:
    provider = TracerProvider()
    client = _client(local_server, provider, InMemorySpanExporter())
    _one_interaction(client)  # unwatched: started bare
    reader = _ReadsOnStart()
    provider.add_span_processor(reader)
    _one_interaction(client)
    client.shutdown()
    assert reader.kinds == KINDS


def _counting_cleanings(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """From now on, every value OpenTelemetry's attribute cleaning is given, in a list (its functions'
    names differ between SDK versions: each ``_clean...`` function of the module is counted)."""
    cleaned: list[Any] = []

    def counting(real: Any) -> Any:
        def counted(value: Any, *rest: Any) -> Any:
            cleaned.append(value)
            return real(value, *rest)

        return counted

    for name, real in vars(opentelemetry.attributes).copy().items():
        if name.startswith("_clean") and callable(real):
            monkeypatch.setattr(opentelemetry.attributes, name, counting(real))
    return cleaned


def test_unwatched_spans_skip_the_cleaning(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The point: on a provider nothing else watches, a whole interaction (a state update too) costs
    no attribute cleaning."""
    client = _client(local_server, TracerProvider(), InMemorySpanExporter())
    cleaned = _counting_cleanings(monkeypatch)
    session_id = _one_interaction(client)
    interaction = client.begin(user_id="u", event="stateful")
    client.update_state("city", "Paris")
    interaction.track_tool_call(tool_name="look", tool_input={}, tool_output={"ok": True})
    interaction.finish(output="done")
    assert client.flush(timeout=10)
    client.shutdown()
    assert cleaned == []
    session = local_server.session(session_id)
    assert session is not None and [event["eventType"] for event in session["events"]] == [
        "tool_call",
        "llm_decision",
    ]
    stateful = local_server.session(str(interaction.session_id))
    assert stateful is not None
    assert stateful["events"][0]["stateBefore"] == {"city": "Paris"}


@pytest.mark.parametrize("watched", [False, True], ids=["unwatched", "watched"])
def test_an_llm_call_in_an_interaction_starts_as_a_span_of_its_session(
    local_server: LocalServer, monkeypatch: pytest.MonkeyPatch, watched: bool
) -> None:
    """The OpenAI SDK's call, traced, over HTTP to a fake endpoint, inside an interaction: its span
    belongs to the session from its start, and is seen at its start with its attributes if watched."""
    provider, exporter, reader = TracerProvider(), InMemorySpanExporter(), _ReadsOnStart()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    if watched:
        provider.add_span_processor(reader)
    instrumentor = OpenAIInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = sentrial.SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=provider)
        with FakeOpenAI() as fake, openai.OpenAI(base_url=fake.url, api_key="key", max_retries=0) as llm:
            interaction = client.begin(user_id="u", event="llm")
            cleaned = _counting_cleanings(monkeypatch)
            llm.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hi?"}])
            monkeypatch.undo()
            interaction.finish(output="done")
        assert client.flush(timeout=10)
        client.shutdown()
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    (span,) = [each for each in exporter.get_finished_spans() if each.name == "chat gpt-4o"]
    values = dict(span.attributes or {})
    assert values[semconv.SPAN_KIND] == semconv.KIND_LLM
    assert values[semconv.SESSION_ID] == interaction.session_id
    assert values[semconv.GEN_AI_REQUEST_MODEL] == "gpt-4o" and semconv.GEN_AI_INPUT_MESSAGES in values
    session = local_server.session(str(interaction.session_id))
    assert session is not None and len(session["events"]) == 1  # the call, as the API takes it (a tool call)
    assert session["events"][0]["toolName"].startswith("llm:")
    if watched:
        assert reader.kinds == [semconv.KIND_SESSION, semconv.KIND_LLM]
        assert cleaned  # its start attributes, through start_span
    else:
        assert cleaned == []


@pytest.mark.parametrize(
    ("sampler", "blind"),
    [
        (ALWAYS_ON, True),
        (ParentBased(ALWAYS_ON), True),
        (ParentBasedTraceIdRatio(0.5), True),
        (ParentBased(_SeesKinds()), False),
        (ParentBased(ALWAYS_ON, local_parent_sampled=_SeesKinds()), False),
        (_SeesKinds(), False),
    ],
    ids=["always-on", "parent-based", "ratio", "custom-root", "custom-delegate", "custom"],
)
def test_only_samplers_known_to_ignore_the_attributes_let_them_be_skipped(
    sampler: Sampler, blind: bool
) -> None:
    assert _ignores_attributes(sampler) is blind


class _PublicOnly:
    """A span seen through its public properties alone, as an SDK that keeps its fields elsewhere has it."""

    def __init__(self, span: ReadableSpan) -> None:
        self._span = span

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._span, name)


def test_a_session_s_opening_is_copied_from_public_properties_where_the_sdk_differs() -> None:
    tracer = TracerProvider().get_tracer("test")
    span = tracer.start_span("invoke_agent own", attributes={semconv.SPAN_KIND: semconv.KIND_SESSION})
    direct, public = session_snapshot(span), session_snapshot(_PublicOnly(span))  # type: ignore[arg-type]
    for copy in (direct, public):
        assert copy.name == "invoke_agent own" and copy.context == span.get_span_context()
        assert copy.start_time == span.start_time and copy.resource is span.resource
        assert copy.kind == span.kind and copy.instrumentation_scope == span.instrumentation_scope
        assert dict(copy.attributes or {}) == {semconv.SPAN_KIND: semconv.KIND_SESSION}
    span.end()
