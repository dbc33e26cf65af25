"""Helpers of the delivery fault tests: opening sessions and tracking steps, and reading back
what the server stored, retried and received in which order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from helpers import EVENTS, SESSIONS, stored_steps

from sentrial import SentrialClient
from sentrial.server import LocalServer
from sentrial_otel_exporter.transport import DeliveryStats

KEY = "test-key"


MakeClient = Callable[..., SentrialClient]


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


def wire_sequence(request_log: list[dict[str, Any]], session_id: str) -> list[str]:
    """What the server was asked about one session, in arrival order, each call where it arrived
    last (a refused call is sent again, after the calls pipelined behind it that were refused too):
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
        if label in sequence:
            sequence.remove(label)
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


def assert_delivered_despite_refusals(
    server: LocalServer, session_id: str, steps: int, refused: set[str], request_log: list[dict[str, Any]]
) -> None:
    """Every step stored exactly once, the opening first and the completion last; the events the
    server never refused in order (a refused one lands after those pipelined behind it)."""
    session = server.session(session_id)
    assert session is not None
    assert session["status"] == "completed"
    assert sorted(stored_steps(server, session_id)) == list(range(steps))
    kept = [event["toolInput"]["i"] for event in session["events"] if event["spanId"] not in refused]
    assert kept == sorted(kept)
    sequence = wire_sequence(request_log, session_id)
    assert sequence[0] == "open"
    assert sequence[-1] == "complete"
