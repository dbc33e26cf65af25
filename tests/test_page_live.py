"""A running session's page keeps itself up to date over real HTTP: ``GET /live/sessions/{id}`` answers
the page's version, and the parts that changed only when the page's version is not the current one
(an event, a sub-session, a completion anywhere in the tree); a finished session's page does not ask."""

from __future__ import annotations

import html
import re
from typing import Any

import requests
from test_server_queries import event, open_and_finish

from sentrial.server import LocalServer


def live(srv: LocalServer, sid: str, version: str | None = None) -> dict[str, Any]:
    query = {} if version is None else {"version": version}
    answer = requests.get(f"{srv.url}/live/sessions/{sid}", params=query, timeout=5)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    result: dict[str, Any] = answer.json()
    return result


def post_event(srv: LocalServer, sid: str, span: str, name: str) -> None:
    body = event(sid, span, None, "2000-01-01T00:00:00.000000Z", name)
    assert requests.post(f"{srv.url}/api/sdk/events", json=body, timeout=5).ok


def titles(markup: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'<span class="title">(.*?)</span>', markup)]


def test_the_live_answer_holds_parts_only_when_something_changed(local_server: LocalServer) -> None:
    open_and_finish(local_server, "run", None)
    first = live(local_server, "run")
    assert first["active"] is True and titles(first["tree"]) == ["name run"]
    same = live(local_server, "run", first["version"])
    assert same == {"version": first["version"], "active": True}  # nothing changed: nothing rendered

    post_event(local_server, "run", "a" * 16, "search_kb")
    grown = live(local_server, "run", first["version"])
    assert grown["version"] != first["version"] and titles(grown["tree"]) == ["name run", "search_kb"]
    assert "<dd>1</dd>" in grown["head"]  # the event count in the header
    keys = [key for key, _, _ in grown["details"]]
    assert keys[0] == "s-run" and keys[1].startswith("e-")
    assert all(f'data-digest="{digest}"' in pane for _, digest, pane in grown["details"])
    post_event(local_server, "run", "b" * 16, "send_email")
    more = live(local_server, "run", grown["version"])
    # A pane that did not change keeps its digest (the page leaves it as the reader left it)
    assert more["details"][1] == grown["details"][1] and more["details"][0] != grown["details"][0]

    finish = {"status": "completed", "success": True, "assistantOutput": "all done", "durationMs": 1234}
    assert requests.patch(f"{local_server.url}/api/sdk/sessions/run", json=finish, timeout=5).ok
    done = live(local_server, "run", more["version"])
    assert done["active"] is False and 'class="badge completed"' in done["head"]
    assert "1.23 s" in done["head"] and "all done" in done["details"][0][2]


def test_a_sub_session_and_its_completion_change_the_parent_s_version(local_server: LocalServer) -> None:
    open_and_finish(local_server, "parent", {"status": "completed", "success": True})
    before = live(local_server, "parent")
    assert before["active"] is False
    open_and_finish(local_server, "child", None, parentSessionId="parent")
    opened = live(local_server, "parent", before["version"])
    assert opened["active"] is True  # the page follows its running sub-session
    assert titles(opened["tree"]) == ["name parent", "name child"]
    post_event(local_server, "child", "b" * 16, "inner_tool")
    assert "inner_tool" in titles(live(local_server, "parent", opened["version"])["tree"])
    current = live(local_server, "parent")["version"]
    finish = {"status": "completed", "success": True}
    assert requests.patch(f"{local_server.url}/api/sdk/sessions/child", json=finish, timeout=5).ok
    ended = live(local_server, "parent", current)
    assert ended["version"] != current and ended["active"] is False


def test_only_a_running_session_s_page_asks_for_updates(local_server: LocalServer) -> None:
    open_and_finish(local_server, "busy", None)
    open_and_finish(local_server, "over", {"status": "failed", "success": False})
    busy = requests.get(f"{local_server.url}/sessions/busy", timeout=5).text
    version = live(local_server, "busy")["version"]
    assert 'data-live="/live/sessions/busy"' in busy and f'data-version="{html.escape(version)}"' in busy
    over = requests.get(f"{local_server.url}/sessions/over", timeout=5).text
    assert "data-live" not in over and 'id="tree-pane"' in over


def test_an_unknown_session_is_404_and_an_odd_id_is_quoted(local_server: LocalServer) -> None:
    answer = requests.get(f"{local_server.url}/live/sessions/nope", timeout=5)
    assert answer.status_code == 404 and "nope" in answer.json()["error"]
    open_and_finish(local_server, 'a/b "c"', None)
    page = requests.get(f"{local_server.url}/sessions/a%2Fb%20%22c%22", timeout=5).text
    assert 'data-live="/live/sessions/a%2Fb%20%22c%22"' in page
    assert live(local_server, "a%2Fb%20%22c%22")["active"] is True
