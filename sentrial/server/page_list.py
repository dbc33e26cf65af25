"""The sessions list page (filters, search, sort, totals, pages, live updates) and the conversation page."""

from __future__ import annotations

from dataclasses import replace
from html import escape
from typing import Any
from urllib.parse import urlencode

from sentrial.server import page
from sentrial.server.queries import SORTS, STATUSES, ListQuery

PAGE_SIZE = 50
_COLUMNS = ("Status", "Session", "Agent", "User", "Started", "Duration", "Cost", "Tokens", "Events")


def query_params(query: ListQuery) -> dict[str, str]:
    """The URL parameters that ask for ``query`` (those at their default left out)."""
    params = {
        "status": query.status,
        "agent": query.agent,
        "user": query.user,
        "since": query.since,
        "until": query.until,
        "q": query.text,
        "convo": query.convo,
        "sort": None if query.sort == "created" else query.sort,
        "order": None if query.descending else "asc",
        "limit": None if query.limit in (None, PAGE_SIZE) else str(query.limit),
        "offset": str(query.offset) if query.offset else None,
    }
    return {key: value for key, value in params.items() if value is not None}


def _href(path: str, query: ListQuery) -> str:
    params = urlencode(query_params(query))
    return escape(path + ("?" + params if params else ""))


def _row(session: dict[str, Any]) -> str:
    sid = session["id"]
    name = f'<a href="{page.session_href(sid)}">{escape(session["name"])}</a>'
    if session.get("parentSessionId"):
        name += (
            f' <a class="sub" href="{page.session_href(session["parentSessionId"])}"'
            ' title="The session this one is a sub-session of">↑ parent</a>'
        )
    if session.get("convoId"):
        name += (
            f' <a class="sub" href="{page.conversation_href(session["convoId"])}"'
            ' title="Every session of this conversation">conversation</a>'
        )
    metadata = page.mapping(session.get("metadata"))
    given = session.get("userInput") or metadata.get("input")
    said = page.preview(given)
    answered = page.preview(session.get("assistantOutput") or session.get("failureReason"))
    lines = ""
    if said:
        lines += f'<div class="preview"><span class="who">In</span> {said}</div>'
    if answered:
        lines += f'<div class="preview"><span class="who">Out</span> {answered}</div>'
    return (
        f'<tr data-session="{escape(sid)}"><td>{page.badge(session["status"])}</td>'
        f"<td>{name}{lines}</td><td>{escape(session['agentName'])}</td>"
        f"<td>{escape(session['userId'])}</td><td>{page.time(session['createdAt'])}</td>"
        f'<td class="num">{page.duration(session["durationMs"])}</td>'
        f'<td class="num">{page.cost(session["estimatedCost"])}</td>'
        f'<td class="num">{page.tokens(session["totalTokens"])}</td>'
        f'<td class="num">{session.get("eventCount", 0)}</td></tr>'
    )


def _rows(listed: dict[str, Any]) -> str:
    rows = "".join(_row(s) for s in listed["sessions"])
    empty = f'<tr><td colspan="{len(_COLUMNS)}" class="empty">No sessions match.</td></tr>'
    return rows or empty


def _totals(listed: dict[str, Any]) -> str:
    totals = listed["totals"]
    facts = (
        ("Sessions", f"{totals['sessions']:,}"),
        ("Failed", f"{totals['failed']:,}"),
        ("Failure rate", page.percent(totals["failureRate"])),
        ("Cost", page.cost(totals["estimatedCost"])),
        ("Tokens", page.tokens(totals["totalTokens"])),
    )
    return "".join(
        f'<div class="total" data-total="{escape(name)}"><span class="name">{name}</span>'
        f'<span class="value">{value}</span></div>'
        for name, value in facts
    )


def _pager(listed: dict[str, Any], query: ListQuery) -> str:
    total, shown = listed["total"], len(listed["sessions"])
    limit = query.limit or PAGE_SIZE
    where = f"{query.offset + 1:,}–{query.offset + shown:,} of {total:,}" if shown else f"0 of {total:,}"
    links = []
    if query.offset > 0:
        back = replace(query, offset=max(0, query.offset - limit))
        links.append(f'<a rel="prev" href="{_href("/", back)}">&larr; Previous</a>')
    if listed["nextOffset"] is not None:
        ahead = replace(query, offset=listed["nextOffset"])
        links.append(f'<a rel="next" href="{_href("/", ahead)}">Next &rarr;</a>')
    return f'<span class="where">{where}</span> ' + " ".join(links)


def live_parts(listed: dict[str, Any], query: ListQuery) -> dict[str, str]:
    """The parts of the list that change as sessions arrive, as markup for the page's script."""
    return {"rows": _rows(listed), "totals": _totals(listed), "pager": _pager(listed, query)}


def _options(values: list[tuple[str, str]], chosen: str | None) -> str:
    chosen = chosen or ""
    return "".join(
        f'<option value="{escape(value)}"{" selected" if value == chosen else ""}>{escape(shown)}</option>'
        for value, shown in values
    )


def _filters(query: ListQuery, agents: list[str]) -> str:
    statuses = [("", "Any status"), *((s, s.capitalize()) for s in STATUSES)]
    agent_options = [("", "Any agent"), *((a, a) for a in agents)]
    sorts = [(key, {"created": "Start time"}.get(key, key.capitalize())) for key in SORTS]
    order = "desc" if query.descending else "asc"

    def field(name: str, value: str | None, placeholder: str, kind: str = "text") -> str:
        return (
            f'<input type="{kind}" name="{name}" value="{escape(value or "")}" placeholder="{placeholder}"'
            f' aria-label="{placeholder}">'
        )

    return (
        '<form class="filters" method="get" action="/">'
        f"{field('q', query.text, 'Search names, inputs, outputs', 'search')}"
        f'<select name="status" aria-label="Status">{_options(statuses, query.status)}</select>'
        f'<select name="agent" aria-label="Agent">{_options(agent_options, query.agent)}</select>'
        f"{field('user', query.user, 'User')}"
        f"<label>From {field('since', (query.since or '')[:16], 'From (UTC)', 'datetime-local')}</label>"
        f"<label>to {field('until', (query.until or '')[:16], 'To (UTC)', 'datetime-local')}</label>"
        f'<label>Sort <select name="sort">{_options(sorts, query.sort)}</select></label>'
        f'<select name="order" aria-label="Order">'
        f"{_options([('desc', 'Descending'), ('asc', 'Ascending')], order)}</select>"
        '<button type="submit">Apply</button> <a href="/">Clear</a></form>'
    )


def index(listed: dict[str, Any], query: ListQuery, agents: list[str]) -> str:
    """The list of sessions that ``query`` selects, one page of it, with totals over all it selects."""
    head = "".join(f"<th>{name}</th>" for name in _COLUMNS)
    live = escape("/live/sessions?" + urlencode(query_params(query)))
    body = (
        '<header class="top"><h1>Sessions</h1><span class="live" id="live-state"></span></header>'
        f"{_filters(query, agents)}"
        f'<div class="totals" id="totals">{_totals(listed)}</div>'
        f'<table class="sessions" data-live="{live}" data-poll-ms="{page.POLL_MS}">'
        f'<thead><tr>{head}</tr></thead><tbody id="rows">{_rows(listed)}</tbody></table>'
        f'<nav class="pager" id="pager">{_pager(listed, query)}</nav>'
    )
    return page.document("Sentrial sessions", body)


def conversation(convo_id: str, sessions: list[dict[str, Any]]) -> str:
    """The sessions of one conversation in order, each turn as its input and its output."""
    turns = []
    for session in sessions:
        metadata = page.mapping(session.get("metadata"))
        said = session.get("userInput") or metadata.get("input")
        answered = session.get("assistantOutput") or session.get("failureReason")
        bubbles = ""
        if said:
            bubbles += (
                f'<div class="msg user"><div class="role">{escape(session["userId"])}</div>'
                f'<div class="content">{escape(str(said))}</div></div>'
            )
        if answered:
            bubbles += (
                f'<div class="msg assistant"><div class="role">{escape(session["agentName"])}</div>'
                f'<div class="content">{escape(str(answered))}</div></div>'
            )
        turns.append(
            f'<section class="turn"><div class="turn-head">{page.badge(session["status"])} '
            f'<a href="{page.session_href(session["id"])}">{escape(session["name"])}</a> · '
            f"{page.time(session['createdAt'])} · {page.duration(session['durationMs'])} · "
            f"{page.cost(session['estimatedCost'])}</div>{bubbles}</section>"
        )
    content = "".join(turns) or "<p>No session belongs to this conversation.</p>"
    body = (
        f'<p><a href="/">&larr; All sessions</a></p><h1>Conversation {escape(convo_id)}</h1>'
        f"<p>{len(sessions)} session{'s' if len(sessions) != 1 else ''}, in the order they started.</p>"
        f'<div class="conversation">{content}</div>'
    )
    return page.document(f"Conversation {convo_id}", body)
