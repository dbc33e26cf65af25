"""A process forked after the SDK started (gunicorn with --preload, Celery and multiprocessing workers).

The child inherits the client but none of its background threads. Each test forks this process for
real: the child does its part against the LocalServer that keeps serving in the parent, reports
through a pipe and leaves with ``os._exit``; the parent checks what the server received.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from helpers import CHILD_TIMEOUT_S, SESSIONS, in_child, wait_until
from opentelemetry.sdk.trace import TracerProvider

from sentrial import SentrialClient
from sentrial.server import LocalServer
from sentrial.tracing import router_of

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # Python 3.12+ warns on every fork of a process with threads: forking one is what is tested here.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork():DeprecationWarning"),
]


@pytest.fixture
def client(local_server: LocalServer) -> Iterator[SentrialClient]:
    made = SentrialClient(
        api_key="test-key", api_url=local_server.url, tracer_provider=TracerProvider(), timeout=2.0
    )
    yield made
    made.shutdown(timeout=5)


def _track_one(client: SentrialClient, user: str) -> str:
    interaction = client.begin(user_id=user, event="forked", input="hi")
    interaction.track_tool_call(tool_name="search", tool_input={"q": user}, tool_output={"n": 1})
    interaction.finish(output="done")
    assert interaction.session_id is not None
    return interaction.session_id


def _posts_of(server: LocalServer, session_id: str) -> int:
    return sum(
        1
        for request in server.requests
        if request["method"] == "POST"
        and request["path"] == SESSIONS
        and (request["json"] or {}).get("id") == session_id
    )


def test_a_child_forked_after_delivery_began_delivers_its_own_sessions(
    client: SentrialClient, local_server: LocalServer
) -> None:
    _track_one(client, "parent-before")
    assert client.flush(timeout=10)  # the parent's transport threads are running now

    def child() -> dict[str, Any]:
        session_id = _track_one(client, "child")
        return {"session": session_id, "flushed": client.flush(timeout=10)}

    result = in_child(child)

    assert result["flushed"] is True
    stored = local_server.session(result["session"])
    assert stored is not None and stored["status"] == "completed"
    assert [e["toolName"] for e in stored["events"]] == ["search"]
    # The parent goes on delivering as before.
    after = _track_one(client, "parent-after")
    assert client.flush(timeout=10)
    stored_after = local_server.session(after)
    assert stored_after is not None and stored_after["status"] == "completed"


def test_the_child_leaves_what_the_parent_had_queued_to_the_parent(
    client: SentrialClient, local_server: LocalServer
) -> None:
    local_server.set_delay(300)  # the parent's calls are still queued when it forks
    session_id = _track_one(client, "parent")
    exporter = client.delivery.exporter
    assert exporter is not None
    wait_until(lambda: exporter.stats.pending > 0, what="calls queued in the parent's transport")

    def child() -> dict[str, Any]:
        pending = exporter.stats.pending
        return {"pending": pending, "flushed": client.flush(timeout=5), "sent": exporter.stats.sent}

    result = in_child(child)

    assert result == {"pending": 0, "flushed": True, "sent": 0}
    assert client.flush(timeout=20)
    stored = local_server.session(session_id)
    assert stored is not None and stored["status"] == "completed"
    assert _posts_of(local_server, session_id) == 1  # opened once: by the parent only


def _transport_lock(client: SentrialClient) -> Any:
    return client.delivery.exporter._transport._lock  # type: ignore[union-attr]


def _exporter_lock(client: SentrialClient) -> Any:
    return client.delivery.exporter._lock  # type: ignore[union-attr]


def _delivery_lock(client: SentrialClient) -> Any:
    return client.delivery._lock


def _client_lock(client: SentrialClient) -> Any:
    return client._registry.lock


def _trace_roots_lock(client: SentrialClient) -> Any:
    return router_of(client._provider)._traces._lock  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "lock_of", [_transport_lock, _exporter_lock, _delivery_lock, _client_lock, _trace_roots_lock]
)
def test_a_lock_a_background_thread_held_at_the_fork_does_not_hang_the_child(
    client: SentrialClient, local_server: LocalServer, lock_of: Callable[[SentrialClient], Any]
) -> None:
    """A thread inside one of the delivery's critical sections at the instant of the fork (as its
    workers often are) leaves that lock held for good in the child, unless the child starts over."""
    _track_one(client, "parent")
    assert client.flush(timeout=10)
    lock = lock_of(client)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            holding.set()
            release.wait(CHILD_TIMEOUT_S)

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert holding.wait(5)
    try:
        result = in_child(
            lambda: {"session": _track_one(client, "child"), "flushed": client.flush(timeout=10)}
        )
    finally:
        release.set()
        holder.join(5)

    assert result["flushed"] is True
    stored = local_server.session(result["session"])
    assert stored is not None and [e["toolName"] for e in stored["events"]] == ["search"]


def test_a_child_that_shuts_down_leaves_the_parents_open_session_to_the_parent(
    client: SentrialClient, local_server: LocalServer
) -> None:
    interaction = client.begin(user_id="u", event="spans-a-fork", input="hi")
    assert client.flush(timeout=10)  # the session is open on the server before the fork

    def child() -> dict[str, Any]:
        interaction.track_tool_call(tool_name="in_child", tool_input={}, tool_output={"ok": True})
        return {"delivered": client.shutdown(timeout=10)}  # what the exit hook does at the child's exit

    result = in_child(child)

    assert result["delivered"] is True
    interaction.track_tool_call(tool_name="in_parent", tool_input={}, tool_output={"ok": True})
    interaction.finish(output="all done")
    assert client.flush(timeout=10)
    stored = local_server.session(interaction.session_id or "")
    assert stored is not None
    assert (stored["status"], stored.get("failureReason"), stored["assistantOutput"]) == (
        "completed",
        None,
        "all done",
    )
    assert sorted(e["toolName"] for e in stored["events"]) == ["in_child", "in_parent"]


def test_a_child_records_into_a_session_whose_opening_the_parent_sends_later(
    client: SentrialClient, local_server: LocalServer
) -> None:
    """The child's event reaches the server first and gets 404 (unknown session): it is retried until
    the parent's opening arrives, here a second late (503 with Retry-After: 1 to the first try)."""
    local_server.inject_faults(status=503, count=1, headers={"Retry-After": "1"}, paths=[SESSIONS])
    interaction = client.begin(user_id="u", event="opened-late", input="hi")
    exporter = client.delivery.exporter
    assert exporter is not None

    def child() -> dict[str, Any]:
        interaction.track_tool_call(tool_name="in_child", tool_input={}, tool_output={"ok": True})
        delivered = client.flush(timeout=20)
        return {"delivered": delivered, "retried": exporter.stats.retried}

    result = in_child(child)

    assert result["delivered"] is True and result["retried"] >= 1
    interaction.finish(output="done")
    assert client.flush(timeout=20)
    stored = local_server.session(interaction.session_id or "")
    assert stored is not None and stored["status"] == "completed"
    assert [e["toolName"] for e in stored["events"]] == ["in_child"]


def test_a_child_of_a_process_that_never_sent_delivers(local_server: LocalServer) -> None:
    """gunicorn --preload: configured at import in the master, which forks before anything is sent."""
    client = SentrialClient(api_key="test-key", api_url=local_server.url, tracer_provider=TracerProvider())
    try:
        result = in_child(
            lambda: {"session": _track_one(client, "child"), "flushed": client.flush(timeout=10)}
        )
    finally:
        client.shutdown(timeout=5)
    assert result["flushed"] is True
    stored = local_server.session(result["session"])
    assert stored is not None and stored["status"] == "completed"


def test_a_multiprocessing_child_delivers_at_its_exit_without_a_flush(
    client: SentrialClient, local_server: LocalServer
) -> None:
    """multiprocessing ends its children with os._exit (no atexit): their exit finalizers deliver,
    completing what the child left open as failed, and leaving the parent's open session alone."""
    parents = client.begin(user_id="parent", event="open-across-the-fork", input="hi")
    ids = multiprocessing.get_context("fork").Queue()

    def child() -> None:
        done = client.begin(user_id="child", event="finished", input="hi")
        done.track_tool_call(tool_name="search", tool_input={}, tool_output={"n": 1})
        done.finish(output="done")
        left_open = client.begin(user_id="child", event="left-open", input="hi")
        ids.put((done.session_id, left_open.session_id))

    process = multiprocessing.get_context("fork").Process(target=child)
    process.start()
    process.join(CHILD_TIMEOUT_S)
    assert process.exitcode == 0
    done_id, open_id = ids.get(timeout=5)

    done = local_server.session(done_id)
    assert done is not None and (done["status"], done["assistantOutput"]) == ("completed", "done")
    assert [e["toolName"] for e in done["events"]] == ["search"]
    left_open = local_server.session(open_id)
    assert left_open is not None
    assert (left_open["status"], left_open["failureReason"]) == ("failed", "not finished before shutdown")
    parents.finish(output="parent done")
    assert client.flush(timeout=10)
    stored = local_server.session(parents.session_id or "")
    assert stored is not None and (stored["status"], stored["assistantOutput"]) == (
        "completed",
        "parent done",
    )


def test_a_child_forked_while_the_pii_settings_were_on_their_way_fetches_them_itself(
    local_server: LocalServer,
) -> None:
    """gunicorn --preload with pii=True: the master forks right after configuring, while its request
    for the server's PII settings is still unanswered; the child asks again rather than keeping the
    full default redaction for good."""
    local_server.set_pii_config({"enabled": True, "mode": "label", "builtinPatterns": {"emails": False}})
    local_server.set_delay(500)  # the parent's request is in flight at the fork
    client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=TracerProvider(), pii=True)
    default_redactor = client.delivery.redactor

    def child() -> dict[str, Any]:
        wait_until(lambda: client.delivery.redactor is not default_redactor, timeout=15, what="the settings")
        session_id = client.create_session(name="n", agent_name="a", user_id="u")
        client.track_tool_call(session_id, "mail", {"to": "ann@example.com"}, {})
        client.complete_session(session_id)
        return {"session": session_id, "flushed": client.flush(timeout=20)}

    try:
        result = in_child(child)
    finally:
        client.shutdown(timeout=10)

    assert result["flushed"] is True
    stored = local_server.session(result["session"])
    assert stored is not None
    assert stored["events"][0]["toolInput"] == {"to": "ann@example.com"}  # emails are not redacted there
