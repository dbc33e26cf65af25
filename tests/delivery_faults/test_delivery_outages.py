"""Delivery while the server is down, and the flush and shutdown that follow: an outage mid-run
loses nothing, flush and shutdown keep to their timeouts and report what was lost, and the exit
warning names an unreachable server."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from delivery_support import (
    MakeClient,
    assert_delivered_in_order,
    open_session,
    stats,
    stored_count,
    track_steps,
)
from helpers import drop_warnings, stored_steps, wait_until
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from sentrial import DeliveryError
from sentrial.server import LocalServer


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
    client = make_client(dead_url, timeout=0.2, retry_timeout=120.0)
    session_id = open_session(client)
    track_steps(client, session_id, range(5))
    client.complete_session(session_id, success=True)

    start = time.monotonic()
    delivered = client.flush(timeout=2)
    elapsed = time.monotonic() - start

    assert delivered is False
    # Waits out its timeout (a lower bound: load only adds to it), and ends far sooner than the
    # retry time the calls still have left, which a flush that ignored its timeout would wait out.
    assert 1.9 <= elapsed < 60, elapsed
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
    client = make_client(dead_url, timeout=0.2, retry_timeout=60.0)
    session_id = open_session(client)
    track_steps(client, session_id, range(3))

    start = time.monotonic()
    client.shutdown(timeout=0.3)
    elapsed = time.monotonic() - start
    # Far under the 60 s of retries that a shutdown ignoring its timeout would wait out.
    assert elapsed < 30, f"shutdown(timeout=0.3) took {elapsed:.1f} s"


def test_flush_and_shutdown_keep_their_timeout_when_another_exporter_hangs(
    local_server: LocalServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    hung = socket.socket()  # accepts connections (the backlog) and never answers
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    # Its own timeout is long: a flush or shutdown waiting on it would take 60 s.
    otlp = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{hung.getsockname()[1]}/v1/traces", timeout=60)
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
    assert flushed_in < 30 and shut_down_in < 30, (flushed_in, shut_down_in)


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


def test_exporter_shutdown_does_not_wait_for_a_hung_server(make_client: MakeClient) -> None:
    """Workers stuck in requests to a server that does not answer are not waited for past the timeout."""
    hung = socket.socket()  # takes connections and never answers
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    hung.settimeout(10)  # the deadline for the workers to connect
    accepted: list[socket.socket] = []
    client = make_client(f"http://127.0.0.1:{hung.getsockname()[1]}", timeout=60)
    try:
        for n in range(4):  # four lanes, so four workers wait on the server at once
            open_session(client, f"hung-{n}")
        accepted.extend(hung.accept()[0] for _ in range(4))  # four requests in flight
        exporter = client.delivery.exporter
        assert exporter is not None

        start = time.monotonic()
        exporter.shutdown(timeout_millis=300)
        elapsed = time.monotonic() - start
    finally:
        for connection in [*accepted, hung]:
            connection.close()
    # Far under the 60 s the workers' requests would take to time out, had shutdown waited for them.
    assert elapsed < 30, f"shutdown(timeout_millis=300) took {elapsed:.2f} s"
    assert stats(client).dropped == 4


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
    one warning counts every request not delivered, and says why (none failed: they were in flight
    or waited)."""
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
    prefix = r"(\d+) x not delivered before the shutdown's timeout"
    in_flight = re.search(prefix + r" \(in flight: the server may", warning)
    waiting = re.search(prefix + r" \(waiting their turn", warning)
    assert in_flight and waiting, warning
    # The run being sent when the time ran out (pipelined: one or more calls), the rest behind it.
    assert int(in_flight.group(1)) >= 1
    assert int(in_flight.group(1)) + int(waiting.group(1)) == final.dropped
    # The server goes on processing the run in flight; the opening is not an event.
    held = final.sent - 1
    wait_until(lambda: stored_count(local_server, session_id) >= held, what="the events confirmed")
    assert held <= stored_count(local_server, session_id) <= held + int(in_flight.group(1))


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


def test_at_exit_every_client_delivers_side_by_side_and_reports_what_it_could_not(
    dead_url: str, local_server: LocalServer
) -> None:
    """Two clients at exit: one whose server is unreachable, one with a backlog of 200 events for a
    server answering in 40 ms each, more than the exit's 5 s allow. The exit hook does not wait for
    one before the other: the second delivers what it can meanwhile, and each warning counts what
    its client could not deliver."""
    script = (
        "import sys\n"
        "from sentrial import SentrialClient\n"
        "lost = SentrialClient(api_key='k', api_url=sys.argv[1], timeout=0.2, retry_timeout=30)\n"
        "busy = SentrialClient(api_key='k', api_url=sys.argv[2])\n"
        "for client in (lost, busy):\n"
        "    sid = client.create_session(name='run', agent_name='agent', user_id='u')\n"
        "    for i in range(200):\n"
        "        client.track_tool_call(sid, 'step', {'i': i}, {})\n"
        "    client.complete_session(sid, success=True)\n"
        "print(sid)\n"
    )
    local_server.set_delay(40)
    done = subprocess.run(
        [sys.executable, "-c", script, dead_url, local_server.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    local_server.set_delay(0)
    dropped: dict[str, int] = {}
    for line in done.stderr.splitlines():
        found = re.match(r"Sentrial dropped (\d+) request\(s\) to (\S+): ", line)
        if found:
            dropped[found.group(2)] = dropped.get(found.group(2), 0) + int(found.group(1))
    assert dropped.get(dead_url) == 202, done.stderr  # the opening, 200 events, the completion
    delivered = stored_count(local_server, done.stdout.strip())
    assert delivered > 0
    # Every request of the busy client was delivered or counted (the opening is not an event; the
    # completion comes last); the calls counted in flight may have reached the server too.
    in_flight = re.search(r"(\d+) x [^;]*\(in flight", done.stderr)
    unconfirmed = int(in_flight.group(1)) if in_flight else 0
    assert 0 <= delivered + 1 + dropped[local_server.url] - 202 <= unconfirmed, done.stderr
