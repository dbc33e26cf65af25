"""Delivery under failure: a server that is down, slow, rate-limiting, failing or answering garbage.

Every test talks real HTTP to the project's LocalServer on 127.0.0.1 (or to a port where nothing
listens) through a SentrialClient of its own, on a TracerProvider of its own. Nothing of the SDK is
mocked: the server's fault injection, delay and request log make the failures and show the wire.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from helpers import EVENTS, SESSIONS, drop_warnings, event_posts, stored_steps, wait_until
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from sentrial import BatcherConfig, DeliveryError, SentrialClient
from sentrial.server import LocalServer
from sentrial_otel_exporter.transport import DeliveryStats

KEY = "test-key"

MakeClient = Callable[..., SentrialClient]


# --- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture
def make_client(request: pytest.FixtureRequest) -> Iterator[MakeClient]:
    """Build SentrialClients on fresh TracerProviders; every one is shut down after the test."""
    if "local_server" in request.fixturenames:
        # Set the server up first, so that it is stopped only after the clients have shut down.
        request.getfixturevalue("local_server")
    made: list[tuple[SentrialClient, TracerProvider]] = []

    def make(api_url: str, **options: Any) -> SentrialClient:
        provider = options.pop("tracer_provider", None) or TracerProvider()
        options.setdefault("api_key", KEY)
        options.setdefault("timeout", 1.0)
        options.setdefault("retry_timeout", 5.0)
        client = SentrialClient(api_url=api_url, tracer_provider=provider, **options)
        made.append((client, provider))
        return client

    yield make
    for client, provider in made:
        with contextlib.suppress(DeliveryError):
            client.shutdown(timeout=0.5)
        provider.shutdown()


@pytest.fixture
def dead_url() -> Iterator[str]:
    """The URL of a port that is bound but not listening: every connection is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def stats(client: SentrialClient) -> DeliveryStats:
    """The delivery counters of a client's exporter."""
    exporter = client.delivery.exporter
    assert exporter is not None
    return exporter.stats


def open_session(client: SentrialClient, name: str = "run") -> str:
    """Open a session on the client; returns its id."""
    return client.create_session(name=name, agent_name="agent", user_id="user-1")


def track_steps(client: SentrialClient, session_id: str, steps: range) -> None:
    """Track one tool call per step; the step number travels in ``toolInput``."""
    for step in steps:
        client.track_tool_call(session_id, "step", {"i": step}, {"ok": True})


def stored_count(server: LocalServer, session_id: str) -> int:
    """How many events of the session the server holds (0 before the session arrived)."""
    session = server.session(session_id)
    return 0 if session is None else len(session["events"])


def retried_span_ids(server: LocalServer) -> set[str]:
    """The spanIds of events the server received more than once."""
    seen: set[str] = set()
    twice: set[str] = set()
    for request in event_posts(server):
        span_id = request["json"]["spanId"]
        (twice if span_id in seen else seen).add(span_id)
    return twice


def wire_sequence(request_log: list[dict[str, Any]], session_id: str) -> list[str]:
    """What the server was asked about one session, in arrival order, retries of a call collapsed:
    ``"open"``, the spanId of each event, ``"complete"``."""
    sequence: list[str] = []
    for request in request_log:
        path = urlsplit(request["path"]).path
        body = request["json"] if isinstance(request["json"], dict) else {}
        if request["method"] == "POST" and path == SESSIONS and body.get("id") == session_id:
            label = "open"
        elif request["method"] == "POST" and path == EVENTS and body.get("sessionId") == session_id:
            label = str(body.get("spanId"))
        elif request["method"] == "PATCH" and path == f"{SESSIONS}/{session_id}":
            label = "complete"
        else:
            continue
        if not sequence or sequence[-1] != label:
            sequence.append(label)
    return sequence


def assert_delivered_in_order(
    server: LocalServer, session_id: str, steps: int, request_log: list[dict[str, Any]] | None = None
) -> None:
    """Every step of the session stored exactly once in order, and on the wire: open, events, complete."""
    assert stored_steps(server, session_id) == list(range(steps))
    session = server.session(session_id)
    assert session is not None
    assert session["status"] == "completed"
    span_ids = [event["spanId"] for event in session["events"]]
    log = server.requests if request_log is None else request_log
    assert wire_sequence(log, session_id) == ["open", *span_ids, "complete"]


# --- a server that is down ---------------------------------------------------------------------
def test_outage_of_3_s_mid_run_loses_nothing(make_client: MakeClient, tmp_path: Path) -> None:
    """The server stops for 3 s mid-run: app calls keep returning while it is down, and once a new
    server is up on the same port and database every event arrives exactly once, in order."""
    db = str(tmp_path / "sessions.db")
    first = LocalServer(port=0, db=db).start()
    port = urlsplit(first.url).port
    assert port is not None
    servers = [first]
    back = threading.Event()
    restart_errors: list[BaseException] = []

    def restart() -> None:
        try:
            servers.append(LocalServer(port=port, db=db).start())
        except BaseException as exc:  # reported by the main thread
            restart_errors.append(exc)
        back.set()

    timer = threading.Timer(3.0, restart)
    try:
        client = make_client(first.url, timeout=0.5, retry_timeout=30.0)
        before = open_session(client, "before-outage")
        track_steps(client, before, range(5))
        assert client.flush(timeout=5)

        first.stop()
        timer.start()
        durations: list[float] = []
        during: str | None = None
        for phase in range(2):
            start = time.monotonic()
            if phase == 0:
                track_steps(client, before, range(5, 20))
                client.complete_session(before, success=True)
            else:
                during = open_session(client, "during-outage")
                track_steps(client, during, range(20))
                client.complete_session(during, success=True)
            durations.append(time.monotonic() - start)
        # Logical, not a stopwatch: the app's calls all returned before the server came back.
        assert not back.is_set(), f"app calls were held up by the outage (phases took {durations} s)"

        assert back.wait(timeout=10)
        assert not restart_errors, restart_errors
        assert client.flush(timeout=20), stats(client)
        second = servers[1]
        log = first.requests + second.requests
        assert during is not None
        assert_delivered_in_order(second, before, 20, log)
        assert_delivered_in_order(second, during, 20, log)
        assert stats(client).dropped == 0
        assert stats(client).retried > 0
    finally:
        timer.cancel()
        for server in servers:
            server.stop()


def test_flush_with_server_down_for_good_returns_in_time_and_reports_loss(
    make_client: MakeClient, dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    client = make_client(dead_url, timeout=0.2, retry_timeout=30.0)
    session_id = open_session(client)
    track_steps(client, session_id, range(5))
    client.complete_session(session_id, success=True)

    start = time.monotonic()
    delivered = client.flush(timeout=2)
    elapsed = time.monotonic() - start

    assert delivered is False
    assert 1.9 <= elapsed < 4.0, elapsed  # waits out its timeout, and not much longer
    assert stats(client).pending == 7  # open, 5 events, complete: still held, none lost yet
    assert any("flush did not deliver everything" in m and "7 pending" in m for m in caplog.messages)


def test_flush_with_server_down_raises_when_not_failing_silently(
    make_client: MakeClient, dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    client = make_client(dead_url, fail_silently=False, timeout=0.2, retry_timeout=2.0)
    session_id = open_session(client)
    track_steps(client, session_id, range(3))

    with pytest.raises(DeliveryError, match=r"did not deliver everything .*4 pending"):
        client.flush(timeout=0.3)
    # shutdown() completes the open session as failed: its PATCH is lost with the rest.
    with pytest.raises(DeliveryError, match=r"did not deliver everything .*5 dropped"):
        client.shutdown(timeout=0.2)
    final = stats(client)
    assert (final.pending, final.dropped, final.sent) == (0, 5, 0)
    assert drop_warnings(caplog), "the loss is logged too"


def test_shutdown_with_server_down_keeps_to_its_timeout(make_client: MakeClient, dead_url: str) -> None:
    client = make_client(dead_url, timeout=0.2, retry_timeout=2.5)
    session_id = open_session(client)
    track_steps(client, session_id, range(3))

    start = time.monotonic()
    client.shutdown(timeout=0.3)
    elapsed = time.monotonic() - start
    assert elapsed < 1.5, f"shutdown(timeout=0.3) took {elapsed:.1f} s"


def test_memory_stays_bounded_while_the_server_is_down(
    dead_url: str, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Far more events than fit: what waits stays bounded, and every event beyond is dropped and counted."""
    caplog.set_level(logging.WARNING, logger="sentrial")
    queue = 100
    bound = queue  # the exporter holds at most max_queue_size calls too
    batching = BatcherConfig(max_queue_size=queue, flush_threshold=10, flush_interval=0.05)
    client = make_client(dead_url, batching=batching, timeout=0.2, retry_timeout=3.0)
    session_id = open_session(client)
    tracked = 1
    most_pending = 0
    for chunk in range(30):  # 1500 events, half a queue at a time, so the batch queue never overflows
        track_steps(client, session_id, range(chunk * 50, chunk * 50 + 50))
        tracked += 50
        counted = wait_until(
            lambda: (s := stats(client)).pending + s.dropped >= tracked and s,  # noqa: B023
            interval=0.002,
            what=f"{tracked} calls to reach the exporter",
        )
        most_pending = max(most_pending, counted.pending)
    assert client.flush(timeout=0.1) is False

    final = stats(client)
    assert most_pending == bound  # full, and never fuller
    assert final.pending + final.dropped == tracked  # every call either waits or is counted
    assert final.drop_reasons["delivery queue full"] > 0
    assert sum(final.drop_reasons.values()) == final.dropped
    assert any("delivery queue full" in message for message in drop_warnings(caplog))

    exporter = client.delivery.exporter
    assert exporter is not None
    exporter.shutdown(timeout_millis=0)  # what still waits is dropped, and counted
    assert (stats(client).pending, stats(client).dropped) == (0, tracked)


def test_waiting_events_never_exceed_max_queue_size(dead_url: str, make_client: MakeClient) -> None:
    queue = 50
    batching = BatcherConfig(max_queue_size=queue, flush_threshold=10, flush_interval=0.05)
    client = make_client(dead_url, batching=batching, timeout=0.2, retry_timeout=2.0)
    session_id = open_session(client)
    tracked = 1
    for chunk in range(8):
        track_steps(client, session_id, range(chunk * 25, chunk * 25 + 25))
        tracked += 25
        wait_until(lambda: (s := stats(client)).pending + s.dropped >= tracked, interval=0.002)  # noqa: B023
        assert stats(client).pending <= queue


def test_a_burst_beyond_the_queue_is_delivered_or_counted(
    local_server: LocalServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    batching = BatcherConfig(max_queue_size=20, flush_threshold=10, flush_interval=60.0)
    client = make_client(local_server.url, batching=batching)
    session_id = open_session(client)
    track_steps(client, session_id, range(200))
    client.complete_session(session_id, success=True)
    assert client.flush(timeout=10) is False  # something was dropped, and flush says so

    final = stats(client)
    assert client.delivery.dropped > 0
    assert final.sent + final.dropped + client.delivery.dropped == 202, final
    assert final.sent >= 2  # the session's opening got in, whatever else was dropped
    reported = [r.getMessage() for r in caplog.records if "were waiting to be sent" in r.getMessage()]
    assert sum(int(m.split()[2]) for m in reported) == client.delivery.dropped  # every drop reported


# --- delivery held for bursts -------------------------------------------------------------------
def test_events_of_a_burst_go_out_after_it_without_a_flush(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    """The background work waits for the app to pause, then sends on its own."""
    client = make_client(local_server.url)
    session_id = open_session(client)
    track_steps(client, session_id, range(30))
    wait_until(lambda: stored_count(local_server, session_id) == 30, timeout=10, what="30 events")
    assert stored_steps(local_server, session_id) == list(range(30))


def test_a_burst_that_never_pauses_is_still_delivered_while_it_lasts(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    """Tracking with no pause long enough for the hold to end: delivery goes on during the burst."""
    client = make_client(local_server.url)
    session_id = open_session(client)
    stop = threading.Event()
    made: list[int] = []

    def produce() -> None:
        while not stop.is_set() and len(made) < 900:  # stays below the queue of 1000
            track_steps(client, session_id, range(len(made), len(made) + 1))
            made.append(1)
            time.sleep(0.001)  # below the pause the hold waits for

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_until(lambda: stored_count(local_server, session_id) >= 40 or not producer.is_alive(), 20)
        sent = stored_count(local_server, session_id)
        assert producer.is_alive(), f"only {sent} events sent while the burst made {len(made)}"
    finally:
        stop.set()
        producer.join()
    assert client.flush(timeout=20)
    assert stored_steps(local_server, session_id) == list(range(len(made)))


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
    assert client.flush(timeout=10) is False
    assert time.monotonic() - started < 5  # bounded by the retry time, not the flush timeout
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
def test_parallel_sessions_keep_their_own_order(local_server: LocalServer, make_client: MakeClient) -> None:
    """10 sessions x 20 events from 10 threads at once, with retries thrown in: per session the
    server sees open first, the events in the order they ended, complete last."""
    local_server.inject_faults(status=503, count=15, headers={"Retry-After": "0"}, paths=[EVENTS])
    client = make_client(local_server.url, retry_timeout=20.0)
    start = threading.Barrier(10)
    session_ids: list[str] = []
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            start.wait(timeout=10)
            session_id = open_session(client, f"parallel-{n}")
            session_ids.append(session_id)
            track_steps(client, session_id, range(20))
            client.complete_session(session_id, success=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert len(session_ids) == 10

    assert client.flush(timeout=20), stats(client)
    log = local_server.requests
    for session_id in session_ids:
        assert_delivered_in_order(local_server, session_id, 20, log)
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
        assert_delivered_in_order(local_server, session_id, 3)
        # A control: the app's own call through requests is traced.
        requests.get(local_server.url + "/", timeout=5)
    finally:
        instrumentor.uninstrument()

    http_spans = [span for span in recorded.get_finished_spans() if span.kind == SpanKind.CLIENT]
    assert len(http_spans) == 1, [(span.name, dict(span.attributes or {})) for span in http_spans]
    attributes = dict(http_spans[0].attributes or {})
    assert attributes.get("url.full", attributes.get("http.url")) == local_server.url + "/"


def test_flush_and_shutdown_keep_their_timeout_when_another_exporter_hangs(
    local_server: LocalServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    hung = socket.socket()  # accepts connections (the backlog) and never answers
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    otlp = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{hung.getsockname()[1]}/v1/traces", timeout=4)
    client = make_client(local_server.url, additional_exporters=[otlp])
    try:
        session_id = open_session(client)
        track_steps(client, session_id, range(3))
        client.complete_session(session_id, success=True)
        started = time.monotonic()
        assert client.flush(timeout=1) is False
        flushed_in = time.monotonic() - started
        assert stored_steps(local_server, session_id) == [0, 1, 2]  # Sentrial's own part got through
        assert any("through OTLPSpanExporter (failed, or not done in time)" in m for m in caplog.messages)
        started = time.monotonic()
        assert client.shutdown(timeout=1) is False
        shut_down_in = time.monotonic() - started
    finally:
        hung.close()  # the export left behind in the background fails now
    assert flushed_in < 3 and shut_down_in < 3, (flushed_in, shut_down_in)


def test_flush_reports_another_exporter_that_failed(
    local_server: LocalServer, make_client: MakeClient, dead_url: str
) -> None:
    # OTel's BatchSpanProcessor.force_flush says True whatever the export gave: the SDK looks itself.
    client = make_client(
        local_server.url, additional_exporters=[OTLPSpanExporter(f"{dead_url}/v1/traces", timeout=1)]
    )
    track_steps(client, open_session(client), range(1))
    assert client.flush(timeout=10) is False
    assert client.flush(timeout=10) is True  # nothing new to send, nothing failed since


def test_exporter_shutdown_does_not_wait_for_a_hung_server(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    """Workers stuck in requests to a server that does not answer are not waited for past the timeout."""
    client = make_client(local_server.url, timeout=2.5)
    local_server.set_delay(3000)
    for n in range(4):  # four lanes, so four workers wait on the server at once
        open_session(client, f"hung-{n}")
    wait_until(
        lambda: len([r for r in local_server.requests if r["method"] == "POST"]) >= 4,
        what="four requests in flight",
    )
    exporter = client.delivery.exporter
    assert exporter is not None

    start = time.monotonic()
    exporter.shutdown(timeout_millis=300)
    elapsed = time.monotonic() - start
    local_server.set_delay(0)

    assert elapsed < 1.0, f"shutdown(timeout_millis=300) took {elapsed:.2f} s"
    assert stats(client).dropped == 4


def test_holding_for_a_pause_never_overflows_the_queue() -> None:
    """Tracking without a pause, faster than a small queue could hold for the whole hold time:
    the hold ends when the queue is half full, so nothing is dropped. (An in-memory exporter
    behind the delivery, so that only the delivery's queue is measured, not a server's speed.)"""
    queue = 120
    exported = InMemorySpanExporter()
    batching = BatcherConfig(max_queue_size=queue, flush_threshold=10, flush_interval=0.05)
    provider = TracerProvider()
    client = SentrialClient(
        api_key=KEY,
        tracer_provider=provider,
        batching=batching,
        export_to_sentrial=False,
        additional_exporters=[exported],
    )
    try:
        session_id = open_session(client)
        for step in range(400):  # about 3 events per ms: 250 ms of holding would queue 700
            track_steps(client, session_id, range(step, step + 1))
            if step % 3 == 2:
                time.sleep(0.001)  # well below the pause that ends a hold
        assert client.flush(timeout=20)
        assert client.delivery.dropped == 0
        tool_calls = [s for s in exported.get_finished_spans() if s.name == "execute_tool step"]
        assert len(tool_calls) == 400
    finally:
        client.shutdown(timeout=5)
        provider.shutdown()


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
    for session_id in session_ids:
        assert_delivered_in_order(local_server, session_id, 7)
    assert len(event_posts(local_server)) == 35 + 5  # each refused event asked once more, no more
    assert (stats(client).dropped, stats(client).retried) == (0, 5)


def _rss_kib(field: str = "VmRSS") -> int:
    """This process's resident memory (or another /proc/self/status field), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def test_memory_stays_within_the_byte_budget_while_the_server_is_down(
    dead_url: str, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """1500 events with two 60 KB values each, after a few small ones, against a server that is
    down, with a queue of 1000 spans and a byte budget of 4 MB: what waits stays within the budget
    (the process's peak RSS grows by far less than the 1000 events the item bound alone would
    keep; a jump in span size may overshoot by 64 spans), and what did not fit is dropped,
    counted and reported naming the byte budget."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc to measure the peak RSS")
    caplog.set_level(logging.WARNING, logger="sentrial")
    budget = 4 * 1024 * 1024
    batching = BatcherConfig(max_queue_size=1000, flush_threshold=10, flush_interval=0.05)
    client = make_client(dead_url, batching=batching, timeout=0.2, retry_timeout=30.0, max_queue_bytes=budget)
    session_id = open_session(client)

    def track(steps: range) -> None:
        for step in steps:
            big = f"{step:06d}" + "x" * 60_000  # a new text each time, as an app's would be
            client.track_tool_call(session_id, "step", big, big + "y")

    # Warm up with small events: the delivery has learnt their size when the large ones come.
    track_steps(client, session_id, range(3))
    wait_until(lambda: stats(client).pending >= 4, what="the warm-up requests to wait")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak RSS, to the current RSS
    before = _rss_kib("VmHWM")
    track(range(1500))
    exporter = client.delivery.exporter
    assert exporter is not None
    assert client.flush(timeout=0.5) is False  # the loss is reported
    grown_mib = (_rss_kib("VmHWM") - before) / 1024

    final = stats(client)
    assert final.pending_bytes <= budget
    assert exporter.pending_bytes == final.pending_bytes
    assert final.dropped + client.delivery.dropped > 1000, (final, client.delivery.dropped)
    # The item bound alone keeps 1000 x 120 KB, over 110 MB; the budget 4 MB, and up to 64 spans
    # (8 MB) past it when the size jumps, plus what is being built and sent.
    assert grown_mib < 40, f"peak RSS grew by {grown_mib:.0f} MiB with a 4 MiB byte budget"
    assert any("byte budget" in message for message in caplog.messages)


def test_flush_after_a_shutdown_that_lost_requests_reports_the_loss(
    make_client: MakeClient, dead_url: str
) -> None:
    client = make_client(dead_url, timeout=0.2, retry_timeout=30.0)
    track_steps(client, open_session(client), range(3))
    assert client.shutdown(timeout=0.3) is False
    assert client.flush(timeout=0.1) is False
    assert client.flush(timeout=0.1) is False  # and so does every later one: the loss stays
    assert stats(client).dropped == 5  # open, 3 events, the completion of the open session


def test_shutdown_says_the_server_was_unreachable(
    make_client: MakeClient, dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    client = make_client(dead_url, timeout=0.2, retry_timeout=30.0)
    track_steps(client, open_session(client), range(3))
    assert client.shutdown(timeout=0.5) is False
    address = urlsplit(dead_url).netloc
    why = (
        "not delivered before the shutdown's timeout (last attempt: "
        f"connection refused by {address} on POST /api/sdk/sessions)"
    )
    assert drop_warnings(caplog) == [f"Sentrial dropped 5 request(s) to {dead_url}: 5 x {why}"]


def test_shutdown_counts_what_a_slow_server_did_not_receive_in_time(
    local_server: LocalServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A root session of 30 events against a server answering in 100 ms, shut down after 0.5 s:
    one warning counts every request not delivered, and says why (none failed: they waited)."""
    caplog.set_level(logging.WARNING, logger="sentrial")
    client = make_client(local_server.url, timeout=5.0)
    local_server.set_delay(100)
    session_id = open_session(client)
    track_steps(client, session_id, range(30))
    client.complete_session(session_id, success=True)
    assert client.shutdown(timeout=0.5) is False
    local_server.set_delay(0)

    final = stats(client)
    (warning,) = drop_warnings(caplog)
    assert warning.startswith(f"Sentrial dropped {final.dropped} request(s) to {local_server.url}: ")
    assert final.sent + final.dropped == 32
    assert f"{final.dropped - 1} x not delivered before the shutdown's timeout (waiting their turn" in warning
    assert "1 x not delivered before the shutdown's timeout (in flight: the server may have it" in warning
    wait_until(lambda: stored_count(local_server, session_id) >= final.sent - 1, what="the in-flight event")
    assert stored_count(local_server, session_id) in (
        final.sent - 1,
        final.sent,
    )  # the opening is not an event


def test_the_exit_warning_counts_the_loss_and_names_an_unreachable_server(dead_url: str) -> None:
    """A process that exits with its server down: the exit hook's warning counts every request
    lost and says why, naming the address that refused the connection."""
    script = (
        "import sys, sentrial\n"
        "client = sentrial.configure(api_key='k', api_url=sys.argv[1], instrument=False,\n"
        "                            timeout=0.2, retry_timeout=0.5)\n"
        "sid = client.create_session(name='run', agent_name='agent', user_id='u')\n"
        "for i in range(4):\n"
        "    client.track_tool_call(sid, 'step', {'i': i}, {})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, dead_url], capture_output=True, text=True, timeout=60, check=True
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("Sentrial dropped")]
    assert sum(int(line.split()[2]) for line in lines) == 6, done.stderr  # open, 4 events, complete
    assert f"connection refused by {urlsplit(dead_url).netloc}" in done.stderr
