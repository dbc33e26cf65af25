"""What the local server's HTML pages share: the document around them, and how values are shown (costs
to the precision small ones need, durations, times, human labels). Every value is escaped here or by
the caller: nothing a client sent is ever written into a page as markup."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from sentrial.server import assets

NONE = "—"
# How often a page that updates itself (the list, a running session) asks what changed, in ms.
POLL_MS = 1500
# Labels of the API's field names where splitting the name would not say it well.
_LABELS = {
    "agentName": "Agent",
    "userId": "User",
    "convoId": "Conversation",
    "parentSessionId": "Parent session",
    "estimatedCost": "Cost",
    "durationMs": "Duration",
    "duration_ms": "Duration",
    "totalTokens": "Tokens",
    "tokenCount": "Tokens",
    "userInput": "Input",
    "assistantOutput": "Output",
    "failureReason": "Failure reason",
    "createdAt": "Started",
    "completedAt": "Completed",
    "customMetrics": "Custom metrics",
    "stateBefore": "State before",
    "stateAfter": "State after",
    "toolInput": "Input",
    "toolOutput": "Output",
    "toolError": "Error",
    "alternativesConsidered": "Alternatives considered",
    "stack_trace": "Stack trace",
    "receivedAt": "Received",
    "started_at": "Started",
    "parent_span_id": "Parent span",
    "spanId": "Span",
    "traceId": "Trace",
}
_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def document(title: str, body: str, scripted: bool = True) -> str:
    """A whole page: ``body`` (markup, already escaped) with the pages' style sheet and script."""
    script = f'<script src="{assets.url("page.js")}" defer></script>' if scripted else ""
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>"
        f'<link rel="stylesheet" href="{assets.url("page.css")}">{script}</head>\n'
        f"<body>\n{body}\n</body></html>\n"
    )


def label(key: str) -> str:
    """A field name as people say it: ``agentName`` → "Agent", ``finish_reason`` → "Finish reason"."""
    if key in _LABELS:
        return _LABELS[key]
    words = _WORD.findall(key) or [key]
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return text[:1].upper() + text[1:]


def text(value: Any) -> str:
    """A scalar value as escaped text: Yes/No for booleans, a dash for nothing."""
    if value is None or value == "":
        return NONE
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, (dict, list)):
        return escape(json.dumps(value, ensure_ascii=False))
    return escape(str(value))


def pretty_json(value: Any) -> str:
    """``value`` as indented JSON, escaped."""
    return escape(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def mapping(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (a field sent with another type)."""
    return value if isinstance(value, dict) else {}


def is_number(value: Any) -> bool:
    """True for an int or float that is not a bool and is finite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def cost(value: Any) -> str:
    """US dollars with the digits a small cost needs: $0.00045, $0.023, $1.50, $1,234.57."""
    if not is_number(value):
        return NONE
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    places = min(10, max(2, 2 - math.floor(math.log10(abs(value)))))
    digits = f"{value:.{places}f}".rstrip("0")
    whole, _, fraction = digits.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def duration(ms: Any) -> str:
    """Milliseconds as people read them: 0.42 ms, 12 ms, 1.25 s, 3 min 5 s."""
    if not is_number(ms):
        return NONE
    if ms < 10:
        return f"{ms:.2f}".rstrip("0").rstrip(".") + " ms"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds} s"


def tokens(value: Any) -> str:
    """A token count with thousands separators."""
    return f"{value:,}" if is_number(value) else NONE


def percent(value: Any) -> str:
    """A fraction as a percentage with one decimal."""
    return f"{value * 100:.1f}%" if is_number(value) else NONE


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time (as the server and the exporter write them), None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def time(value: Any) -> str:
    """A stored time as UTC to the second, in a ``<time>`` element."""
    parsed = parse_time(value)
    if parsed is None:
        return text(value)
    shown = parsed.strftime("%Y-%m-%d %H:%M:%S")
    return f'<time datetime="{escape(str(value))}">{shown}</time>'


def badge(status: Any) -> str:
    """A session's status as a coloured badge."""
    name = str(status)
    css = name if name in ("active", "completed", "failed") else "other"
    return f'<span class="badge {css}">{escape(name)}</span>'


def session_href(session_id: str) -> str:
    """The escaped link to a session's page."""
    return escape("/sessions/" + quote(session_id, safe=""))


def conversation_href(convo_id: str) -> str:
    """The escaped link to a conversation's page."""
    return escape("/conversations/" + quote(convo_id, safe=""))


def preview(value: Any, limit: int = 120) -> str:
    """The start of a text, escaped, on one line."""
    if value is None:
        return ""
    flat = " ".join(str(value).split())
    return escape(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def message_page(title: str, message: str) -> str:
    """A page that says one thing, with the way back to the list."""
    body = f'<p><a href="/">&larr; All sessions</a></p><h1>{escape(title)}</h1><p>{escape(message)}</p>'
    return document(title, body, scripted=False)


def not_found(session_id: str) -> str:
    """The page for a session id that does not exist."""
    return message_page("Session not found", f"There is no session {session_id}.")


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
    return document("Sign in", body, scripted=False)
