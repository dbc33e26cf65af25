"""The local Sessions API server, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import errno
import http.client
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from sentrial.server import ListenError, LocalServer
from sentrial_otel_exporter.mapping import MAX_SESSION_ID_CHARS

# The reference payloads of sessions-api.md.
BEGIN: dict[str, Any] = {
    "name": "support_request:1e61f1da",
    "agentName": "support_request",
    "userId": "user_12345",
    "metadata": {
        "channel": "web_chat",
        "input": "Help me reset my password",
        "convo_id": "conv_789",
        "event_id": "1e61f1da-d5a3-4295-b587-2591f9559ff8",
    },
    "convoId": "conv_789",
}
FINISH_OK: dict[str, Any] = {
    "status": "completed",
    "success": True,
    "estimatedCost": 0.023,
    "customMetrics": {"satisfaction": 4.5},
    "durationMs": 89,
    "userInput": "Help me reset my password",
    "assistantOutput": "Password reset email sent!",
}
FINISH_FAILED: dict[str, Any] = {
    "status": "failed",
    "success": False,
    "failureReason": "User not found in database",
    "durationMs": 0,
    "userInput": "User's question",
}
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


def llm_call(session_id: str, span_id: str = "b7ad6b7169203331") -> dict[str, Any]:
    """An LLM call as an instrumented client records it."""
    return {
        "sessionId": session_id,
        "eventType": "tool_call",
        "toolName": "llm:openai:gpt-4o",
        "toolInput": {
            "messages": [{"role": "user", "content": "hi"}],
            "model": "gpt-4o",
            "provider": "openai",
        },
        "toolOutput": {
            "content": "hello",
            "tokens": {"prompt": 5, "completion": 2, "total": 7},
            "cost_usd": 0.0001,
        },
        "reasoning": None,
        "estimatedCost": 0.0001,
        "tokenCount": 7,
        "stateBefore": {},
        "stateAfter": {},
        "traceId": TRACE_ID,
        "spanId": span_id,
    }


def decision(session_id: str) -> dict[str, Any]:
    """An llm_decision event."""
    return {
        "sessionId": session_id,
        "eventType": "llm_decision",
        "reasoning": "the user asked for a reset",
        "alternativesConsidered": ["escalate", "ignore"],
        "confidence": 0.9,
        "estimatedCost": 0.0,
        "stateBefore": {"step": 1},
        "stateAfter": {"step": 2},
    }


def error_event(session_id: str) -> dict[str, Any]:
    """An error event."""
    return {
        "sessionId": session_id,
        "eventType": "error",
        "toolName": "lookup_user",
        "toolError": {"message": "User not found", "type": "KeyError", "stack_trace": "Traceback ..."},
        "stateBefore": {},
        "stateAfter": {},
    }


def open_session(srv: LocalServer, body: dict[str, Any] | None = None) -> str:
    """Open a session and return its id."""
    resp = requests.post(f"{srv.url}/api/sdk/sessions", json=BEGIN if body is None else body, timeout=5)
    assert resp.status_code == 200, resp.text
    session_id: str = resp.json()["id"]
    return session_id


def post_event(srv: LocalServer, event: dict[str, Any]) -> requests.Response:
    """POST one event."""
    return requests.post(f"{srv.url}/api/sdk/events", json=event, timeout=5)


def test_open_session_reference_payload(local_server: LocalServer) -> None:
    session_id = open_session(local_server)
    [stored] = local_server.sessions()
    assert stored["id"] == session_id
    for field, value in BEGIN.items():
        assert stored[field] == value
    assert stored["status"] == "active"
    assert stored["parentSessionId"] is None and stored["completedAt"] is None and stored["createdAt"]


def test_client_chosen_id_is_idempotent(local_server: LocalServer) -> None:
    assert open_session(local_server, {**BEGIN, "id": "sess-1"}) == "sess-1"
    again = requests.post(
        f"{local_server.url}/api/sdk/sessions", json={**BEGIN, "id": "sess-1", "name": "other"}
    )
    assert again.status_code == 200
    assert again.json()["id"] == "sess-1" and again.json()["name"] == BEGIN["name"]
    child = open_session(local_server, {**BEGIN, "parentSessionId": "sess-1"})
    assert [s["id"] for s in local_server.sessions()] == ["sess-1", child]
    assert local_server.sessions()[1]["parentSessionId"] == "sess-1"


def test_events_of_every_type_are_stored_as_sent_in_order(local_server: LocalServer) -> None:
    session_id = open_session(local_server)
    sent = [llm_call(session_id), decision(session_id), error_event(session_id)]
    answers = []
    for event in sent:
        resp = post_event(local_server, event)
        assert resp.status_code == 200, resp.text
        answers.append(resp.json())
    session = local_server.session(session_id)
    assert session is not None
    assert session["events"] == answers
    for event, stored in zip(sent, session["events"], strict=True):
        assert {k: v for k, v in stored.items() if k not in ("id", "receivedAt")} == event
        assert stored["id"] and stored["receivedAt"]
    assert local_server.session("nope") is None


def test_events_are_deduplicated_by_span_id_within_a_session(local_server: LocalServer) -> None:
    first, second = open_session(local_server), open_session(local_server)
    original = post_event(local_server, llm_call(first)).json()
    retried = post_event(local_server, llm_call(first))
    assert retried.status_code == 200 and retried.json() == original
    post_event(local_server, llm_call(first, span_id="00f067aa0ba902b7"))
    post_event(local_server, llm_call(second))
    events = local_server.session(first)["events"]  # type: ignore[index]
    assert [e["spanId"] for e in events] == ["b7ad6b7169203331", "00f067aa0ba902b7"]
    assert len(local_server.session(second)["events"]) == 1  # type: ignore[index]


@pytest.mark.parametrize("finish", [FINISH_OK, FINISH_FAILED])
def test_complete_session_reference_payloads(local_server: LocalServer, finish: dict[str, Any]) -> None:
    session_id = open_session(local_server)
    resp = requests.patch(f"{local_server.url}/api/sdk/sessions/{session_id}", json=finish)
    assert resp.status_code == 200, resp.text
    stored = local_server.session(session_id)
    assert stored is not None and stored["completedAt"]
    for field, value in finish.items():
        assert stored[field] == value
    assert resp.json() == {k: v for k, v in stored.items() if k != "events"}


def test_pii_config(local_server: LocalServer) -> None:
    url = f"{local_server.url}/api/sdk/pii-config"
    assert requests.get(url).json() == {}
    config = {"enabled": True, "mode": "hash", "fields": None, "enhancedDetection": False}
    local_server.set_pii_config(config)
    assert requests.get(url).json() == {"config": config}
    local_server.set_pii_config(None)
    assert requests.get(url).json() == {}


def test_read_endpoints(local_server: LocalServer) -> None:
    session_id = open_session(local_server)
    post_event(local_server, decision(session_id))
    listed = requests.get(f"{local_server.url}/api/sdk/sessions").json()
    # Every session in creation order (no filter, no page), each with its number of events
    assert listed["sessions"] == [{**s, "eventCount": 1} for s in local_server.sessions()]
    assert (listed["total"], listed["nextOffset"], listed["totals"]["sessions"]) == (1, None, 1)
    one = requests.get(f"{local_server.url}/api/sdk/sessions/{session_id}")
    assert one.status_code == 200 and one.json() == local_server.session(session_id)
    assert requests.get(f"{local_server.url}/api/sdk/sessions/nope").status_code == 404


@pytest.mark.parametrize("body", [b"not json{", b"[1, 2]", b"", b'{"confidence": NaN}'])
def test_malformed_body_is_400(local_server: LocalServer, body: bytes) -> None:
    resp = requests.post(f"{local_server.url}/api/sdk/sessions", data=body)
    assert resp.status_code == 400 and resp.json()["error"]


@pytest.mark.parametrize(
    ("kind", "change", "field"),
    [
        ("session", {"name": None}, "name"),
        ("session", {"userId": 5}, "userId"),
        ("session", {"metadata": []}, "metadata"),
        ("session", {"id": ""}, "id"),
        ("event", {"sessionId": None}, "sessionId"),
        ("event", {"eventType": "thought"}, "eventType"),
        ("event", {"toolInput": "hi"}, "toolInput"),
        ("event", {"toolName": None}, "toolName"),
        ("event", {"stateBefore": None}, "stateBefore"),
        ("event", {"spanId": "xyz"}, "spanId"),
        ("event", {"traceId": "abc"}, "traceId"),
        ("event", {"tokenCount": 1.5}, "tokenCount"),
        ("event", {"estimatedCost": "0.1"}, "estimatedCost"),
        ("decision", {"confidence": 1.5}, "confidence"),
        ("decision", {"confidence": True}, "confidence"),
        ("decision", {"alternativesConsidered": [1]}, "alternativesConsidered"),
        ("decision", {"reasoning": None}, "reasoning"),
        ("error", {"toolError": {"type": "E"}}, "message"),
        ("finish", {"status": "done"}, "status"),
        ("finish", {"success": False}, "status"),
        ("finish", {"success": "yes"}, "success"),
        ("finish", {"customMetrics": {"x": "high"}}, "customMetrics"),
        ("finish", {"durationMs": -1}, "durationMs"),
        ("finish", {"totalTokens": 2.5}, "totalTokens"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(
    local_server: LocalServer, kind: str, change: dict[str, Any], field: str
) -> None:
    session_id = open_session(local_server)
    url = f"{local_server.url}/api/sdk/events"
    method = "POST"
    if kind == "session":
        base, url = BEGIN, f"{local_server.url}/api/sdk/sessions"
    elif kind == "finish":
        base, url, method = FINISH_OK, f"{local_server.url}/api/sdk/sessions/{session_id}", "PATCH"
    else:
        base = {"event": llm_call, "decision": decision, "error": error_event}[kind](session_id)
    body = {k: v for k, v in {**base, **change}.items() if v is not None}
    resp = requests.request(method, url, json=body)
    assert resp.status_code == 422, resp.text
    assert field in resp.json()["error"]
    assert len(local_server.sessions()) == 1 and not local_server.session(session_id)["events"]  # type: ignore[index]


def test_session_id_longer_than_the_client_sends_is_422(local_server: LocalServer) -> None:
    # An id that the GET/PATCH URL could not carry is refused when the session is opened.
    longest = "s" * MAX_SESSION_ID_CHARS
    assert open_session(local_server, {**BEGIN, "id": longest}) == longest
    assert requests.get(f"{local_server.url}/api/sdk/sessions/{longest}").status_code == 200
    for too_long in ("s" * (MAX_SESSION_ID_CHARS + 1), "s" * 100_000):
        resp = requests.post(f"{local_server.url}/api/sdk/sessions", json={**BEGIN, "id": too_long})
        assert resp.status_code == 422, resp.text[:200]
        assert "'id'" in resp.json()["error"] and str(MAX_SESSION_ID_CHARS) in resp.json()["error"]
    assert [s["id"] for s in local_server.sessions()] == [longest]


def test_unknown_session_or_path_is_404(local_server: LocalServer) -> None:
    assert post_event(local_server, decision("nope")).status_code == 404
    resp = requests.patch(f"{local_server.url}/api/sdk/sessions/nope", json=FINISH_OK)
    assert resp.status_code == 404 and "nope" in resp.json()["error"]
    assert requests.get(f"{local_server.url}/api/sdk/nothing").status_code == 404
    assert requests.get(f"{local_server.url}/favicon.ico").status_code == 404


def test_wrong_method_is_405(local_server: LocalServer) -> None:
    resp = requests.delete(f"{local_server.url}/api/sdk/sessions")
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET, POST"
    assert requests.get(f"{local_server.url}/api/sdk/events").status_code == 405
    assert requests.post(f"{local_server.url}/api/sdk/pii-config", json={}).status_code == 405


def test_body_over_32_mib_is_413(local_server: LocalServer) -> None:
    # Announce the size without sending the body: the server must answer without reading it.
    conn = http.client.HTTPConnection("127.0.0.1", urlsplit(local_server.url).port, timeout=5)
    conn.putrequest("POST", "/api/sdk/events")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(32 * 1024 * 1024 + 1))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413 and b"error" in resp.read()
    conn.close()
    assert requests.get(f"{local_server.url}/api/sdk/sessions").status_code == 200


def test_api_key_is_required_on_the_api() -> None:
    with LocalServer(api_key="secret") as srv:
        url = f"{srv.url}/api/sdk/sessions"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "secret"}):
            resp = requests.post(url, json=BEGIN, headers=headers)
            assert resp.status_code == 401 and resp.json()["error"]
            assert resp.headers["WWW-Authenticate"] == "Bearer"
        assert requests.get(url).status_code == 401
        assert requests.get(f"{srv.url}/api/sdk/pii-config").status_code == 401
        good = {"Authorization": "Bearer secret"}
        assert requests.post(url, json=BEGIN, headers=good).status_code == 200
        assert len(requests.get(url, headers=good).json()["sessions"]) == 1


# The key of the servers whose pages are protected; the characters need escaping in a form.
PAGE_KEY = "s3cret key/with+odd&chars"


def _session_with_a_secret(srv: LocalServer) -> str:
    """Open a session whose page shows something confidential; returns its id."""
    headers = {"Authorization": f"Bearer {PAGE_KEY}"}
    body = {**BEGIN, "name": "confidential-ticket"}
    resp = requests.post(f"{srv.url}/api/sdk/sessions", json=body, headers=headers, timeout=5)
    session_id: str = resp.json()["id"]
    event = {**decision(session_id), "reasoning": "the customer's card ends in 4242"}
    assert requests.post(f"{srv.url}/api/sdk/events", json=event, headers=headers, timeout=5).ok
    return session_id


def test_pages_need_the_api_key_when_the_server_has_one() -> None:
    with LocalServer(api_key=PAGE_KEY) as srv:
        session_id = _session_with_a_secret(srv)
        paths = ("/", f"/sessions/{session_id}", "/sessions/nope", "/favicon.ico", "/live/sessions")
        for path in (*paths, f"/live/sessions/{session_id}", "/conversations/conv_789", "/?q=confidential"):
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Cookie": "sentrial-pages-1=x"}):
                resp = requests.get(f"{srv.url}{path}", headers=headers, timeout=5)
                assert resp.status_code == 401, (path, headers)
                assert "confidential" not in resp.text and "4242" not in resp.text
                assert '<form method="post">' in resp.text and 'type="password"' in resp.text
        # Scripts send the API's header.
        script = {"Authorization": f"Bearer {PAGE_KEY}"}
        assert "confidential-ticket" in requests.get(f"{srv.url}/", headers=script, timeout=5).text
        page = requests.get(f"{srv.url}/sessions/{session_id}", headers=script, timeout=5)
        assert page.status_code == 200 and "4242" in page.text
        # The pages' own script and style hold no data: the sign-in form uses them too.
        style = requests.get(f"{srv.url}/static/page.css", timeout=5)
        assert style.status_code == 200 and style.headers["Content-Type"].startswith("text/css")
        assert requests.get(f"{srv.url}/static/secrets.txt", timeout=5).status_code == 404


def test_the_sign_in_form_sets_a_cookie_that_opens_the_pages() -> None:
    key = PAGE_KEY
    with LocalServer(api_key=key) as srv, requests.Session() as browser:
        session_id = _session_with_a_secret(srv)
        page_url = f"{srv.url}/sessions/{session_id}"
        wrong = browser.post(page_url, data={"key": "guess"}, allow_redirects=False, timeout=5)
        assert wrong.status_code == 401 and "not the key" in wrong.text and "4242" not in wrong.text
        assert "Set-Cookie" not in wrong.headers and not browser.cookies
        right = browser.post(page_url, data={"key": key}, allow_redirects=False, timeout=5)
        assert right.status_code == 303 and right.headers["Location"] == f"/sessions/{session_id}"
        set_cookie = right.headers["Set-Cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie and "s3cret" not in set_cookie
        shown = browser.get(page_url, timeout=5)
        assert shown.status_code == 200 and "4242" in shown.text
        assert "confidential-ticket" in browser.get(f"{srv.url}/", timeout=5).text
        # The key went in a POST body, never in a URL (what logs and browser history keep).
        assert all("s3cret" not in r["path"] for r in srv.requests)
        # The cookie opens the pages only: the API still wants the header.
        assert browser.get(f"{srv.url}/api/sdk/sessions", timeout=5).status_code == 401
        # A crafted path cannot turn the redirect into one to another site.
        crafted = browser.post(f"{srv.url}//elsewhere.example/", data={"key": key}, allow_redirects=False)
        assert crafted.headers["Location"] == "/elsewhere.example/"


def test_sign_in_cookies_of_servers_side_by_side_do_not_replace_each_other() -> None:
    key = PAGE_KEY
    with LocalServer(api_key=key) as first, LocalServer(api_key=key) as second, requests.Session() as browser:
        for srv in (first, second):
            assert browser.post(f"{srv.url}/", data={"key": key}, timeout=5).status_code == 200
        for srv in (first, second):
            assert browser.get(f"{srv.url}/", timeout=5).status_code == 200


def test_html_pages(local_server: LocalServer) -> None:
    evil = open_session(local_server, {**BEGIN, "name": "<script>alert(1)</script>"})
    plain = open_session(local_server)
    post_event(local_server, llm_call(plain))
    post_event(local_server, error_event(plain))
    requests.patch(f"{local_server.url}/api/sdk/sessions/{plain}", json=FINISH_OK)
    index = requests.get(f"{local_server.url}/")
    assert index.status_code == 200 and index.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in index.headers["Content-Security-Policy"]
    assert index.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in index.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in index.text
    assert BEGIN["name"] in index.text and f'href="/sessions/{plain}"' in index.text
    page = requests.get(f"{local_server.url}/sessions/{plain}").text
    assert "llm:openai:gpt-4o" in page and "User not found" in page and "Password reset email sent!" in page
    # The tree: the session, then its events in the order they started
    assert re.findall(r'data-kind="(\w+)"', page) == ["session", "llm", "error"]
    assert "&quot;provider&quot;: &quot;openai&quot;" in page  # pretty-printed, escaped JSON
    assert "<script>" not in requests.get(f"{local_server.url}/sessions/{evil}").text
    assert requests.get(f"{local_server.url}/sessions/nope").status_code == 404


def test_database_file_survives_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "local.db")
    with LocalServer(db=db) as srv:
        session_id = open_session(srv)
        post_event(srv, decision(session_id))
        requests.patch(f"{srv.url}/api/sdk/sessions/{session_id}", json=FINISH_OK)
        before = srv.session(session_id)
    with LocalServer(db=db) as srv:
        assert srv.session(session_id) == before
        newer = open_session(srv)
        assert [s["id"] for s in srv.sessions()] == [session_id, newer]


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else listens on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_server_that_cannot_listen_says_where_and_creates_no_database(
    tmp_path: Path, taken_port: int
) -> None:
    db = tmp_path / "never.db"
    with pytest.raises(ListenError, match=rf"^cannot listen on 127\.0\.0\.1:{taken_port}: ") as in_use:
        LocalServer(port=taken_port, db=str(db))
    assert in_use.value.errno == errno.EADDRINUSE
    for port in (65536, -5):
        with pytest.raises(ListenError, match=rf"^cannot listen on 127\.0\.0\.1:{port}: the port must be"):
            LocalServer(port=port, db=str(db))
    assert list(tmp_path.iterdir()) == []


def test_database_errors_name_the_file(tmp_path: Path) -> None:
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("some notes, not SQLite\n" * 100)
    with pytest.raises(sqlite3.DatabaseError, match=f"^database {re.escape(str(not_a_database))}: "):
        LocalServer(db=str(not_a_database))
    db = tmp_path / "local.db"
    with LocalServer(db=str(db)) as srv:
        session_id = open_session(srv)
        # Another program breaks the database under the running server.
        with contextlib.closing(sqlite3.connect(db)) as other:
            other.execute("DROP TABLE events")
        resp = post_event(srv, decision(session_id))
        assert resp.status_code == 500 and f"database {db}: no such table: events" in resp.json()["error"]


def test_fault_injection(local_server: LocalServer) -> None:
    url = f"{local_server.url}/api/sdk/sessions"
    local_server.inject_faults(status=503, count=2, headers={"Retry-After": "1"})
    for _ in range(2):
        resp = requests.post(url, json=BEGIN)
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "1" and resp.json()["error"]
    assert requests.post(url, json=BEGIN).status_code == 200
    assert len(local_server.sessions()) == 1
    assert [r["json"] for r in local_server.requests] == [BEGIN] * 3

    local_server.inject_faults(status=200, count=1, body=b"not json{")
    assert requests.get(url).content == b"not json{"

    local_server.inject_faults(status=429, count=None, paths=["/api/sdk/events"])
    assert requests.post(url, json=BEGIN).status_code == 200
    assert post_event(local_server, decision("x")).status_code == 429
    assert post_event(local_server, decision("x")).status_code == 429
    local_server.clear_faults()
    assert post_event(local_server, decision("x")).status_code == 404


def test_request_log(local_server: LocalServer) -> None:
    requests.post(f"{local_server.url}/api/sdk/sessions?x=1", json=BEGIN, headers={"X-Test": "yes"})
    requests.get(f"{local_server.url}/api/sdk/pii-config")
    first, second = local_server.requests
    assert (first["method"], first["path"], first["json"]) == ("POST", "/api/sdk/sessions?x=1", BEGIN)
    assert first["headers"]["X-Test"] == "yes"
    assert (second["method"], second["json"]) == ("GET", None)


def test_delay() -> None:
    with LocalServer(delay_ms=150) as srv:
        start = time.monotonic()
        assert requests.get(f"{srv.url}/api/sdk/pii-config").status_code == 200
        assert time.monotonic() - start >= 0.15
        srv.set_delay(300)
        start = time.monotonic()
        requests.get(f"{srv.url}/api/sdk/pii-config")
        assert time.monotonic() - start >= 0.3


def test_concurrent_keep_alive_clients_are_all_stored(local_server: LocalServer) -> None:
    threads, per_thread = 16, 50
    barrier = threading.Barrier(threads)
    failures: list[str] = []

    def client(n: int) -> None:
        with requests.Session() as http:
            barrier.wait()
            session_id = http.post(
                f"{local_server.url}/api/sdk/sessions", json={**BEGIN, "id": f"s{n}"}
            ).json()["id"]
            for i in range(per_thread - 1):
                event = {**decision(session_id), "spanId": f"{i:016x}"}
                resp = http.post(f"{local_server.url}/api/sdk/events", json=event)
                if resp.status_code != 200:
                    failures.append(resp.text)

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    assert len(local_server.sessions()) == threads
    for n in range(threads):
        events = local_server.session(f"s{n}")["events"]  # type: ignore[index]
        assert [e["spanId"] for e in events] == [f"{i:016x}" for i in range(per_thread - 1)]
    assert len(local_server.requests) == threads * per_thread


def test_stop_closes_the_port_and_is_idempotent() -> None:
    srv = LocalServer().start()
    url = srv.url
    with requests.Session() as http:
        assert http.get(f"{url}/api/sdk/sessions").status_code == 200  # leaves an idle keep-alive open
        srv.stop()
        srv.stop()
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/api/sdk/sessions", timeout=2)
