"""``sentrial demo``: a small support agent tracked against the embedded local server.

No account and no network: the server runs in this process on 127.0.0.1, the agent's calls go
through the real SDK and exporter over HTTP, and what the server received is printed as a tree.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
import time
from typing import Any, TextIO

import sentrial
from sentrial import SentrialClient, tool
from sentrial._config import disabled
from sentrial.server import LocalServer, page

KNOWLEDGE_BASE = {
    "password": ["KB-001: Reset your password from the login page", "KB-002: Password rules"],
    "billing": ["KB-104: Where to find your invoices"],
}


def _search(query: str) -> list[str]:
    return [doc for topic, docs in KNOWLEDGE_BASE.items() if topic in query.lower() for doc in docs]


def run_support_agent(user_id: str, question: str) -> str:
    """One turn of the demo agent: search, decide, answer; tracked on the default client."""
    with sentrial.begin(user_id=user_id, event="support_request", input=question) as interaction:
        results = _search(question)
        interaction.track_tool_call(
            tool_name="search_knowledge_base",
            tool_input={"query": question},
            tool_output={"results": results},
            reasoning="Look for a help article first",
            estimated_cost=0.0004,
            token_count=120,
        )
        if not results:
            interaction.track_decision(
                reasoning="Nothing in the knowledge base; escalate",
                alternatives=["escalate_to_human", "ask_clarifying_question"],
                confidence=0.71,
                estimated_cost=0.0011,
            )
            interaction.track_error(
                error_message="No article matches the question", error_type="NotFound", tool_name="search"
            )
            raise LookupError("no answer for this question")
        interaction.track_decision(
            reasoning="An article answers it; reply with the link",
            alternatives=["escalate_to_human"],
            confidence=0.93,
            estimated_cost=0.0009,
        )
        answer = f"See {results[0]}"
        interaction.set_output(answer)
    return answer


def run_manual_session(client: SentrialClient) -> None:
    """The same kind of work through the explicit SentrialClient API."""
    session_id = client.create_session(name="Nightly ticket triage", agent_name="triage-bot", user_id="ops")
    for ticket in ("T-17", "T-18"):
        client.track_tool_call(
            session_id=session_id,
            tool_name="classify_ticket",
            tool_input={"ticket": ticket},
            tool_output={"label": "billing" if ticket == "T-17" else "login"},
            estimated_cost=0.0002,
        )
    client.complete_session(session_id=session_id, success=True, assistant_output="2 tickets labelled")


@tool("check_availability")
def _check_availability(city: str, nights: int) -> dict[str, Any]:
    return {"city": city, "nights": nights, "rooms": 3}


@tool("plan_trip")
def _plan_trip(city: str, nights: int) -> dict[str, Any]:
    # A tool that calls another: the page shows the inner call under the outer one.
    rooms = _check_availability(city, nights)
    return {"itinerary": f"{nights} nights in {city}", "rooms": rooms["rooms"]}


def run_trip_planner(client: SentrialClient, user_id: str, question: str) -> str:
    """A session with a tool that calls another tool and a sub-session for the hotel booking."""
    with sentrial.begin(user_id=user_id, event="trip_planner", input=question, convo_id="trip-42") as trip:
        plan = _plan_trip("Lisbon", 3)
        hotel = client.create_session(
            name="Book the hotel",
            agent_name="booking-agent",
            user_id=user_id,
            parent_session_id=trip.session_id,
            convo_id="trip-42",
        )
        if hotel is not None:
            client.track_tool_call(
                session_id=hotel,
                tool_name="reserve_room",
                tool_input={"city": "Lisbon", "nights": 3},
                tool_output={"confirmation": "LIS-3N-0042"},
                estimated_cost=0.00045,
                token_count=90,
            )
            client.complete_session(session_id=hotel, success=True, assistant_output="Room reserved")
        answer = f"Planned {plan['itinerary']}; room reserved"
        trip.set_output(answer)
    return answer


def print_tree(server: LocalServer, out: TextIO = sys.stdout) -> None:
    """Print every session the server holds, sub-sessions under their parents, events in order."""
    sessions = server.sessions()
    children: dict[str | None, list[dict[str, Any]]] = {}
    known = {s["id"] for s in sessions}
    for session in sessions:
        parent = session.get("parentSessionId")
        children.setdefault(parent if parent in known else None, []).append(session)

    def show(session: dict[str, Any], indent: str) -> None:
        full = server.session(session["id"]) or session
        mark = {"completed": "ok", "failed": "FAILED"}.get(str(full.get("status")), str(full.get("status")))
        cost = full.get("estimatedCost")
        out.write(
            f"{indent}* {full['name']}  [{mark}]  agent={full['agentName']} user={full['userId']}"
            f"  cost={page.cost(cost) if cost is not None else '-'}"
            f"  tokens={full.get('totalTokens') or 0}  duration={full.get('durationMs', '-')} ms\n"
        )
        if full.get("failureReason"):
            out.write(f"{indent}    reason: {full['failureReason']}\n")
        if full.get("assistantOutput"):
            out.write(f"{indent}    output: {full['assistantOutput']}\n")
        for event in full.get("events", []):
            out.write(f"{indent}    - {_describe(event)}\n")
        for child in children.get(session["id"], []):
            show(child, indent + "    ")

    for root in children.get(None, []):
        show(root, "")


def _describe(event: dict[str, Any]) -> str:
    kind = event.get("eventType")
    if kind == "tool_call":
        text = (
            f"tool_call {event.get('toolName')} {json.dumps(event.get('toolInput'))}"
            f" -> {json.dumps(event.get('toolOutput'))}"
        )
    elif kind == "llm_decision":
        text = f'decision "{event.get("reasoning")}" (confidence {event.get("confidence")})'
    else:
        error = event.get("toolError") or {}
        text = f"error {error.get('type', '')}: {error.get('message')}"
    cost = event.get("estimatedCost")
    return text + (f"  {page.cost(cost)}" if cost else "")


def _how_to_browse(serve: bool, db: str, url: str) -> str:
    if serve:
        return f"Browse it at {url}/ (serving; press Ctrl-C to stop)."
    if db not in ("", ":memory:"):  # SQLite's names for a database that ends with its connection
        return f"It is kept in {db}; to browse it, run `sentrial serve --db {shlex.quote(db)}`."
    return (
        "The server has stopped. To browse what it received, run `sentrial demo --serve`,"
        " or `sentrial demo --db FILE` and then `sentrial serve --db FILE`."
    )


def main(serve: bool = False, port: int = 0, db: str = ":memory:") -> int:
    """Run the demo with the server on ``port`` keeping its data in ``db``; with ``serve`` keep the
    server (and its page) up until Ctrl-C. Raises ListenError when the server cannot listen on
    ``port``, sqlite3.Error when it cannot use ``db``."""
    if disabled():
        print(
            "sentrial demo: the SDK is disabled (SENTRIAL_DISABLED or OTEL_SDK_DISABLED is true), so the"
            " demo would record nothing; unset it to run the demo",
            file=sys.stderr,
        )
        return 1
    server = LocalServer(port=port, db=db).start()
    try:
        print("Running a small support agent against the embedded local server...", flush=True)
        sentrial.configure(api_key="demo-key-local", api_url=server.url)
        run_support_agent("user_12345", "How do I reset my password?")
        delivered = sentrial.flush(timeout=10)  # only so that the tree shows the sessions in order
        with contextlib.suppress(LookupError):  # recorded as a failed interaction; the demo goes on
            run_support_agent("user_777", "Can I pay in seashells?")
        delivered = sentrial.flush(timeout=10) and delivered
        client = SentrialClient(api_key="demo-key-local", api_url=server.url)
        run_manual_session(client)
        run_trip_planner(client, "user_12345", "Plan three nights in Lisbon")
        delivered = sentrial.flush(timeout=10) and client.flush(timeout=10) and delivered
        client.shutdown()
        print(f"What the local Sessions API server at {server.url} received:\n")
        print_tree(server)
        print(f"\nAll delivered: {'yes' if delivered else 'NO'}")
        print(_how_to_browse(serve, db, server.url), flush=True)
        while serve:  # until Ctrl-C, which the command line reports
            time.sleep(3600)
        return 0 if delivered else 1
    finally:
        sentrial.shutdown(timeout=5)
        server.stop()
