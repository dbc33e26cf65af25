"""Retries and answers the server should not give: transient errors and 429s retried, final 4xx
dropped with a warning, events waiting for their session, slow servers, order per session, and
what never reaches the wire or the logs (the API key, the exporter's own HTTP calls)."""

from __future__ import annotations

import email.utils
import logging
import threading
import time
from collections.abc import Callable

import pytest
import requests
from delivery_support import (
    KEY,
    MakeClient,
    assert_delivered_despite_refusals,
    assert_delivered_in_order,
    open_session,
    stats,
    track_steps,
)
from helpers import EVENTS, SESSIONS, drop_warnings, event_posts, stored_steps, wait_until
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from sentrial import BatcherConfig, DeliveryError, SentrialClient
from sentrial.server import LocalServer


def retried_span_ids(server: LocalServer) -> set[str]:
    """The spanIds of events the server received more than once."""
    seen: set[str] = set()
    twice: set[str] = set()
    for request in event_posts(server):
        span_id = request["json"]["spanId"]
        (twice if span_id in seen else seen).add(span_id)
    return twice


# --- a server that answers with errors ------------------------------------------------------------
@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_transient_errors_are_retried_and_everything_lands_once(
    local_server: LocalServer, make_client: MakeClient, status: int
) -> None:
    """The open fails once, the first event twice; all of it still lands, once and in order."""
    local_server.inject_faults(status=status, count=1, headers={}, paths=[SESSIONS])
    local_server.inject_faults(status=status, count=2, headers={}, paths=[EVENTS])
    client = make_client(local_server.url)
    session_id = open_session(client)
    track_steps(client, session_id, range(5))
    client.complete_session(session_id, success=True)

    assert client.flush(timeout=10)
    assert_delivered_in_order(local_server, session_id, 5)
    assert stats(client).retried == 3
    assert stats(client).dropped == 0


def _http_date(seconds_from_now: float) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize(
    ("retry_after", "at_least"),
    [
        pytest.param(lambda: "1", 1.0, id="seconds"),
        # An HTTP date has whole seconds: 2 s ahead is more than 1 s ahead after rounding down.
        pytest.param(lambda: _http_date(2.0), 0.95, id="http-date"),
    ],
)
def test_429_retry_after_is_honoured(
    local_server: LocalServer,
    make_client: MakeClient,
    retry_after: Callable[[], str],
    at_least: float,
) -> None:
    client = make_client(local_server.url)
    session_id = open_session(client)
    assert client.flush(timeout=5)

    local_server.inject_faults(status=429, count=1, headers={"Retry-After": retry_after()}, paths=[EVENTS])
    start = time.monotonic()
    client.track_tool_call(session_id, "step", {"i": 0}, {})
    wait_until(lambda: stored_steps(local_server, session_id), what="the event to be stored")
    waited = time.monotonic() - start

    # Our own backoff alone would retry within 0.2 s; Retry-After asks for at least 1 s.
    assert waited >= at_least, f"the retry came {waited:.2f} s after the event"
    assert len(event_posts(local_server)) == 2
    assert stats(client).retried == 1
    assert stored_steps(local_server, session_id) == [0]


@pytest.mark.parametrize(
    ("status", "why"),
    [
        (400, "HTTP 400 on POST /api/sdk/events: injected fault (HTTP 400)"),
        (401, "HTTP 401 on POST /api/sdk/events (check the API key)"),
        (404, "HTTP 404 on POST /api/sdk/events: injected fault (HTTP 404)"),
        (422, "HTTP 422 on POST /api/sdk/events: injected fault (HTTP 422)"),
    ],
)
def test_final_4xx_is_dropped_with_one_warning(
    local_server: LocalServer,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    status: int,
    why: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    client = make_client(local_server.url)
    session_id = open_session(client)
    assert client.flush(timeout=5)

    local_server.inject_faults(status=status, count=1, headers={}, paths=[EVENTS])
    track_steps(client, session_id, range(3))
    client.complete_session(session_id, success=True)

    assert client.flush(timeout=5) is False  # the loss is reported
    assert drop_warnings(caplog) == [f"Sentrial dropped 1 request(s) to {local_server.url}: 1 x {why}"]
    assert stored_steps(local_server, session_id) == [1, 2]  # the rest carried on
    assert len(event_posts(local_server)) == 3  # and the rejected one was not retried
    assert stats(client).retried == 0
    assert stats(client).drop_reasons == {why: 1}
    session = local_server.session(session_id)
    assert session is not None
    assert session["status"] == "completed"


def test_several_final_4xx_are_summed_up_not_logged_one_by_one(
    local_server: LocalServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    client = make_client(local_server.url)
    session_id = open_session(client)
    assert client.flush(timeout=5)

    local_server.inject_faults(status=422, count=6, headers={}, paths=[EVENTS])
    track_steps(client, session_id, range(6))
    assert client.flush(timeout=5) is False

    warnings = drop_warnings(caplog)
    assert 1 <= len(warnings) <= 2  # the first at once, the rest summed up at the flush
    counts = [int(message.split()[2]) for message in warnings]
    assert sum(counts) == 6
    assert all("HTTP 422 on POST /api/sdk/events" in message for message in warnings)


def test_events_for_a_session_opened_elsewhere_wait_for_its_opening(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    """Another service (here another client) opens the session, and its opening lands a second late:
    this client's event gets 404 (unknown session) until then, and is retried rather than dropped."""
    opener, recorder = make_client(local_server.url), make_client(local_server.url)
    local_server.inject_faults(status=503, count=1, headers={"Retry-After": "1"}, paths=[SESSIONS])
    session_id = open_session(opener)
    track_steps(recorder, session_id, range(2))  # the id passes through: a session opened elsewhere

    assert recorder.flush(timeout=10)
    assert opener.flush(timeout=10)
    assert stored_steps(local_server, session_id) == [0, 1]
    assert stats(recorder).retried >= 1 and stats(recorder).dropped == 0


def test_events_for_a_session_that_never_opens_are_dropped_when_their_retry_time_ends(
    local_server: LocalServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    client = make_client(local_server.url, retry_timeout=1.0)
    track_steps(client, "no-such-session", range(1))

    started = time.monotonic()
    assert client.flush(timeout=120) is False
    # Bounded by the retry time (1 s), not the flush timeout: far under the 120 s of the latter.
    assert time.monotonic() - started < 60
    (warning,) = drop_warnings(caplog)
    assert "gave up retrying: HTTP 404 on POST /api/sdk/events" in warning


@pytest.mark.parametrize("garbage", [b"<html>Bad gateway</html>", b'["not", "an", "object"]', b'{"id": 42}'])
def test_unreadable_answer_to_session_open_keeps_the_sdk_id(
    local_server: LocalServer,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    garbage: bytes,
) -> None:
    """A server (or a proxy in front of it) stores the session but answers 200 with garbage."""
    caplog.set_level(logging.WARNING, logger="sentrial")
    # Batches leave only on flush(), so the session can be stored before the SDK's open goes out.
    batching = BatcherConfig(flush_interval=60.0, flush_threshold=100)
    client = make_client(local_server.url, batching=batching)
    session_id = open_session(client)
    stored = requests.post(
        local_server.url + SESSIONS,
        json={"id": session_id, "name": "run", "agentName": "agent", "userId": "user-1"},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=5,
    )
    assert stored.status_code == 200
    local_server.inject_faults(status=200, count=1, headers={}, body=garbage, paths=[SESSIONS])
    track_steps(client, session_id, range(3))
    client.complete_session(session_id, success=True)

    assert client.flush(timeout=5)
    assert any("without a readable session id; keeping the SDK's id" in m for m in caplog.messages)
    assert_delivered_in_order(local_server, session_id, 3)
    assert {r["json"]["sessionId"] for r in event_posts(local_server)} == {session_id}


# --- a server that is slow --------------------------------------------------------------------------
def test_slow_server_is_retried_and_app_calls_never_wait(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    """Answers take 1.5 s, the client gives up on a request after 0.25 s: requests are retried, the
    app's calls return while the server is still stalled, and everything lands exactly once."""
    client = make_client(local_server.url, timeout=0.25, retry_timeout=20.0)
    session_id = open_session(client)
    assert client.flush(timeout=5)

    local_server.set_delay(1500)
    too_late = threading.Event()
    timer = threading.Timer(3.0, too_late.set)  # a synchronous client would need >= 21 x 0.25 s
    timer.start()
    try:
        slowest = 0.0
        for step in range(20):
            start = time.monotonic()
            client.track_tool_call(session_id, "step", {"i": step}, {"ok": True})
            slowest = max(slowest, time.monotonic() - start)
        client.complete_session(session_id, success=True)
        assert not too_late.is_set(), f"app calls waited on the slow server (slowest {slowest:.3f} s)"
        # Keep the server slow until the client has timed out and retried a request it stored.
        wait_until(lambda: retried_span_ids(local_server), timeout=10, what="a retried event")
    finally:
        timer.cancel()
        local_server.set_delay(0)

    assert client.flush(timeout=15), stats(client)
    assert_delivered_in_order(local_server, session_id, 20)
    assert stats(client).retried > 0
    assert stats(client).dropped == 0


def test_retried_event_is_stored_once_by_span_id(local_server: LocalServer, make_client: MakeClient) -> None:
    """The server stores the event, but its answer comes too late: the retry carries the same spanId
    and the server does not store it again."""
    client = make_client(local_server.url, timeout=0.25, retry_timeout=20.0)
    session_id = open_session(client)
    assert client.flush(timeout=5)

    local_server.set_delay(1000)
    try:
        ids = client.track_tool_call(session_id, "step", {"i": 0}, {})
        span_id = ids["spanId"]
        wait_until(lambda: len(event_posts(local_server, span_id)) >= 2, timeout=10, what="a retry")
    finally:
        local_server.set_delay(0)

    assert client.flush(timeout=10)
    assert stored_steps(local_server, session_id) == [0]
    session = local_server.session(session_id)
    assert session is not None
    assert [event["spanId"] for event in session["events"]] == [span_id]
    assert {r["json"]["spanId"] for r in event_posts(local_server)} == {span_id}


# --- order and secrets ----------------------------------------------------------------------------
def run_parallel_sessions(client: SentrialClient, sessions: int, steps: int) -> list[str]:
    """``sessions`` threads at once, each opening a session, tracking ``steps`` and completing it."""
    start = threading.Barrier(sessions)
    session_ids: list[str] = []
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait(timeout=10)
            session_id = open_session(client, f"parallel-{n}")
            session_ids.append(session_id)
            track_steps(client, session_id, range(steps))
            client.complete_session(session_id, success=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert len(session_ids) == sessions
    return session_ids


def test_parallel_sessions_keep_their_own_order(local_server: LocalServer, make_client: MakeClient) -> None:
    """10 sessions x 20 events from 10 threads at once, pipelined: per session the server sees open
    first, the events in the order they ended, complete last."""
    client = make_client(local_server.url, retry_timeout=20.0)
    session_ids = run_parallel_sessions(client, 10, 20)

    assert client.flush(timeout=20), stats(client)
    log = local_server.requests
    for session_id in session_ids:
        assert_delivered_in_order(local_server, session_id, 20, log)
    assert stats(client).retried == 0


def test_refused_events_are_retried_after_the_ones_pipelined_behind_them(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    """The same with 15 events refused once (503): every event lands once, the opening first and
    the completion last; only a refused event may land after events that ended after it."""
    local_server.inject_faults(status=503, count=15, headers={"Retry-After": "0"}, paths=[EVENTS])
    client = make_client(local_server.url, retry_timeout=20.0)
    session_ids = run_parallel_sessions(client, 10, 20)

    assert client.flush(timeout=20), stats(client)
    log = local_server.requests
    refused = retried_span_ids(local_server)
    assert len(refused) == 15
    for session_id in session_ids:
        assert_delivered_despite_refusals(local_server, session_id, 20, refused, log)
    assert stats(client).retried == 15


def test_api_key_never_appears_in_log_output(
    make_client: MakeClient, dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A whole failing run, logged at DEBUG for every logger: the key is sent but never logged."""
    caplog.set_level(logging.DEBUG)
    key = "sk-live-Zq8vY3kP0wLm7Rt2"
    wrong_key = "sk-live-Wr0ngK3yXx9Qa1Bc"
    server = LocalServer(api_key=key).start()
    try:
        client = make_client(server.url, api_key=key, fail_silently=False, timeout=0.5)
        session_id = open_session(client)
        server.inject_faults(status=500, count=2, headers={}, paths=[EVENTS])
        server.inject_faults(status=422, count=1, headers={}, paths=[EVENTS])
        track_steps(client, session_id, range(4))
        client.complete_session(session_id, success=True)
        with pytest.raises(DeliveryError) as raised:
            client.flush(timeout=5)
        assert key not in str(raised.value)

        intruder = make_client(server.url, api_key=wrong_key)
        other = open_session(intruder)
        track_steps(intruder, other, range(2))
        intruder.complete_session(other, success=True)
        assert intruder.flush(timeout=5) is False

        stranded = make_client(dead_url, api_key=key, timeout=0.2, retry_timeout=1.0)
        track_steps(stranded, open_session(stranded), range(2))
        assert stranded.flush(timeout=0.3) is False
        assert stranded.shutdown(timeout=0.3) is False

        sent = {r["headers"].get("Authorization") for r in server.requests}
        assert {f"Bearer {key}", f"Bearer {wrong_key}"} <= sent  # the keys were really in use
    finally:
        server.stop()

    assert any("check the API key" in message for message in caplog.messages)
    assert drop_warnings(caplog)
    for record in caplog.records:
        for text in (record.getMessage(), record.exc_text or "", str(record.args)):
            assert key not in text and wrong_key not in text, record
    assert key not in caplog.text and wrong_key not in caplog.text


def test_the_exporters_own_http_calls_are_not_traced(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    """With the requests instrumentation on, the SDK's HTTP calls to Sentrial make no spans."""
    instrumentation = pytest.importorskip("opentelemetry.instrumentation.requests")
    recorded = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    instrumentor = instrumentation.RequestsInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = make_client(local_server.url, tracer_provider=provider)
        local_server.inject_faults(status=503, count=1, headers={"Retry-After": "0"}, paths=[EVENTS])
        session_id = open_session(client)
        track_steps(client, session_id, range(3))
        client.complete_session(session_id, success=True)
        assert client.flush(timeout=5)
        # The refused event may land after those pipelined behind it.
        assert sorted(stored_steps(local_server, session_id)) == [0, 1, 2]
        # A control: the app's own call through requests is traced.
        requests.get(local_server.url + "/", timeout=5)
    finally:
        instrumentor.uninstrument()

    http_spans = [span for span in recorded.get_finished_spans() if span.kind == SpanKind.CLIENT]
    assert len(http_spans) == 1, [(span.name, dict(span.attributes or {})) for span in http_spans]
    attributes = dict(http_spans[0].attributes or {})
    assert attributes.get("url.full", attributes.get("http.url")) == local_server.url + "/"


# --- a server that asks to wait, memory in bytes, and what is reported of a loss ----------------------
def test_a_retry_after_longer_than_the_retry_time_is_waited_out(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    """A rate-limiting server asks for a wait (Retry-After: 1 s) longer than the client's whole
    retry time (0.3 s): the requests are kept and retried when asked, and every event arrives."""
    local_server.inject_faults(status=429, count=5, headers={"Retry-After": "1"}, paths=[EVENTS])
    client = make_client(local_server.url, retry_timeout=0.3)
    session_ids = [open_session(client, f"limited-{n}") for n in range(5)]
    for session_id in session_ids:
        track_steps(client, session_id, range(7))
        client.complete_session(session_id, success=True)

    assert client.flush(timeout=15), stats(client)
    refused, log = retried_span_ids(local_server), local_server.requests
    for session_id in session_ids:
        assert_delivered_despite_refusals(local_server, session_id, 7, refused, log)
    assert len(event_posts(local_server)) == 35 + 5  # each refused event asked once more, no more
    assert (stats(client).dropped, stats(client).retried) == (0, 5)
