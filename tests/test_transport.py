"""The exporter's transport alone under a failing, slow or rate-limiting server.

Each test drives a ``Transport`` of its own with ``ApiCall``s, over real HTTP to the project's local
Sessions API server on 127.0.0.1 (started by conftest), and imports nothing of ``sentrial``: the
transport is the exporter's, which depends on nothing of the SDK.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from delay_proxy import DelayProxy
from helpers import EVENTS, SESSIONS, RecordingServer, drop_warnings, event_posts, stored_steps, wait_until

from sentrial_otel_exporter.calls import ApiCall
from sentrial_otel_exporter.transport import Transport


def _event_body(session_id: str, step: int, cost: float = 0.0) -> dict[str, Any]:
    return {
        "sessionId": session_id,
        "eventType": "tool_call",
        "toolName": "step",
        "toolInput": {"i": step},
        "toolOutput": {},
        "estimatedCost": cost,
        "stateBefore": {},
        "stateAfter": {},
    }


def test_a_call_that_cannot_be_sent_is_dropped_and_its_lane_goes_on(
    local_server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A body JSON cannot encode (an object of no JSON type) is dropped and counted; the worker and
    the lane carry on."""
    caplog.set_level(logging.WARNING, logger="sentrial")
    transport = Transport(local_server.url, timeout=2.0, retry_timeout=5.0)
    session_id = "session-with-a-bad-event"
    opening = {"id": session_id, "name": "run", "agentName": "agent", "userId": "user-1"}

    def event(step: int, cost: Any = 0.0) -> ApiCall:
        return ApiCall(
            "POST", EVENTS, _event_body(session_id, step, cost), session=session_id, lane=session_id
        )

    try:
        transport.submit(
            [
                ApiCall("POST", SESSIONS, opening, session=session_id, lane=session_id, opens_session=True),
                event(0, cost=object()),
                event(1),
            ]
        )
        assert transport.flush(timeout=5) is False
        assert transport.stats().drop_reasons == {"TypeError while encoding POST /api/sdk/events": 1}
        assert stored_steps(local_server, session_id) == [1]
        assert drop_warnings(caplog)

        transport.submit([event(2)])
        assert transport.flush(timeout=5)
        assert stored_steps(local_server, session_id) == [1, 2]
    finally:
        transport.shutdown(timeout=1.0)


def test_a_full_queue_still_takes_a_sessions_opening(local_server: RecordingServer) -> None:
    """Dropping an opening would lose its session's every later call (the server would answer them
    404): openings get headroom above the bound; the calls of one dropped all the same are dropped
    at once, with their own reason, rather than sent to be refused."""

    def opening(session_id: str) -> ApiCall:
        body = {"id": session_id, "name": "run", "agentName": "agent", "userId": "user-1"}
        return ApiCall("POST", SESSIONS, body, session=session_id, lane=session_id, opens_session=True)

    def event(session_id: str) -> ApiCall:
        return ApiCall("POST", EVENTS, _event_body(session_id, 0), session=session_id, lane=session_id)

    transport = Transport(local_server.url, timeout=5.0, retry_timeout=10.0, max_pending=2, workers=1)
    local_server.set_delay(1000)  # the first call waits on the server, the rest in the queue
    try:
        transport.submit([opening("A"), event("A")])  # the queue is full
        transport.submit([opening(f"B{n}") for n in range(65)])  # 64 get in above the bound
        transport.submit([event("B0"), event("B64")])
        assert transport.stats().drop_reasons == {
            "delivery queue full": 2,  # B64's opening and B0's event
            "its session's opening was dropped (the delivery queue was full)": 1,  # B64's event
        }
        local_server.set_delay(0)
        assert transport.flush(timeout=20) is False
        assert stored_steps(local_server, "A") == [0]
        assert [local_server.session(f"B{n}") is not None for n in (0, 63, 64)] == [True, True, False]
    finally:
        local_server.set_delay(0)
        transport.shutdown(timeout=1.0)


def test_calls_queued_behind_a_give_up_are_dropped_without_a_timeout_each(
    local_server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that stops answering: the lane's first call retries for its whole retry time;
    the calls that waited out theirs behind it are dropped at once, not tried one timeout each."""
    caplog.set_level(logging.WARNING, logger="sentrial")
    session_id = "session-of-a-hung-server"
    transport = Transport(local_server.url, timeout=0.3, retry_timeout=1.0, workers=1)
    local_server.set_delay(3000)  # every answer comes after the client stopped waiting
    try:
        calls = [
            ApiCall("POST", EVENTS, _event_body(session_id, step, 0.0), session=session_id, lane=session_id)
            for step in range(20)
        ]
        started = time.monotonic()
        transport.submit(calls)
        assert transport.flush(timeout=20) is False
        elapsed = time.monotonic() - started
        stats_now = transport.stats()
        assert (stats_now.dropped, stats_now.sent, stats_now.pending) == (20, 0, 0)
        assert len(local_server.requests) < 10, f"{elapsed:.1f} s; each of the 20 calls was tried"
        assert drop_warnings(caplog)
    finally:
        local_server.set_delay(0)
        transport.shutdown(timeout=1.0)


def _one_event_transport(server: RecordingServer, **options: Any) -> tuple[Transport, str]:
    """A transport to ``server`` whose session is stored; returns it and the session's id."""
    transport = Transport(server.url, timeout=2.0, **options)
    session_id = "session-of-a-long-wait"
    opening = {"id": session_id, "name": "run", "agentName": "agent", "userId": "user-1"}
    transport.submit(
        [ApiCall("POST", SESSIONS, opening, session=session_id, lane=session_id, opens_session=True)]
    )
    assert transport.flush(timeout=5)
    return transport, session_id


def test_a_retry_after_is_honoured_up_to_the_longest_wait_then_retried(local_server: RecordingServer) -> None:
    """Retry-After: 3600 is cut to the longest honoured wait (here 0.5 s; 300 s by default): the
    retry comes then, and not before."""
    transport, session_id = _one_event_transport(local_server, retry_timeout=0.2, max_retry_after=0.5)
    local_server.inject_faults(status=429, count=1, headers={"Retry-After": "3600"}, paths=[EVENTS])
    try:
        started = time.monotonic()
        transport.submit(
            [ApiCall("POST", EVENTS, _event_body(session_id, 0), session=session_id, lane=session_id)]
        )
        wait_until(lambda: stored_steps(local_server, session_id), timeout=10, what="the retried event")
        waited = time.monotonic() - started
        assert transport.flush(timeout=5)
    finally:
        transport.shutdown(timeout=1.0)
    assert waited >= 0.5, f"the retry came {waited:.2f} s after the event, before the wait asked for"
    assert len(event_posts(local_server)) == 2
    assert (transport.stats().retried, transport.stats().dropped) == (1, 0)


def test_a_server_that_keeps_asking_to_wait_is_given_up_on_after_the_longest_wait(
    local_server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The wait is honoured, not forever: a call is kept at most the longest honoured wait past
    its retry time, then dropped with the server's answer."""
    caplog.set_level(logging.WARNING, logger="sentrial")
    transport, session_id = _one_event_transport(local_server, retry_timeout=0.2, max_retry_after=0.5)
    local_server.inject_faults(status=429, count=None, headers={"Retry-After": "3600"}, paths=[EVENTS])
    try:
        transport.submit(
            [ApiCall("POST", EVENTS, _event_body(session_id, 0), session=session_id, lane=session_id)]
        )
        assert transport.flush(timeout=10) is False
    finally:
        local_server.clear_faults()
        transport.shutdown(timeout=1.0)
    why = "gave up retrying: HTTP 429 on POST /api/sdk/events (the server asked to wait 3600 s)"
    assert transport.stats().drop_reasons == {why: 1}
    assert any(why in message for message in drop_warnings(caplog))


def test_a_session_sending_one_call_at_a_time_keeps_to_one_connection(local_server: RecordingServer) -> None:
    """A run goes out on the free connection used last: the calls do not go round the workers'
    connections (servers close idle ones, and each would cost a new connection)."""
    proxy = DelayProxy(local_server.url, delay_s=0.0).start()
    transport = Transport(proxy.url, timeout=5.0, workers=8)
    session_id = "one-call-at-a-time"
    opening = {"id": session_id, "name": "run", "agentName": "agent", "userId": "user-1"}
    try:
        transport.submit(
            [ApiCall("POST", SESSIONS, opening, session=session_id, lane=session_id, opens_session=True)]
        )
        for step in range(12):
            assert transport.flush(timeout=5)
            body = _event_body(session_id, step)
            transport.submit([ApiCall("POST", EVENTS, body, session=session_id, lane=session_id)])
        assert transport.flush(timeout=5)
        assert stored_steps(local_server, session_id) == list(range(12))
        assert proxy.connections == 1
    finally:
        transport.shutdown(timeout=1)
        proxy.stop()
