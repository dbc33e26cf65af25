"""The local server's read API beyond one session: the sessions list's filters, search, sort, pages and
totals; a session's tree; the timing columns indexed from event metadata (also in an older store)."""

from __future__ import annotations

import html
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests

from sentrial.server import LocalServer, queries
from sentrial.server.store import Store

SESSIONS = "/api/sdk/sessions"


def open_and_finish(srv: LocalServer, sid: str, finish: dict[str, Any] | None, **fields: Any) -> None:
    body = {"id": sid, "name": f"name {sid}", "agentName": "agent-a", "userId": "u1", **fields}
    assert requests.post(srv.url + SESSIONS, json=body, timeout=5).ok
    if finish is not None:
        assert requests.patch(f"{srv.url}{SESSIONS}/{sid}", json=finish, timeout=5).ok


def done(cost: float, tokens: int, output: str, ok: bool = True) -> dict[str, Any]:
    status = "completed" if ok else "failed"
    return {
        "status": status,
        "success": ok,
        "estimatedCost": cost,
        "totalTokens": tokens,
        "userInput": output,
    }


@pytest.fixture
def filled(local_server: LocalServer) -> LocalServer:
    open_and_finish(local_server, "s1", done(0.00045, 100, "reset my password"))
    open_and_finish(local_server, "s2", done(0.02, 300, "where is 100% of my refund_now", ok=False))
    open_and_finish(local_server, "s3", None, agentName="agent-b", userId="u2")
    open_and_finish(local_server, "s4", done(0.001, 50, "password again"), agentName="agent-b")
    return local_server


def listing(srv: LocalServer, query: str = "") -> dict[str, Any]:
    answer = requests.get(f"{srv.url}{SESSIONS}?{query}", timeout=5)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def ids(listed: dict[str, Any]) -> list[str]:
    return [s["id"] for s in listed["sessions"]]


def test_filters_narrow_the_list_and_its_totals(filled: LocalServer) -> None:
    everything = listing(filled)
    assert ids(everything) == ["s1", "s2", "s3", "s4"]
    assert everything["totals"] == {
        "sessions": 4,
        "failed": 1,
        "failureRate": pytest.approx(1 / 3),  # of the sessions that ended
        "estimatedCost": pytest.approx(0.02145),
        "totalTokens": 450,
    }
    assert ids(listing(filled, "status=failed")) == ["s2"]
    assert ids(listing(filled, "status=active")) == ["s3"]
    assert ids(listing(filled, "agent=agent-b")) == ["s3", "s4"]
    assert ids(listing(filled, "user=u2")) == ["s3"]
    assert ids(listing(filled, "q=PASSWORD")) == ["s1", "s4"]  # any case, in the input
    assert ids(listing(filled, "q=name%20s3")) == ["s3"]  # in the name
    # % and _ are searched for as they are, not as wildcards
    assert ids(listing(filled, "q=100%25")) == ["s2"] and ids(listing(filled, "q=u_d")) == []
    assert listing(filled, "agent=agent-b&status=completed")["totals"]["estimatedCost"] == pytest.approx(
        0.001
    )
    assert ids(listing(filled, "since=2000-01-01T00:00Z")) == ids(everything)
    assert ids(listing(filled, "until=2000-01-01")) == []


def test_sort_and_pages(filled: LocalServer) -> None:
    assert ids(listing(filled, "order=desc")) == ["s4", "s3", "s2", "s1"]
    assert ids(listing(filled, "sort=cost&order=desc")) == ["s2", "s4", "s1", "s3"]
    first = listing(filled, "limit=3&order=desc")
    assert (ids(first), first["nextOffset"], first["total"]) == (["s4", "s3", "s2"], 3, 4)
    rest = listing(filled, f"limit=3&order=desc&offset={first['nextOffset']}")
    assert (ids(rest), rest["nextOffset"]) == (["s1"], None)
    assert [s["eventCount"] for s in first["sessions"]] == [0, 0, 0]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("status=done", "status"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
        ("sort=name", "sort"),
        ("order=up", "order"),
        ("since=yesterday", "since"),
    ],
)
def test_a_wrong_parameter_is_422_naming_it(local_server: LocalServer, query: str, named: str) -> None:
    answer = requests.get(f"{local_server.url}{SESSIONS}?{query}", timeout=5)
    assert answer.status_code == 422 and f"'{named}'" in answer.json()["error"]
    page = requests.get(f"{local_server.url}/?{query}", timeout=5)
    assert page.status_code == 422 and f"&#x27;{named}&#x27;" in page.text


def event(sid: str, span: str, parent: str | None, started: str, name: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {"started_at": started, "duration_ms": 5}
    if parent is not None:
        metadata["parent_span_id"] = parent
    return {
        "sessionId": sid,
        "eventType": "tool_call",
        "toolName": name,
        "toolInput": {},
        "toolOutput": {},
        "stateBefore": {},
        "stateAfter": {},
        "spanId": span,
        "metadata": metadata,
    }


def test_the_tree_nests_by_parent_span_in_start_order_and_survives_a_loop(local_server: LocalServer) -> None:
    open_and_finish(local_server, "root", None)
    open_and_finish(local_server, "child", None, parentSessionId="root")
    t = "2000-01-01T00:00:0{}.000000Z"  # before the sessions opened (server time)
    posted = [
        event("root", "a" * 16, None, t.format(1), "outer"),  # sent last by a client: ends last
        event("root", "b" * 16, "a" * 16, t.format(3), "inner late"),
        event("root", "c" * 16, "a" * 16, t.format(2), "inner early"),
        event("root", "d" * 16, "e" * 16, t.format(4), "loop d"),  # d and e name each other
        event("root", "e" * 16, "d" * 16, t.format(5), "loop e"),
    ]
    for body in reversed(posted):
        assert requests.post(f"{local_server.url}/api/sdk/events", json=body, timeout=5).ok
    page = requests.get(f"{local_server.url}/sessions/root", timeout=5).text
    rows = [
        (int(depth), html.unescape(title))
        for depth, title in re.findall(r'data-depth="(\d+)".*?<span class="title">(.*?)</span>', page)
    ]
    assert rows[1:4] == [(1, "outer"), (2, "inner early"), (2, "inner late")]
    # Each shown once, the loop included
    assert sorted(title for _, title in rows) == sorted(
        ["name root", "name child", "outer", "inner early", "inner late", "loop d", "loop e"]
    )


def test_an_older_store_gets_the_timing_columns_filled_in(tmp_path: Path) -> None:
    path = str(tmp_path / "old.db")
    body = event("s", "a" * 16, "b" * 16, "2030-01-01T00:00:00.5Z", "t")
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE sessions (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
            " name TEXT NOT NULL, agentName TEXT NOT NULL, userId TEXT NOT NULL, metadata TEXT,"
            " parentSessionId TEXT, convoId TEXT, status TEXT NOT NULL, success INTEGER, failureReason TEXT,"
            " estimatedCost REAL, customMetrics TEXT, durationMs INTEGER, promptTokens INTEGER,"
            " completionTokens INTEGER, totalTokens INTEGER, userInput TEXT, assistantOutput TEXT,"
            " createdAt TEXT NOT NULL, completedAt TEXT);"
            "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
            " sessionId TEXT NOT NULL, spanId TEXT, body TEXT NOT NULL, receivedAt TEXT NOT NULL,"
            " UNIQUE (sessionId, spanId));"
        )
        db.execute(
            "INSERT INTO sessions (id, name, agentName, userId, status, createdAt)"
            " VALUES ('s', 'n', 'a', 'u', 'active', '2030-01-01T00:00:00.000Z')"
        )
        db.execute(
            "INSERT INTO events (id, sessionId, spanId, body, receivedAt) VALUES ('e', 's', ?, ?, 'x')",
            ("a" * 16, json.dumps(body)),
        )
    db.close()
    store = Store(path)
    try:
        tree = store.read(lambda conn: queries.session_tree(conn, "s"))
    finally:
        store.close()
    assert tree is not None
    (stored,) = tree["events"]
    assert (stored["startedAt"], stored["durationMs"], stored["parentSpanId"]) == (
        "2030-01-01T00:00:00.5Z",
        5.0,
        "b" * 16,
    )


def test_a_deep_chain_of_events_still_draws(local_server: LocalServer) -> None:
    open_and_finish(local_server, "deep", None)
    spans = [f"{n:016x}" for n in range(1, 252)]
    deep: Any = "bottom"
    for _ in range(500):
        deep = {"down": deep}
    for number, (span, parent) in enumerate(zip(spans[1:], spans, strict=False)):
        body = event("deep", span, parent, f"2000-01-01T00:00:00.{number:06d}Z", f"step {number}")
        body["toolInput"] = deep if number == 0 else {}
        assert requests.post(f"{local_server.url}/api/sdk/events", json=body, timeout=5).ok
    page = requests.get(f"{local_server.url}/sessions/deep", timeout=30)
    assert page.status_code == 200 and page.text.count('class="node') == 251
    depths = [int(d) for d in re.findall(r'data-depth="(\d+)"', page.text)]
    assert max(depths) <= 102 and depths[:3] == [0, 1, 2]
