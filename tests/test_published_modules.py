"""The published package's helper modules at their import paths (batcher, types, pricing, otel, the
wrappers' session context, the decorators' published forms), over real HTTP where they send anything."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fake_openai import FakeOpenAI
from helpers import wait_until
from opentelemetry.sdk.trace import TracerProvider

import sentrial
from sentrial import pricing
from sentrial.batcher import BatcherConfig, EventBatcher
from sentrial.otel import SentrialSpanProcessor
from sentrial.server import LocalServer
from sentrial.types import EventType
from sentrial.wrappers import clear_session_context, get_session_context, set_session_context

LLM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}


class Sent:
    """A send function that records its calls and can be made to fail."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.failing: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, method: str, url: str, **kwargs: Any) -> None:
        if url in self.failing:
            raise ConnectionError(url)
        with self.lock:
            self.calls.append((method, url, kwargs))

    def urls(self) -> list[str]:
        with self.lock:
            return [url for _, url, _ in self.calls]


def test_batcher_config_defaults_as_published() -> None:
    assert BatcherConfig() == BatcherConfig(False, 1.0, 10, 1000)
    assert BatcherConfig is sentrial.BatcherConfig


def test_event_batcher_flushes_at_threshold_on_timer_and_on_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = Sent()
    sent.failing.add("/broken")
    batcher = EventBatcher(sent, BatcherConfig(enabled=True, flush_interval=600.0, flush_threshold=3))
    batcher.enqueue("POST", "/a", json={"n": 1})
    batcher.enqueue("POST", "/broken")
    assert (batcher.size, sent.urls()) == (2, [])
    batcher.enqueue("PATCH", "/b", json={"n": 2})  # the threshold: all three go at once
    assert sent.calls == [("POST", "/a", {"json": {"n": 1}}), ("PATCH", "/b", {"json": {"n": 2}})]
    assert "could not be sent" in caplog.text and batcher.size == 0
    batcher.enqueue("POST", "/c")
    batcher.shutdown()
    batcher.enqueue("POST", "/after")  # ignored once shut down
    assert sent.urls() == ["/a", "/b", "/c"]

    timed = EventBatcher(sent, BatcherConfig(enabled=True, flush_interval=0.01, flush_threshold=100))
    timed.enqueue("POST", "/timer")
    wait_until(lambda: "/timer" in sent.urls(), what="the timer's flush")
    timed.shutdown()


def test_event_batcher_drops_the_oldest_when_full(caplog: pytest.LogCaptureFixture) -> None:
    sent = Sent()
    config = BatcherConfig(enabled=True, flush_interval=600.0, flush_threshold=2, max_queue_size=2)
    batcher = EventBatcher(sent, config)
    batcher._threshold = 10  # hold the calls: flush_threshold may not exceed max_queue_size
    for url in ("/1", "/2", "/3"):
        batcher.enqueue("POST", url)
    batcher.flush()
    assert sent.urls() == ["/2", "/3"] and "dropped the oldest event" in caplog.text
    batcher.shutdown()


def test_event_type_values() -> None:
    assert [(e.name, e.value) for e in EventType] == [
        ("TOOL_CALL", "tool_call"),
        ("LLM_DECISION", "llm_decision"),
        ("ERROR", "error"),
    ]
    assert EventType.ERROR == "error"


def test_pricing_by_model_name_per_thousand_tokens() -> None:
    assert pricing.get_model_pricing("gpt-4o-2024-08-06") == (0.0025, 0.01)
    assert pricing.MODEL_PRICING["gpt-4o"] == (0.0025, 0.01)
    assert pricing.calculate_cost("gpt-4o", 1000, 500) == 0.0075
    assert (
        pricing.calculate_cost(model_name="claude-sonnet-4", prompt_tokens=1000, completion_tokens=0) == 0.003
    )
    default = pricing.MODEL_PRICING["default"]
    assert pricing.get_model_pricing("my-own-model") == default == pricing.get_model_pricing("")
    assert pricing.calculate_cost("my-own-model", 1000, 1000) == round(sum(default), 6)
    assert pricing.calculate_provider_cost("openai", "gpt-4o", 1000, 500) == 0.0075


def test_span_processor_sends_a_traces_llm_spans_as_one_session(local_server: LocalServer) -> None:
    dropped: list[str] = []

    def keep(span: Any) -> bool | None:
        if span.name == "chat secret":
            dropped.append(span.name)
            return False
        return None

    processor = SentrialSpanProcessor(api_key="k", api_url=local_server.url, project="p", custom_filter=keep)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("job") as root:
        with tracer.start_as_current_span("chat gpt-4o", attributes=LLM):
            pass
        with tracer.start_as_current_span("chat secret", attributes=LLM):
            pass
    assert processor.force_flush()
    provider.shutdown()
    session = wait_until(lambda: local_server.session(f"trace-{root.get_span_context().trace_id:032x}"))
    assert [e["toolName"] for e in session["events"]] == ["llm:openai:gpt-4o"]
    assert dropped == ["chat secret"]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def test_set_session_context_routes_wrapped_calls(local_server: LocalServer, fake: FakeOpenAI) -> None:
    sentrial.configure(api_key="k", api_url=local_server.url, instrument=False)
    try:
        client = sentrial.get_client()
        session_id = client.create_session(name="chat", agent_name="wrapped", user_id="u1")
        llm = sentrial.wrap_openai(openai.OpenAI(base_url=fake.url, api_key="x", max_retries=0), True)
        set_session_context(session_id)
        try:
            assert get_session_context() == session_id
            llm.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        finally:
            clear_session_context()
        assert get_session_context() is None
        client.complete_session(session_id, success=True)
        assert sentrial.flush(timeout=5)
    finally:
        sentrial.shutdown(timeout=5)
    events = local_server.session(session_id)["events"]  # type: ignore[index]
    assert [e["toolName"] for e in events] == ["llm:openai:gpt-4o"]


def test_session_takes_input_and_output_the_published_way(local_server: LocalServer) -> None:
    sentrial.configure(api_key="k", api_url=local_server.url, instrument=False)
    sentrial.decorators.clear_session_entry_points()
    try:

        @sentrial.session("by-message", message_param="msg")
        def by_message(user_id: str, count: int, msg: str) -> dict[str, Any]:
            return {"response": f"re: {msg}", "output": "not this"}

        @sentrial.session(agent_name="by-query")
        async def by_query(query: str, user_id: str = "u2") -> dict[str, Any]:
            return {"output": "found", "extra": 1}

        @sentrial.session
        def by_first_string(user_id: str, n: int, topic: str) -> list[int]:
            return [n]

        by_message("u1", 3, "hello")
        asyncio.run(by_query("where?"))
        by_first_string("u3", 7, "cats")
        assert sentrial.decorators.get_session_entry_points() == [by_message, by_query, by_first_string]
        assert sentrial.flush(timeout=5)
    finally:
        sentrial.shutdown(timeout=5)
        sentrial.decorators.clear_session_entry_points()
    stored = {s["agentName"]: s for s in local_server.sessions()}
    assert (stored["by-message"]["userId"], stored["by-message"]["userInput"]) == ("u1", "hello")
    assert stored["by-message"]["assistantOutput"] == "re: hello"
    assert (stored["by-query"]["userInput"], stored["by-query"]["assistantOutput"]) == ("where?", "found")
    assert (stored["by_first_string"]["userInput"], stored["by_first_string"]["assistantOutput"]) == (
        "cats",
        "[7]",
    )


def test_tracked_stream_classes_trace_a_stream_wrapped_by_hand(
    local_server: LocalServer, fake: FakeOpenAI
) -> None:
    import time

    import anthropic
    from fake_anthropic import FakeAnthropic

    from sentrial.wrappers import TrackedMessageStream, TrackedOpenAISyncStream

    claude_fake = FakeAnthropic().start()
    sentrial.configure(api_key="k", api_url=local_server.url, instrument=False)
    try:
        gpt = openai.OpenAI(base_url=fake.url, api_key="x", max_retries=0)
        own_spans_off = (
            {"open_telemetry": False}
            if "open_telemetry" in inspect.signature(anthropic.Anthropic).parameters
            else {}
        )
        claude = anthropic.Anthropic(base_url=claude_fake.url, api_key="x", max_retries=0, **own_spans_off)
        messages = [{"role": "user", "content": "hi"}]
        with sentrial.begin(user_id="u", event="hand-streams", input="hi") as interaction:
            started = time.time()
            raw = gpt.chat.completions.create(
                model="gpt-4o", messages=messages, stream=True, stream_options={"include_usage": True}
            )
            assert "".join(
                c.choices[0].delta.content or ""
                for c in TrackedOpenAISyncStream(raw, started, messages, "gpt-4o", False)
                if c.choices
            )
            events = claude.messages.create(
                model="claude-sonnet-4-20250514", max_tokens=50, messages=messages, stream=True
            )
            assert list(
                TrackedMessageStream(
                    events, time.time(), messages, "claude-sonnet-4-20250514", "Be brief.", False
                )
            )
        assert sentrial.flush(timeout=5)
    finally:
        sentrial.shutdown(timeout=5)
        claude_fake.stop()
    stored = local_server.session(interaction.session_id)["events"]  # type: ignore[index]
    assert [e["toolName"] for e in stored] == ["llm:openai:gpt-4o", "llm:anthropic:claude-sonnet-4-20250514"]
    assert all(e["tokenCount"] > 0 for e in stored)


def test_module_level_redaction_functions() -> None:
    from sentrial.redact import (
        PiiBuiltinPatterns,
        PiiConfig,
        PiiCustomPattern,
        redact_payload,
        redact_string,
        redact_value,
    )

    employee = PiiCustomPattern(r"EMP-\d{6}", "EMPLOYEE")  # (pattern, label), as published
    assert (employee.pattern, employee.label) == (r"EMP-\d{6}", "EMPLOYEE")
    text = "mail jane@example.com or 555-123-4567, id EMP-123456"
    assert (
        redact_string(text, "label", PiiBuiltinPatterns(), [employee])
        == "mail [EMAIL] or [PHONE], id [EMPLOYEE]"
    )
    no_emails = PiiBuiltinPatterns(emails=False)
    assert redact_string("jane@example.com", "label", no_emails, []) == "jane@example.com"
    value = {"a": ["x jane@example.com", 3, None], "n": 1.5, "bob@example.com": True}
    assert redact_value(value, "remove", PiiBuiltinPatterns(), []) == {
        "a": ["x ", 3, None],
        "n": 1.5,
        "": True,
    }
    payload = {"user_input": "a@example.com", "userInput": "b@example.com", "other": "c@example.com"}
    config = PiiConfig(enabled=True, fields=["user_input"])
    assert redact_payload(payload, config) == {**payload, "user_input": "[EMAIL]", "userInput": "[EMAIL]"}
    assert redact_payload(payload, PiiConfig(enabled=False)) is payload
    assert PiiConfig().builtin_patterns == PiiBuiltinPatterns() and PiiConfig().custom_patterns == []
    with pytest.raises(TypeError, match="value"):
        redact_string(None, "label", PiiBuiltinPatterns(), [])  # type: ignore[arg-type]
