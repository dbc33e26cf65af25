"""The local server's pages in a real headless chromium: the list after the demo's agents and nested
sessions ran (totals, filters, search, live rows), a session's tree and detail pane, and escaping."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from browser import browser_context, chromium_path
from fake_openai import FakeOpenAI

from sentrial.server import LocalServer, page

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page

SCENARIO = Path(__file__).resolve().parent / "page_scenario.py"
DOCS = Path(__file__).resolve().parent.parent / "docs"
WAIT_MS = 10_000  # the deadline of every wait on the page


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    chromium_path()  # skip before any work when there is no browser
    with LocalServer() as srv, FakeOpenAI() as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRIAL_", "OTEL_"))}
        env.update(SENTRIAL_API_URL=srv.url, FAKE_OPENAI_URL=fake.url)
        done = subprocess.run(
            [sys.executable, str(SCENARIO)], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        yield srv


@pytest.fixture(scope="module")
def context() -> Iterator[BrowserContext]:
    with browser_context() as ctx:
        yield ctx


@pytest.fixture
def tab(context: BrowserContext) -> Iterator[Page]:
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    yield opened
    opened.close()


def by_name(server: LocalServer, name: str) -> dict[str, Any]:
    return next(s for s in server.sessions() if s["name"] == name or s["agentName"] == name)


def labelled(names: Locator, values: Locator) -> dict[str, str]:
    """The label → value pairs of a list of names and their values."""
    return dict(zip(names.all_inner_texts(), values.all_inner_texts(), strict=True))


def row_names(tab: Page) -> list[str]:
    return tab.locator("#rows tr[data-session] td:nth-child(2) > a:first-child").all_inner_texts()


def test_the_list_shows_every_session_with_the_right_totals(server: LocalServer, tab: Page) -> None:
    sessions = server.sessions()
    tab.goto(server.url + "/")
    assert len(row_names(tab)) == len(sessions) == 6
    totals = labelled(tab.locator(".total .name"), tab.locator(".total .value"))
    cost = sum(s["estimatedCost"] or 0 for s in sessions)
    assert totals == {
        "Sessions": "6",
        "Failed": "1",
        "Failure rate": "16.7%",
        "Cost": page.cost(cost),
        "Tokens": f"{sum(s['totalTokens'] or 0 for s in sessions):,}",
    }
    # A cost below a cent keeps its digits
    hotel = tab.locator("#rows tr", has_text="Book the hotel")
    assert "$0.00045" in hotel.inner_text()
    if os.environ.get("SENTRIAL_UPDATE_SCREENSHOTS"):
        tab.screenshot(path=str(DOCS / "page-sessions.png"), full_page=True)


def test_filtering_by_status_and_searching_the_input_narrow_the_list(server: LocalServer, tab: Page) -> None:
    tab.goto(server.url + "/")
    tab.select_option("select[name=status]", "failed")
    tab.click("form.filters button[type=submit]")
    # A predicate, not a glob: an older Playwright's (.ci/lowest) globs do not match this query.
    tab.wait_for_url(lambda url: "status=failed" in url)
    assert len(row_names(tab)) == 1 and "Can I pay in seashells?" in tab.inner_text("#rows")
    tab.goto(server.url + "/")
    tab.fill("input[name=q]", "three nights in lisbon")
    tab.press("input[name=q]", "Enter")
    tab.wait_for_url(lambda url: "q=three" in url)
    assert len(row_names(tab)) == 1 and tab.inner_text(".total[data-total=Sessions] .value") == "1"


def test_a_session_started_after_the_page_opened_appears_without_a_reload(
    server: LocalServer, tab: Page
) -> None:
    tab.goto(server.url + "/")
    tab.wait_for_selector("#live-state.on")  # the page has polled once
    tab.evaluate("window.notReloaded = true")
    body = {"id": "late-arrival", "name": "Late arrival", "agentName": "latecomer", "userId": "u-late"}
    assert requests.post(f"{server.url}/api/sdk/sessions", json=body, timeout=5).ok
    tab.wait_for_selector("#rows tr[data-session=late-arrival]")
    assert tab.evaluate("window.notReloaded") is True
    assert tab.inner_text(".total[data-total=Sessions] .value") == "7"


def tree_rows(tab: Page) -> list[tuple[int, str, str, str]]:
    """(depth, kind, title, duration) of each row of the session's tree, top to bottom."""
    rows = tab.locator("table.tree tr.node")
    return [
        (
            int(rows.nth(i).get_attribute("data-depth") or 0),
            rows.nth(i).get_attribute("data-kind") or "",
            rows.nth(i).locator(".title").inner_text(),
            rows.nth(i).locator("td.dur").inner_text(),
        )
        for i in range(rows.count())
    ]


def test_the_tree_nests_sub_sessions_and_tools_in_start_order(server: LocalServer, tab: Page) -> None:
    trip = by_name(server, "trip_planner")
    tab.goto(f"{server.url}/sessions/{trip['id']}")
    rows = tree_rows(tab)
    assert [(depth, kind, title) for depth, kind, title, _ in rows] == [
        (0, "session", trip["name"]),
        (1, "tool", "plan_trip"),  # started first, ended last
        (2, "tool", "check_availability"),
        (1, "session", "Book the hotel"),
        (2, "tool", "reserve_room"),
    ]
    assert all(
        duration.endswith(" ms") for _, kind, _, duration in rows if kind == "tool" and _ != "reserve_room"
    )
    assert tab.locator("table.tree svg.bar rect").count() == len(rows)  # the waterfall
    # The header links the sub-session and the conversation
    assert tab.locator("header a", has_text="Book the hotel").count() == 1
    assert tab.locator("header a", has_text="trip-42").count() == 1
    # The conversation: both sessions of trip-42, each turn's input and output
    tab.locator("header a", has_text="trip-42").click()
    tab.wait_for_url("**/conversations/trip-42")
    assert tab.locator("section.turn").count() == 2
    assert tab.locator(".msg.user .content").first.inner_text() == "Plan three nights in Lisbon"


def test_selecting_an_llm_call_shows_the_conversation_and_its_latency(server: LocalServer, tab: Page) -> None:
    research = by_name(server, "research_agent")
    tab.goto(f"{server.url}/sessions/{research['id']}")
    assert [(d, k) for d, k, _, _ in tree_rows(tab)] == [(0, "session"), (1, "tool"), (2, "llm")]
    tab.locator("tr.node[data-kind=llm]").click()
    pane = tab.locator("section.detail:not([hidden])")
    assert (
        pane.locator(".msg.system .content").inner_text() == "You summarise research notes in one sentence."
    )
    assert pane.locator(".msg.user .content").inner_text() == "Summarise what we know about tide tables."
    assert pane.locator(".msg.assistant .content").inner_text() == "Hello there!"
    facts = labelled(pane.locator("dl.facts dt"), pane.locator("dl.facts dd"))
    assert facts["Model"] == "gpt-4o-mini" and facts["Latency"].endswith(("ms", " s"))
    assert (facts["Prompt tokens"], facts["Completion tokens"]) == ("12", "5")
    assert facts["Finish reason"] == "stop"
    assert "temperature" in pane.locator("section.block", has_text="Parameters").inner_text()
    assert tab.locator("section.detail:not([hidden])").count() == 1
    if os.environ.get("SENTRIAL_UPDATE_SCREENSHOTS"):
        tab.screenshot(path=str(DOCS / "page-session.png"), full_page=True)


def test_a_page_with_script_in_every_field_runs_no_script(server: LocalServer, tab: Page) -> None:
    evil = '<script>window.ran = 1</script><img src=x onerror="window.ran = 2">'
    session = {
        "id": "evil" + evil,
        "name": evil,
        "agentName": evil,
        "userId": evil,
        "convoId": evil,
        "metadata": {evil: evil, "input": evil},
    }
    assert requests.post(f"{server.url}/api/sdk/sessions", json=session, timeout=5).ok
    sid = session["id"]
    base = {
        "sessionId": sid,
        "stateBefore": {evil: evil},
        "stateAfter": {"x": evil},
        "metadata": {evil: evil},
    }
    events = [
        {
            **base,
            "eventType": "tool_call",
            "toolName": evil,
            "toolInput": {evil: [evil]},
            "toolOutput": {"o": evil},
            "reasoning": evil,
            "toolError": {"message": evil, "type": evil},
        },
        {
            **base,
            "eventType": "tool_call",
            "toolName": "llm:" + evil + ":" + evil,
            "toolInput": {
                "messages": [
                    {"role": evil, "content": evil, "tool_calls": [{"name": evil, "arguments": evil}]}
                ],
                "model": evil,
                evil: evil,
            },
            "toolOutput": {"content": evil, "finish_reason": evil},
        },
        {**base, "eventType": "llm_decision", "reasoning": evil, "alternativesConsidered": [evil]},
        {
            **base,
            "eventType": "error",
            "toolError": {"message": evil, "type": evil, "stack_trace": evil},
            "toolName": evil,
        },
    ]
    for event in events:
        assert requests.post(f"{server.url}/api/sdk/events", json=event, timeout=5).ok
    finish = {
        "status": "failed",
        "success": False,
        "failureReason": evil,
        "userInput": evil,
        "assistantOutput": evil,
    }
    from urllib.parse import quote

    assert requests.patch(f"{server.url}/api/sdk/sessions/{quote(sid, safe='')}", json=finish, timeout=5).ok
    dialogs: list[str] = []
    tab.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for path in (
        "/",
        f"/?q={quote(evil)}",
        f"/sessions/{quote(sid, safe='')}",
        f"/conversations/{quote(evil, safe='')}",
    ):
        tab.goto(server.url + path)
        tab.wait_for_load_state("load")
        for row in tab.locator("tr.node").all():
            row.click()
        assert tab.evaluate("window.ran") is None, path
        assert evil in tab.inner_text("body"), path  # shown as text
    assert dialogs == []


def test_a_running_session_s_page_shows_a_new_event_and_its_completion_without_a_reload(
    server: LocalServer, tab: Page
) -> None:
    opened = {"id": "still-running", "name": "Still running", "agentName": "watcher", "userId": "u-watch"}
    assert requests.post(f"{server.url}/api/sdk/sessions", json=opened, timeout=5).ok
    tab.goto(f"{server.url}/sessions/still-running")
    tab.wait_for_selector("#live-state.on")  # the page has polled once
    tab.evaluate("window.notReloaded = true")
    assert tab.inner_text("#session-head .badge") == "active"
    step = {
        "sessionId": "still-running",
        "eventType": "tool_call",
        "toolName": "fetch_forecast",
        "toolInput": {"city": "Porto"},
        "toolOutput": {"rain": "light"},
        "stateBefore": {},
        "stateAfter": {},
    }
    assert requests.post(f"{server.url}/api/sdk/events", json=step, timeout=5).ok
    tab.locator("tr.node", has_text="fetch_forecast").click()  # waits for it to appear
    assert "Porto" in tab.inner_text("section.detail:not([hidden])")
    finish = {
        "status": "completed",
        "success": True,
        "assistantOutput": "Bring an umbrella",
        "durationMs": 2500,
    }
    assert requests.patch(f"{server.url}/api/sdk/sessions/still-running", json=finish, timeout=5).ok
    tab.wait_for_selector("#session-head .badge.completed")
    assert "2.50 s" in tab.inner_text("#session-head")
    # The reader's selection survived the update; the session's own pane has its output
    assert tab.locator("tr.node[aria-selected=true] .title").inner_text() == "fetch_forecast"
    tab.locator("tr.node[data-kind=session]").click()
    assert "Bring an umbrella" in tab.inner_text("section.detail:not([hidden])")
    tab.wait_for_selector("#live-state:not(.on)", state="attached")  # polling stopped: nothing will change
    assert tab.evaluate("window.notReloaded") is True
