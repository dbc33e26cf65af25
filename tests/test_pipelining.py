"""One session's calls pipelined on one connection, over real HTTP: the order each server processed
them in, a server that takes no pipelined requests, and a whole process against a distant server.

The transport tests drive a ``Transport`` of their own against ``OrderServer`` (tests/order_server.py),
which records, per session, the order in which it processed the calls; the distance to a server is
the delaying proxy's (tests/delay_proxy.py).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from delay_proxy import DelayProxy
from helpers import EVENTS, SESSIONS
from order_server import OrderServer

from sentrial.server import LocalServer
from sentrial_otel_exporter.calls import ApiCall
from sentrial_otel_exporter.transport import Transport


@pytest.fixture
def servers() -> Iterator[list[OrderServer]]:
    """OrderServers a test starts, stopped after it."""
    started: list[OrderServer] = []
    yield started
    for server in started:
        server.stop()


def session_calls(session_id: str, events: int) -> list[ApiCall]:
    """A session's opening, ``events`` events (step numbers in ``toolInput``) and its completion."""
    opening = {"id": session_id, "name": "run", "agentName": "agent", "userId": "user-1"}
    calls = [ApiCall("POST", SESSIONS, opening, session=session_id, lane=session_id, opens_session=True)]
    for step in range(events):
        body: dict[str, Any] = {"sessionId": session_id, "eventType": "tool_call", "toolInput": {"i": step}}
        calls.append(ApiCall("POST", EVENTS, body, session=session_id, lane=session_id))
    completion = {"status": "completed", "success": True}
    calls.append(ApiCall("PATCH", SESSIONS + "/{session}", completion, session=session_id, lane=session_id))
    return calls


def deliver(url: str, sessions: list[str], events: int, **options: Any) -> Transport:
    """Submit every session's calls at once and wait until they are delivered."""
    transport = Transport(url, **options)
    try:
        transport.submit([call for session_id in sessions for call in session_calls(session_id, events)])
        assert transport.flush(timeout=30), transport.stats()
    finally:
        transport.shutdown(timeout=1.0)
    return transport


def test_each_session_is_pipelined_and_processed_in_order(servers: list[OrderServer]) -> None:
    """Three sessions of 150 events at once, 20 ms from the server: each connection carries
    several requests at a time, and the server processes each session's calls in their order."""
    server = OrderServer("pipelining")
    servers.append(server)
    proxy = DelayProxy(server.url, 0.010).start()
    try:
        sessions = ["first", "second", "third"]
        deliver(proxy.url, sessions, 150)
    finally:
        proxy.stop()
    for session_id in sessions:
        assert server.sequences[session_id] == ["open", *range(150), "complete"]
    assert server.most_waiting > 1  # requests were waiting behind the one being answered


@pytest.mark.parametrize("mode", ["close", "discard"])
def test_a_server_that_takes_no_pipelined_requests_gets_one_at_a_time(
    servers: list[OrderServer], mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that closes the connection after every answer, or throws away what follows the
    request it reads: the transport notices, sends one call at a time, and loses nothing."""
    caplog.set_level(logging.INFO, logger="sentrial")
    server = OrderServer(mode)
    servers.append(server)
    transport = deliver(server.url, ["only"], 40, timeout=0.5, retry_timeout=20.0)
    assert server.sequences["only"] == ["open", *range(40), "complete"]
    assert transport.stats().dropped == 0
    assert any("takes no pipelined requests; sending one at a time" in m for m in caplog.messages)


_DISTANT_PROCESS = textwrap.dedent(
    """
    import multiprocessing, sys
    from sentrial import SentrialClient

    client = SentrialClient(api_key="k", api_url=sys.argv[1])

    def task(n):
        interaction = client.begin(user_id=f"worker-{n}", event="task", input=str(n))
        for step in range(25):
            interaction.track_tool_call(tool_name="step", tool_input={"i": step}, tool_output={})
        interaction.finish(output="done")

    root = client.begin(user_id="root", event="root", input="go")
    for step in range(200):
        root.track_tool_call(tool_name="step", tool_input={"i": step}, tool_output={})
    pool = multiprocessing.get_context("fork").Pool(2)
    pool.map(task, range(8))
    pool.close()
    pool.join()
    print(root.session_id)
    """
)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_process_50_ms_from_its_server_delivers_everything_before_it_ends(
    local_server: LocalServer,
) -> None:
    """A root session of 200 events, left open, and a multiprocessing pool whose tasks begin
    interactions under it (sub-sessions, in the children): the process ends without a flush, and
    the exit hooks of the pool's children and of the process deliver all of it within their time."""
    proxy = DelayProxy(local_server.url, 0.025).start()
    try:
        done = subprocess.run(
            [sys.executable, "-c", _DISTANT_PROCESS, proxy.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    finally:
        proxy.stop()
    assert "Sentrial dropped" not in done.stderr, done.stderr
    root_id = done.stdout.strip()
    root = local_server.session(root_id)
    assert root is not None
    assert [event["toolInput"]["i"] for event in root["events"]] == list(range(200))
    assert root["status"] == "failed"  # left open: completed as failed at exit
    children = [s for s in local_server.sessions() if s["parentSessionId"] == root_id]
    assert len(children) == 8
    for child in children:
        stored = local_server.session(child["id"])
        assert stored is not None and stored["status"] == "completed"
        assert [event["toolInput"]["i"] for event in stored["events"]] == list(range(25))
