"""The SDK reference's examples, run as written against the local server over real HTTP.

Each test checks what the server received against the reference payloads of sessions-api.md
(ids and durations aside) and the order on the wire: open, events, complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import sentrial
from sentrial import BatcherConfig, SentrialClient
from sentrial.server import LocalServer

API_KEY = "sentrial_live_xxx"


@pytest.fixture
def configured(local_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """The module-level API pointed at the local server through SENTRIAL_API_URL, as a user would."""
    monkeypatch.setenv("SENTRIAL_API_URL", local_server.url)
    yield local_server
    sentrial.shutdown(timeout=5)


def sdk_bodies(server: LocalServer) -> list[tuple[str, str, Any]]:
    """(method, path, body) of every Sessions API call the server received, in order."""
    return [(r["method"], r["path"], r["json"]) for r in server.requests if r["path"].startswith("/api/sdk/")]


def without(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in keys}


def test_quick_start(configured: LocalServer) -> None:
    sentrial.configure(api_key="sentrial_live_xxx")
    interaction = sentrial.begin(user_id="user_123", event="chat_message", input="User's question")
    response = "Agent answer"
    interaction.finish(output=response, success=True)
    assert sentrial.flush(timeout=5)

    calls = sdk_bodies(configured)
    assert [c[:2] for c in calls] == [
        ("POST", "/api/sdk/sessions"),
        ("PATCH", f"/api/sdk/sessions/{interaction.session_id}"),
    ]
    opened = calls[0][2]
    assert opened["name"] == f"chat_message:{interaction.event_id[:8]}"
    assert without(opened, "id", "name") == {
        "agentName": "chat_message",
        "userId": "user_123",
        "metadata": {"input": "User's question", "event_id": interaction.event_id},
    }
    assert without(calls[1][2], "durationMs") == {
        "status": "completed",
        "success": True,
        "userInput": "User's question",
        "assistantOutput": "Agent answer",
    }
    assert configured.requests[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"


def test_begin_and_finish_send_the_reference_payloads(configured: LocalServer) -> None:
    sentrial.configure(api_key=API_KEY)
    interaction = sentrial.begin(
        user_id="user_12345",
        event="support_request",
        input="Help me reset my password",
        convo_id="conv_789",
        metadata={"channel": "web_chat"},
    )
    interaction.finish(
        output="Password reset email sent!",
        success=True,
        estimated_cost=0.023,
        custom_metrics={"satisfaction": 4.5},
    )
    failed = sentrial.begin(user_id="user_1", event="lookup", input="User's question")
    failed.finish(success=False, failure_reason="User not found in database")
    assert sentrial.flush(timeout=5)

    by_session: dict[str, list[tuple[str, Any]]] = {}
    for method, path, body in sdk_bodies(configured):
        sid = body["id"] if method == "POST" else path.rsplit("/", 1)[1]
        by_session.setdefault(sid, []).append((method, body))

    (open1, body1), (patch1, done1) = by_session[interaction.session_id]
    assert (open1, patch1) == ("POST", "PATCH")
    assert body1 == {
        "id": interaction.session_id,
        "name": f"support_request:{interaction.event_id[:8]}",
        "agentName": "support_request",
        "userId": "user_12345",
        "metadata": {
            "channel": "web_chat",
            "input": "Help me reset my password",
            "convo_id": "conv_789",
            "event_id": interaction.event_id,
        },
        "convoId": "conv_789",
    }
    assert isinstance(done1.pop("durationMs"), int)
    assert done1 == {
        "status": "completed",
        "success": True,
        "estimatedCost": 0.023,
        "customMetrics": {"satisfaction": 4.5},
        "userInput": "Help me reset my password",
        "assistantOutput": "Password reset email sent!",
    }
    (_, _), (_, done2) = by_session[failed.session_id]
    assert isinstance(done2.pop("durationMs"), int)
    assert done2 == {
        "status": "failed",
        "success": False,
        "failureReason": "User not found in database",
        "userInput": "User's question",
    }
    stored = configured.session(failed.session_id)
    assert stored is not None and stored["status"] == "failed"


def test_custom_event_id_names_the_session(configured: LocalServer) -> None:
    sentrial.configure(api_key=API_KEY)
    interaction = sentrial.begin(user_id="u", event="chat", event_id="1e61f1da-d5a3-4295-b587-2591f9559ff8")
    interaction.finish(output="ok")
    assert sentrial.flush(timeout=5)
    opened = sdk_bodies(configured)[0][2]
    assert opened["name"] == "chat:1e61f1da"
    assert opened["metadata"]["event_id"] == "1e61f1da-d5a3-4295-b587-2591f9559ff8"


def test_interaction_tracks_tool_calls_decisions_and_errors_in_order(configured: LocalServer) -> None:
    sentrial.configure(api_key=API_KEY)
    interaction = sentrial.begin(user_id="user_12345", event="support_request", input="Help")
    interaction.track_tool_call(
        tool_name="search_knowledge_base",
        tool_input={"query": "password reset"},
        tool_output={"results": ["KB-001", "KB-002"]},
        reasoning="User needs password help",
        estimated_cost=0.001,
    )
    interaction.track_decision(
        reasoning="Will search KB before escalating",
        alternatives=["escalate_to_human", "ask_clarifying_question"],
        confidence=0.92,
    )
    interaction.track_error(error_message="KB timeout", error_type="TimeoutError", tool_name="search")
    interaction.finish(output="Done")
    assert sentrial.flush(timeout=5)

    calls = sdk_bodies(configured)
    assert [c[0] for c in calls] == ["POST", "POST", "POST", "POST", "PATCH"]
    tool, decision, error = (c[2] for c in calls[1:4])
    assert without(tool, "traceId", "spanId", "metadata") == {
        "sessionId": interaction.session_id,
        "eventType": "tool_call",
        "toolName": "search_knowledge_base",
        "toolInput": {"query": "password reset"},
        "toolOutput": {"results": ["KB-001", "KB-002"]},
        "reasoning": "User needs password help",
        "estimatedCost": 0.001,
        "stateBefore": {},
        "stateAfter": {},
    }
    assert len(tool["traceId"]) == 32 and len(tool["spanId"]) == 16
    # Every event carries its span's timing, for nesting and a timeline.
    assert set(tool["metadata"]) == {"started_at", "duration_ms", "parent_span_id"}
    assert without(decision, "traceId", "spanId", "metadata") == {
        "sessionId": interaction.session_id,
        "eventType": "llm_decision",
        "reasoning": "Will search KB before escalating",
        "alternativesConsidered": ["escalate_to_human", "ask_clarifying_question"],
        "confidence": 0.92,
        "estimatedCost": 0.0,
        "stateBefore": {},
        "stateAfter": {},
    }
    assert error["eventType"] == "error"
    assert error["toolError"] == {"message": "KB timeout", "type": "TimeoutError"}
    assert error["toolName"] == "search"
    # No cost given to finish(): the sum of the events' costs is sent.
    assert calls[4][2]["estimatedCost"] == 0.001
    stored = configured.session(interaction.session_id)
    assert stored is not None
    assert [e["eventType"] for e in stored["events"]] == ["tool_call", "llm_decision", "error"]


def test_sentrial_client_manual_session(local_server: LocalServer) -> None:
    client = SentrialClient(api_key=API_KEY, api_url=local_server.url)
    try:
        session_id = client.create_session(
            name="Password reset", agent_name="support-agent", user_id="user_123"
        )
        assert isinstance(session_id, str)
        sub_id = client.create_session(
            name="Sub task",
            agent_name="support-agent",
            user_id="user_123",
            parent_session_id=session_id,
            convo_id="conv_1",
            metadata={"step": 2},
        )
        result = client.track_tool_call(
            session_id=session_id,
            tool_name="search",
            tool_input={"query": "test"},
            tool_output={"results": []},
            reasoning=None,
            estimated_cost=0.002,
            tool_error={"message": "partial results", "type": "Warning"},
            token_count=120,
            trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
            span_id="00f067aa0ba902b7",
            metadata={"attempt": 1},
        )
        assert result is not None and result["sessionId"] == session_id
        # The event goes out with the caller's ids, and the call says so.
        assert (result["traceId"], result["spanId"]) == (
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00f067aa0ba902b7",
        )
        client.track_decision(
            session_id=session_id,
            reasoning="Escalate",
            alternatives=["retry"],
            confidence=0.5,
            estimated_cost=0.001,
            token_count=30,
        )
        client.track_error(
            session_id=session_id,
            error_message="Lookup failed",
            error_type="APIError",
            tool_name="search",
            stack_trace="Traceback ...",
            metadata={"code": 503},
        )
        client.complete_session(session_id=sub_id, success=True)
        client.complete_session(
            session_id=session_id,
            success=True,
            custom_metrics={"turns": 3},
            duration_ms=1500,
            prompt_tokens=100,
            completion_tokens=50,
            total_tokens=150,
            user_input="How do I reset?",
            assistant_output="Like this.",
        )
        assert client.flush(timeout=5)
    finally:
        client.shutdown()

    session = local_server.session(session_id)
    assert session is not None
    assert session["name"] == "Password reset" and session["metadata"] is None
    assert session["estimatedCost"] == pytest.approx(0.003)  # the events' sum: none was given
    assert (session["durationMs"], session["promptTokens"], session["totalTokens"]) == (1500, 100, 150)
    assert session["customMetrics"] == {"turns": 3}
    assert (session["userInput"], session["assistantOutput"]) == ("How do I reset?", "Like this.")
    tool, decision, error = session["events"]
    assert tool["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736" and tool["spanId"] == "00f067aa0ba902b7"
    assert tool["toolError"] == {"message": "partial results", "type": "Warning"}
    assert (tool["tokenCount"], tool["metadata"]["attempt"], tool["reasoning"]) == (120, 1, None)
    # The caller's metadata, plus the span's timing (started_at, duration_ms, parent_span_id)
    assert set(tool["metadata"]) == {"attempt", "started_at", "duration_ms", "parent_span_id"}
    assert (decision["tokenCount"], decision["estimatedCost"]) == (30, 0.001)
    assert error["toolError"] == {
        "message": "Lookup failed",
        "type": "APIError",
        "stack_trace": "Traceback ...",
    }
    assert error["metadata"]["code"] == 503
    sub = local_server.session(sub_id)
    assert sub is not None
    assert (sub["parentSessionId"], sub["convoId"], sub["metadata"]) == (session_id, "conv_1", {"step": 2})


def test_each_event_returns_the_ids_it_has_on_the_wire(local_server: LocalServer) -> None:
    opener = SentrialClient(api_key=API_KEY, api_url=local_server.url)
    client = SentrialClient(api_key=API_KEY, api_url=local_server.url)
    try:
        interaction = client.begin(user_id="user_123", event="chat_message", input="Hi")
        returned = [
            interaction.track_tool_call(tool_name="search", tool_input={"q": 1}, tool_output={}),
            interaction.track_decision(reasoning="Answer directly"),
            interaction.track_error(error_message="KB timeout"),
        ]
        interaction.finish(output="Done")
        elsewhere = opener.create_session(name="Elsewhere", agent_name="support-agent", user_id="u")
        assert opener.flush(timeout=5)
        # A session this client did not open (its events carry ids of their own making).
        returned.append(client.track_tool_call(elsewhere, "search", {"q": 2}, {}))
        client.track_tool_call(elsewhere, "search", {"q": 3}, {})
        opener.complete_session(elsewhere, success=True)
        assert client.flush(timeout=5) and opener.flush(timeout=5)
    finally:
        client.shutdown()
        opener.shutdown()

    received = [
        *local_server.session(interaction.session_id)["events"],
        *local_server.session(elsewhere)["events"],
    ]
    on_the_wire = [{k: e[k] for k in ("sessionId", "eventType", "traceId", "spanId")} for e in received]
    assert returned == on_the_wire[:4]
    assert len({e["traceId"] for e in on_the_wire[:3]}) == 1  # one interaction, one trace


def test_context_manager_finishes_and_records_exceptions(local_server: LocalServer) -> None:
    client = SentrialClient(api_key=API_KEY, api_url=local_server.url)
    try:
        with client.begin(user_id="user_123", event="chat", input="Hello") as interaction:
            interaction.set_output("Hi there")
        with (
            pytest.raises(ZeroDivisionError),
            client.begin(user_id="user_123", event="chat", input="Divide") as failing,
        ):
            1 / 0  # noqa: B018
        assert client.flush(timeout=5)
    finally:
        client.shutdown()
    ok = local_server.session(interaction.session_id)
    bad = local_server.session(failing.session_id)
    assert ok is not None and bad is not None
    assert (ok["status"], ok["assistantOutput"]) == ("completed", "Hi there")
    assert (bad["status"], bad["failureReason"]) == ("failed", "ZeroDivisionError: division by zero")


def test_nested_interaction_is_a_sub_session(configured: LocalServer) -> None:
    sentrial.configure(api_key=API_KEY)
    outer = sentrial.begin(user_id="u", event="outer")
    inner = sentrial.begin(user_id="u", event="inner")
    inner.finish(output="inner done")
    after = sentrial.begin(user_id="u", event="sibling")
    after.finish()
    outer.finish(output="outer done")
    assert sentrial.flush(timeout=5)
    assert configured.session(inner.session_id)["parentSessionId"] == outer.session_id  # type: ignore[index]
    assert configured.session(after.session_id)["parentSessionId"] == outer.session_id  # type: ignore[index]
    assert configured.session(outer.session_id)["parentSessionId"] is None  # type: ignore[index]


@pytest.mark.parametrize(
    "batching",
    [True, BatcherConfig(enabled=True, flush_interval=2.0, flush_threshold=20, max_queue_size=500)],
)
def test_event_batching(configured: LocalServer, batching: bool | BatcherConfig) -> None:
    client = sentrial.configure(api_key=API_KEY, batching=batching)
    interaction = sentrial.begin(user_id="u", event="batched")
    for n in range(30):
        interaction.track_tool_call(tool_name=f"t{n}", tool_input={"n": n}, tool_output={})
    interaction.finish(output="ok")
    # Flush manually before shutdown
    client.flush()
    client.shutdown()
    session = configured.session(interaction.session_id)
    assert session is not None
    assert [e["toolName"] for e in session["events"]] == [f"t{n}" for n in range(30)]
    assert session["status"] == "completed"


def test_batcher_config_defaults_and_validation() -> None:
    assert BatcherConfig() == BatcherConfig(
        enabled=True, flush_interval=1.0, flush_threshold=10, max_queue_size=1000
    )
    with pytest.raises(ValueError):
        BatcherConfig(flush_interval=0)
    with pytest.raises(TypeError):
        BatcherConfig(flush_threshold="10")  # type: ignore[arg-type]


def test_cost_helpers() -> None:
    cost = SentrialClient.calculate_openai_cost(model="gpt-4o", input_tokens=1000, output_tokens=500)
    assert cost == 0.0075
    cost = SentrialClient.calculate_anthropic_cost(
        model="claude-sonnet-4", input_tokens=1000, output_tokens=500
    )
    assert cost == 0.0105
    cost = SentrialClient.calculate_google_cost(
        model="gemini-2.0-flash", input_tokens=1000, output_tokens=500
    )
    assert cost == pytest.approx(0.0003)


def test_unfinished_sessions_are_failed_at_shutdown(local_server: LocalServer) -> None:
    client = SentrialClient(api_key=API_KEY, api_url=local_server.url)
    forgotten = client.begin(user_id="u", event="forgotten")
    client.shutdown(timeout=5)
    session = local_server.session(forgotten.session_id)
    assert session is not None
    assert (session["status"], session["failureReason"]) == ("failed", "not finished before shutdown")
