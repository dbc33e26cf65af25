"""A session's page: its header, a tree of its sub-sessions and of its events nested by parent span in
start order with a waterfall of their times, and a detail pane for the node selected in the tree."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from sentrial.server import page, page_detail

_KIND_NAMES = {"session": "Session", "llm": "LLM", "tool": "Tool", "decision": "Decision", "error": "Error"}
# Depths beyond this are drawn at this indentation (the tree still nests them).
_MAX_INDENT = 12
MAX_DEPTH = 100  # events nested deeper are shown at the top of their session
_BAR_SCALE = 1000  # the waterfall's width in SVG user units
_MIN_BAR = 4  # the narrowest bar, so that an instant still shows


@dataclass
class Node:
    """One row of the tree: a session or an event, with what it ran."""

    kind: str
    title: str
    data: dict[str, Any]
    start: datetime | None
    duration_ms: float | None
    failed: bool
    order: int
    children: list[Node] = field(default_factory=list)
    # What its bar covers (Unix seconds): its own time and that of all below it. A session's start is
    # when the server heard of it, which can be after its first events started (the client sends
    # them as they end, and opens sessions without waiting).
    first: float | None = None
    last: float | None = None

    @property
    def key(self) -> str:
        """What names this node on the page, the same on every render (live updates keep the
        reader's selection by it): the server's id of its session or event."""
        return ("s-" if self.kind == "session" else "e-") + str(self.data.get("id"))


def _event_node(event: dict[str, Any], order: int) -> Node:
    kind = page_detail.event_kind(event)
    if kind == "decision":
        title = str(event.get("reasoning") or "Decision")
    elif kind == "error":
        error = page.mapping(event.get("toolError"))
        title = f"{error.get('type') or 'Error'}: {error.get('message') or ''}"
    elif kind == "llm":
        title = str(event.get("toolName"))[len("llm:") :].replace(":", " · ", 1)
    else:
        title = str(event.get("toolName"))
    start = page.parse_time(event.get("startedAt")) or page.parse_time(event.get("receivedAt"))
    duration = event.get("durationMs")
    failed = kind == "error" or bool(event.get("toolError"))
    return Node(kind, title, event, start, duration if page.is_number(duration) else None, failed, order)


def _parents(events: list[dict[str, Any]]) -> list[int | None]:
    """The index of each event's parent event (by span id) in ``events``, None for a top one. A link
    that would close a loop (ids sent that way) is cut, so every event is shown once, and so is one
    below MAX_DEPTH ancestors, so that drawing the tree cannot exhaust the stack."""
    by_span = {e["spanId"]: i for i, e in enumerate(events) if isinstance(e.get("spanId"), str)}
    parents: list[int | None] = [by_span.get(str(e.get("parentSpanId"))) for e in events]
    for index in range(len(events)):
        seen = {index}
        step = parents[index]
        while step is not None:
            if step in seen or len(seen) > MAX_DEPTH:
                parents[index] = None
                break
            seen.add(step)
            step = parents[step]
    return parents


def build_tree(session: dict[str, Any], counter: list[int] | None = None) -> Node:
    """The node of a session (as ``queries.session_tree`` answers it) with its events and sub-sessions
    below it, every level in start order."""
    top = counter is None
    counter = counter if counter is not None else [0]
    counter[0] += 1
    duration = session.get("durationMs")
    root = Node(
        "session",
        str(session.get("name")),
        session,
        page.parse_time(session.get("createdAt")),
        duration if page.is_number(duration) else None,
        session.get("status") == "failed",
        counter[0],
    )
    events = session.get("events") or []
    nodes = []
    for event in events:
        counter[0] += 1
        nodes.append(_event_node(event, counter[0]))
    for node, parent in zip(nodes, _parents(events), strict=True):
        (root if parent is None else nodes[parent]).children.append(node)
    root.children.extend(build_tree(child, counter) for child in session.get("children") or [])
    if top:
        _cover(root)
    return root


def _cover(node: Node) -> None:
    """Set what each node's bar covers, and put every level in start order."""
    firsts: list[float] = []
    lasts: list[float] = []
    if node.start is not None:
        firsts.append(node.start.timestamp())
        lasts.append(firsts[0] + (node.duration_ms or 0) / 1000)
    for child in node.children:
        _cover(child)
        firsts += [child.first] if child.first is not None else []
        lasts += [child.last] if child.last is not None else []
    node.first = min(firsts) if firsts else None
    node.last = max(lasts) if lasts else None
    # Nodes without a start (none sent) keep their arrival place after those with one.
    node.children.sort(key=lambda n: (n.first is None, n.first or 0.0, n.order))


def _walk(node: Node, depth: int = 0) -> list[tuple[Node, int]]:
    rows = [(node, depth)]
    for child in node.children:
        rows.extend(_walk(child, depth + 1))
    return rows


def _span(root: Node) -> tuple[float, float] | None:
    if root.first is None or root.last is None:
        return None
    return root.first, max(root.last - root.first, 1e-3)


def _bar(node: Node, span: tuple[float, float] | None) -> str:
    if span is None or node.first is None or node.last is None:
        return ""
    first, width = span
    x = (node.first - first) / width * _BAR_SCALE
    w = max((node.last - node.first) / width * _BAR_SCALE, _MIN_BAR)
    x = min(max(x, 0), _BAR_SCALE - _MIN_BAR)
    w = min(w, _BAR_SCALE - x)
    css = "k-failed" if node.failed else f"k-{node.kind}"
    return (
        f'<svg class="bar" viewBox="0 0 {_BAR_SCALE} 10" preserveAspectRatio="none" aria-hidden="true">'
        f'<rect x="{x:.1f}" y="1" width="{w:.1f}" height="8" class="{css}"/></svg>'
    )


def _tree(rows: list[tuple[Node, int]]) -> str:
    span = _span(rows[0][0])
    lines = []
    for index, (node, depth) in enumerate(rows):
        cost = node.data.get("estimatedCost")
        tokens = node.data.get("totalTokens") if node.kind == "session" else node.data.get("tokenCount")
        state = " failed" if node.failed else ""
        selected = ' aria-selected="true"' if index == 0 else ""
        lines.append(
            f'<tr class="node{state}" data-node="{escape(node.key)}" data-kind="{node.kind}"'
            f' data-depth="{depth}"'
            f' tabindex="0"{selected}>'
            f'<td class="name d{min(depth, _MAX_INDENT)}"><span class="kind k-{node.kind}">'
            f'{_KIND_NAMES[node.kind]}</span> <span class="title">{escape(node.title)}</span></td>'
            f'<td class="num dur">{page.duration(node.duration_ms)}</td>'
            f'<td class="num">{page.cost(cost) if cost else ""}</td>'
            f'<td class="num">{page.tokens(tokens) if tokens else ""}</td>'
            f'<td class="wf">{_bar(node, span)}</td></tr>'
        )
    head = "<tr><th>Name</th><th>Duration</th><th>Cost</th><th>Tokens</th><th>Timeline</th></tr>"
    return f'<table class="tree" role="tree"><thead>{head}</thead><tbody>{"".join(lines)}</tbody></table>'


def _details(rows: list[tuple[Node, int]]) -> list[tuple[str, str, str]]:
    """The key, digest and detail pane of each node; the first one shown. The pane carries its digest
    too, so that a live update leaves a pane that did not change as the reader left it."""
    panes = []
    for index, (node, _) in enumerate(rows):
        body = (
            page_detail.session_detail(node.data)
            if node.kind == "session"
            else page_detail.event_detail(node.data)
        )
        link = ""
        if node.kind == "session" and index > 0:
            link = f' <a href="{page.session_href(node.data["id"])}">Open</a>'
        hidden = "" if index == 0 else " hidden"
        content = f'<h3><span class="kind k-{node.kind}">{_KIND_NAMES[node.kind]}</span> {escape(node.title)}'
        content += f"{link}</h3>{body}"
        digest = hashlib.blake2b(content.encode(), digest_size=8).hexdigest()
        panes.append(
            (
                node.key,
                digest,
                f'<section class="detail" data-node="{escape(node.key)}" data-digest="{digest}"{hidden}>'
                f"{content}</section>",
            )
        )
    return panes


def _header(session: dict[str, Any]) -> str:
    parent = session.get("parent")
    children = session.get("children") or []
    convo = session.get("convoId")
    prompt, completion = session.get("promptTokens"), session.get("completionTokens")
    split = f" ({page.tokens(prompt)} in, {page.tokens(completion)} out)" if prompt or completion else ""
    sub_links = ", ".join(f'<a href="{page.session_href(c["id"])}">{escape(c["name"])}</a>' for c in children)
    parent_link = ""
    if parent:
        parent_link = f'<a href="{page.session_href(parent["id"])}">{escape(parent["name"])}</a>'
    elif session.get("parentSessionId"):
        parent_link = escape(session["parentSessionId"]) + " (not stored here)"
    convo_link = f'<a href="{page.conversation_href(convo)}">{escape(convo)}</a>' if convo else ""
    return f"<h1>{escape(str(session['name']))} {page.badge(session['status'])}</h1>" + page_detail.facts(
        [
            ("Agent", escape(str(session["agentName"]))),
            ("User", escape(str(session["userId"]))),
            ("Started", page.time(session["createdAt"])),
            ("Duration", page.duration(session.get("durationMs"))),
            ("Cost", page.cost(session.get("estimatedCost"))),
            ("Tokens", page.tokens(session.get("totalTokens")) + split),
            ("Events", str(session.get("eventCount", 0))),
            ("Conversation", convo_link),
            ("Parent session", parent_link),
            ("Sub-sessions", sub_links),
            ("Outcome", page.text(session.get("failureReason")) if session.get("failureReason") else ""),
        ]
    )


def _tree_pane(tree: dict[str, Any], rows: list[tuple[Node, int]]) -> str:
    more = '<p class="note">Only the first sub-sessions are shown.</p>' if tree.get("truncated") else ""
    return _tree(rows) + more


def live_path(session_id: str) -> str:
    """Where a session's page asks what changed (``live_parts``), unescaped."""
    return "/live/sessions/" + quote(session_id, safe="")


def session(tree: dict[str, Any], version: str, active: bool) -> str:
    """The page of one session (as ``queries.session_tree`` answers it, ``version`` and ``active`` as
    ``queries.tree_version`` does). While a session of it is active the page keeps itself up to date:
    it asks for what changed since ``version`` (see ``live_parts``)."""
    rows = _walk(build_tree(tree))
    live = ""
    if active:
        live = (
            f' data-live="{escape(live_path(tree["id"]))}" data-version="{escape(version)}"'
            f' data-poll-ms="{page.POLL_MS}"'
        )
    body = (
        '<p><a href="/">&larr; All sessions</a> <span class="live" id="live-state"></span></p>'
        f'<header class="session-head" id="session-head"{live}>{_header(tree)}</header>'
        f'<div class="split"><div class="tree-pane" id="tree-pane">{_tree_pane(tree, rows)}</div>'
        f'<div class="detail-pane" id="detail">{"".join(pane for _, _, pane in _details(rows))}</div></div>'
    )
    return page.document(f"Session {tree['name']}", body)


def live_parts(tree: dict[str, Any]) -> dict[str, Any]:
    """The parts of a session's page that change while it runs, as markup for the page's script: its
    header, its tree and each node's detail pane (its key, digest and markup)."""
    rows = _walk(build_tree(tree))
    return {"head": _header(tree), "tree": _tree_pane(tree, rows), "details": _details(rows)}
