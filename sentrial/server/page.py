"""The local server's HTML pages: the session list and one session with its events. No JavaScript."""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; }
th, td { border-bottom: 1px solid #ddd; padding: .3rem .7rem; text-align: left; vertical-align: top; }
pre { background: #f5f5f5; padding: .5rem; overflow-x: auto; margin: .2rem 0; }
.failed, .error { color: #b00020; }
.completed { color: #1b6e20; }
section { border-left: 3px solid #ccc; padding-left: 1rem; margin: 1.2rem 0; }
section.error { border-color: #b00020; }
input { font: inherit; padding: .2rem .4rem; }
"""
_NONE = "—"
# Event fields shown as pretty-printed JSON blocks, in this order; other fields go in the table.
_BLOCKS = ("toolInput", "toolOutput", "toolError", "metadata", "stateBefore", "stateAfter")
_SKIP = frozenset({"eventType", "toolName", "sessionId", *_BLOCKS})


def _document(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _text(value: Any) -> str:
    if value is None:
        return _NONE
    if isinstance(value, (dict, list)):
        return f"<pre>{_json(value)}</pre>"
    return escape(str(value))


def _json(value: Any) -> str:
    return escape(json.dumps(value, indent=2, ensure_ascii=False))


def _cost(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"${value:.4f}"
    return _text(value)


def _duration(value: Any) -> str:
    if value is None:
        return _NONE
    return f"{value} ms" if value < 1000 else f"{value / 1000:.2f} s"


def _session_href(session_id: str) -> str:
    return escape("/sessions/" + quote(session_id, safe=""))


def index(sessions: list[dict[str, Any]], event_counts: dict[str, int]) -> str:
    """The list of sessions, newest first, each linking to its own page."""
    head = "".join(
        f"<th>{h}</th>"
        for h in ("Name", "Agent", "User", "Status", "Cost", "Tokens", "Duration", "Events", "Created")
    )
    rows = []
    for s in reversed(sessions):
        status = escape(s["status"])
        rows.append(
            f'<tr><td><a href="{_session_href(s["id"])}">{escape(s["name"])}</a></td>'
            f"<td>{escape(s['agentName'])}</td><td>{escape(s['userId'])}</td>"
            f'<td class="{status}">{status}</td><td>{_cost(s["estimatedCost"])}</td>'
            f"<td>{_text(s['totalTokens'])}</td><td>{_duration(s['durationMs'])}</td>"
            f"<td>{event_counts.get(s['id'], 0)}</td><td>{escape(s['createdAt'])}</td></tr>"
        )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    if not rows:
        table = "<p>No sessions yet.</p>"
    return _document("Sentrial sessions", f"<h1>Sessions ({len(sessions)})</h1>\n{table}")


def _event(number: int, event: dict[str, Any]) -> str:
    kind = str(event.get("eventType"))
    title = f"#{number} {kind}"
    if event.get("toolName") is not None:
        title += f" {event['toolName']}"
    rows = "".join(
        f"<tr><th>{escape(key)}</th><td>{_cost(value) if key == 'estimatedCost' else _text(value)}</td></tr>"
        for key, value in event.items()
        if key not in _SKIP
    )
    blocks = "".join(
        f"<h4>{key}</h4><pre>{_json(event[key])}</pre>" for key in _BLOCKS if event.get(key) not in (None, {})
    )
    css = ' class="error"' if kind == "error" or event.get("toolError") else ""
    return f"<section{css}><h3>{escape(title)}</h3><table>{rows}</table>{blocks}</section>"


def session(data: dict[str, Any]) -> str:
    """One session: its fields, then its events in arrival order."""
    events = data.get("events", [])
    fields = "".join(
        f"<tr><th>{escape(key)}</th><td>{_cost(value) if key == 'estimatedCost' else _text(value)}</td></tr>"
        for key, value in data.items()
        if key != "events"
    )
    body = (
        f'<p><a href="/">&larr; all sessions</a></p><h1>{escape(data["name"])}</h1>'
        f"<table>{fields}</table><h2>Events ({len(events)})</h2>"
        + ("".join(_event(i, e) for i, e in enumerate(events, 1)) or "<p>No events.</p>")
    )
    return _document(f"Session {data['name']}", body)


def not_found(session_id: str) -> str:
    """The page for a session id that does not exist."""
    body = f'<p><a href="/">&larr; all sessions</a></p><h1>No session {escape(session_id)}</h1>'
    return _document("Session not found", body)


def sign_in(field: str, wrong_key: bool) -> str:
    """The form that asks for the server's API key; it posts back to the page it stands in for."""
    warning = '<p class="error">That is not the key this server was started with.</p>' if wrong_key else ""
    body = (
        "<h1>Sentrial local server</h1>"
        "<p>This server was started with an API key (<code>--api-key</code>): enter it to see the"
        " sessions. The browser keeps you signed in until it closes.</p>"
        f'{warning}<form method="post"><label>API key '
        f'<input type="password" name="{escape(field)}" autocomplete="current-password" required autofocus>'
        "</label> <button>Sign in</button></form>"
    )
    return _document("Sign in", body)
