"""A session's state as its events carry it: each value encoded once and spliced into the bodies.

Imports nothing of ``sentrial``: the state is the exporter's.
"""

from __future__ import annotations

import json
from typing import Any

from sentrial_otel_exporter.calls import ApiCall, encode
from sentrial_otel_exporter.state import SessionState


def _event(kind: str, tool: str, output: Any) -> ApiCall:
    body = {"sessionId": "s", "eventType": kind, "toolName": tool, "toolOutput": output}
    body |= {"stateBefore": {}, "stateAfter": {}, "traceId": "t"}
    return ApiCall("POST", "/api/sdk/events", body, session="s", lane="s")


def _sent(state: SessionState, call: ApiCall) -> dict[str, Any]:
    state.around(call)
    assert encode(call) is None
    assert call.encoded is not None
    return json.loads(call.encoded)


def test_the_bodies_carry_the_state_before_and_after_each_event() -> None:
    state = SessionState({"input": "Paris?"})
    first = _sent(state, _event("tool_call", "search", {"hits": [1, 2], "note": "é"}))
    assert first == {
        "sessionId": "s",
        "eventType": "tool_call",
        "toolName": "search",
        "toolOutput": {"hits": [1, 2], "note": "é"},
        "stateBefore": {"input": "Paris?"},
        "stateAfter": {"input": "Paris?", "search_result": {"hits": [1, 2], "note": "é"}},
        "traceId": "t",
    }
    state.update({"plan": "b", "input": "Lyon?"})
    decision = _sent(state, _event("llm_decision", "", None))
    expected = {"input": "Lyon?", "search_result": {"hits": [1, 2], "note": "é"}, "plan": "b"}
    assert decision["stateBefore"] == decision["stateAfter"] == expected
    again = _sent(state, _event("tool_call", "search", {"hits": []}))
    assert again["stateBefore"] == expected
    assert again["stateAfter"] == {**expected, "search_result": {"hits": []}}
    assert list(again["stateAfter"]) == ["input", "search_result", "plan"]  # the keys' order kept
    state.update({"fresh": 1}, replace=True)
    assert _sent(state, _event("llm_decision", "", None))["stateAfter"] == {"fresh": 1}


def test_a_float_json_has_no_number_for_is_sent_as_its_text() -> None:
    """NaN and the infinities, in the state or in an output: the events go out, those values as text."""
    state = SessionState()
    state.update({"score": float("nan")})
    sent = _sent(state, _event("tool_call", "search", {"ok": True}))
    assert sent["stateBefore"] == {"score": "nan"}
    assert sent["stateAfter"] == {"score": "nan", "search_result": {"ok": True}}
    sent = _sent(state, _event("tool_call", "other", {"x": float("-inf")}))
    assert sent["toolOutput"] == {"x": "-inf"}
    assert sent["stateAfter"]["other_result"] == {"x": "-inf"}


def test_a_state_value_json_cannot_hold_fails_its_events_as_a_whole() -> None:
    """An object of no JSON type (the SDK never records one): the events are dropped, not sent without it."""
    state = SessionState()
    state.update({"score": object()})
    call = _event("tool_call", "search", {"ok": True})
    state.around(call)
    assert encode(call) == "TypeError while encoding POST /api/sdk/events"
    state.update({"score": 0.5})
    assert _sent(state, _event("tool_call", "search", {"ok": 1}))["stateBefore"] == {
        "score": 0.5,
        "search_result": {"ok": True},
    }


def test_a_tool_call_without_an_output_is_sent_without_one() -> None:
    state = SessionState()
    call = _event("tool_call", "ping", None)
    assert call.body is not None
    del call.body["toolOutput"]
    sent = _sent(state, call)
    assert "toolOutput" not in sent
    assert sent["stateAfter"] == {"ping_result": None}
