"""The published package's client API where its wire test does not reach: positional arguments,
per-session state, the async forms, and bad input under fail_silently."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from sentrial import AsyncSentrialClient, SentrialClient
from sentrial.server import LocalServer

KEY = "sentrial_live_xxx"


def events(server: LocalServer, session_id: str | None) -> list[dict[str, Any]]:
    stored = server.session(str(session_id))
    assert stored is not None, f"session {session_id} never arrived"
    return list(stored["events"])


def test_positional_url_then_key_and_the_context_manager(local_server: LocalServer) -> None:
    with SentrialClient(local_server.url, KEY) as client:
        assert client.api_url == local_server.url
        sid = client.create_session("s", "positional", "u")
        client.close_session(sid, 120, False, "gave up")
    assert client.closed
    (stored,) = local_server.sessions()
    assert (stored["status"], stored["failureReason"], stored["durationMs"]) == ("failed", "gave up", 120)
    # After close() every call is a no-op that the app never sees fail.
    assert client.create_session("late", "positional", "u")


def test_state_is_per_session_even_on_one_thread(local_server: LocalServer) -> None:
    client = SentrialClient(local_server.url, KEY)
    first = client.begin("u1", "state-a", "question a")
    client.update_state("plan", "a")  # the current session: the one just begun
    second = client.begin("u2", "state-b", "question b")
    client.update_state("plan", "b")
    assert client.current_state == {"input": "question b", "plan": "b"}
    second.track_tool_call("t", {}, {"n": 2})
    second.finish(output="b")
    assert client.current_state == {"input": "question a", "plan": "a"}  # back in the first one
    first.track_tool_call("t", {}, {"n": 1})
    first.finish(output="a")
    assert client.flush(timeout=5)
    client.close()
    (a,) = events(local_server, first.session_id)
    (b,) = events(local_server, second.session_id)
    assert a["stateBefore"] == {"input": "question a", "plan": "a"}
    assert a["stateAfter"] == {"input": "question a", "plan": "a", "t_result": {"n": 1}}
    assert b["stateBefore"] == {"input": "question b", "plan": "b"}


def test_decision_and_error_keep_metadata_and_given_ids(local_server: LocalServer) -> None:
    client = SentrialClient(local_server.url, KEY)
    sid = client.create_session("s", "ids", "u")
    trace_id, span_id = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    client.track_decision(sid, "why", ["other"], 0.5, 0.0, 3, trace_id, span_id, {"k": 1})
    other_span = "00f067aa0ba902b7"  # the server keeps one event per span id
    client.track_error(sid, "broke", "ValueError", "tool", "Traceback ...", trace_id, other_span, {"n": 2})
    client.complete_session(sid, custom_metrics={"turns": 3, "score": 0.5})
    assert client.flush(timeout=5)
    client.close()
    decision, error = events(local_server, sid)
    # The caller's metadata, beside the span timing every event carries.
    assert (decision["metadata"]["k"], decision["traceId"], decision["spanId"]) == (1, trace_id, span_id)
    assert (error["metadata"]["n"], error["traceId"], error["spanId"]) == (2, trace_id, other_span)
    metrics = local_server.session(sid)["customMetrics"]  # type: ignore[index]
    assert metrics == {"turns": 3, "score": 0.5} and isinstance(metrics["turns"], int)


def test_async_begin_awaited_or_entered_and_add_tokens(local_server: LocalServer) -> None:
    async def main() -> tuple[str | None, str | None]:
        async with AsyncSentrialClient(local_server.url, KEY) as client:
            awaited = await client.begin("u", "awaited", "hi")
            assert awaited.user_id == "u"
            awaited.add_tokens(prompt_tokens=10, completion_tokens=5, cost=0.25)
            awaited.add_tokens(prompt_tokens=1, completion_tokens=1)
            await awaited.finish(output="bye")
            async with client.begin("u", "entered", "hey") as entered:
                entered.set_output("done")
            await client.flush()
            return awaited.session_id, entered.session_id

    awaited_id, entered_id = asyncio.run(main())
    awaited = local_server.session(str(awaited_id))
    assert awaited is not None
    assert (awaited["promptTokens"], awaited["completionTokens"], awaited["totalTokens"]) == (11, 6, 17)
    assert awaited["estimatedCost"] == 0.25
    entered = local_server.session(str(entered_id))
    assert entered is not None and (entered["status"], entered["assistantOutput"]) == ("completed", "done")


def test_bad_state_calls_degrade_cleanly(local_server: LocalServer, caplog: pytest.LogCaptureFixture) -> None:
    client = SentrialClient(local_server.url, KEY)
    with caplog.at_level(logging.WARNING, logger="sentrial"):
        client.update_state(None, object())  # type: ignore[arg-type]
    assert "update_state" in caplog.text
    strict = SentrialClient(local_server.url, KEY, fail_silently=False)
    with pytest.raises(TypeError, match="key"):
        strict.update_state(3, "x")  # type: ignore[arg-type]
    client.close()
    strict.close()
