"""Read queries of the local server beyond one session: the filtered, sorted, paged sessions list with
its totals, a session's tree of sub-sessions, a conversation. Each takes the store's connection
(``Store.read`` runs it under the store's lock) and answers plain dicts."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sentrial.server.store import SESSION_COLUMNS, event_from_row, session_from_row
from sentrial.server.validate import ApiError

STATUSES = ("active", "completed", "failed")
# What the list may be sorted by: the name in the URL and its column.
SORTS = {"created": "seq", "cost": "estimatedCost", "duration": "durationMs", "tokens": "totalTokens"}
MAX_LIMIT = 1000
# A session's tree shows at most this many sessions below it (a runaway agent can open thousands).
MAX_TREE_SESSIONS = 200


@dataclass(frozen=True)
class ListQuery:
    """Which sessions the list shows, in what order, which page of them."""

    status: str | None = None
    agent: str | None = None
    user: str | None = None
    since: str | None = None  # ISO 8601: sessions created at or after it
    until: str | None = None  # ISO 8601: sessions created before it
    text: str | None = None  # in the name, input, output or metadata
    convo: str | None = None
    sort: str = "created"
    descending: bool = False
    limit: int | None = None  # None: all of them
    offset: int = 0

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters."""
        conditions: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("status", self.status),
            ("agentName", self.agent),
            ("userId", self.user),
            ("convoId", self.convo),
        ):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        if self.since is not None:
            conditions.append("createdAt >= ?")
            params.append(self.since)
        if self.until is not None:
            conditions.append("createdAt < ?")
            params.append(self.until)
        if self.text:
            pattern = "%" + self.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            columns = ("name", "userInput", "assistantOutput", "metadata")
            conditions.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns) + ")")
            params.extend([pattern] * len(columns))
        return (" WHERE " + " AND ".join(conditions)) if conditions else "", params


def _one(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[-1] if values and values[-1] != "" else None


def _count(params: Mapping[str, list[str]], name: str, low: int, high: int | None) -> int | None:
    text = _one(params, name)
    if text is None:
        return None
    bound = f"between {low} and {high}" if high is not None else f">= {low}"
    try:
        value = int(text)
    except ValueError:
        raise ApiError(422, f"parameter '{name}' must be an integer {bound}") from None
    if value < low or (high is not None and value > high):
        raise ApiError(422, f"parameter '{name}' must be an integer {bound}")
    return value


def _time(params: Mapping[str, list[str]], name: str) -> str | None:
    text = _one(params, name)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(422, f"parameter '{name}' must be an ISO 8601 time, e.g. 2025-01-31T12:00") from None
    # A time without a zone is UTC, as the pages show times; stored times are UTC with milliseconds
    # and a Z: compare like with like.
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def parse_list_query(params: Mapping[str, list[str]], default_descending: bool = False) -> ListQuery:
    """The list query that URL ``params`` ask for; ApiError(422) naming a parameter that is wrong."""
    status = _one(params, "status")
    if status is not None and status not in STATUSES:
        raise ApiError(422, "parameter 'status' must be one of " + ", ".join(STATUSES))
    sort = _one(params, "sort") or "created"
    if sort not in SORTS:
        raise ApiError(422, "parameter 'sort' must be one of " + ", ".join(SORTS))
    order = _one(params, "order")
    if order not in (None, "asc", "desc"):
        raise ApiError(422, "parameter 'order' must be 'asc' or 'desc'")
    return ListQuery(
        status=status,
        agent=_one(params, "agent"),
        user=_one(params, "user"),
        since=_time(params, "since"),
        until=_time(params, "until"),
        text=_one(params, "q"),
        convo=_one(params, "convo"),
        sort=sort,
        descending=default_descending if order is None else order == "desc",
        limit=_count(params, "limit", 1, MAX_LIMIT),
        offset=_count(params, "offset", 0, None) or 0,
    )


def _with_counts(db: sqlite3.Connection, rows: list[Any]) -> list[dict[str, Any]]:
    """The sessions of ``rows``, each with its ``eventCount``: counted for these sessions only, after
    the page is chosen (a count in the page's own query would run for every session it sorts)."""
    sessions = [session_from_row(row) for row in rows]
    ids = [s["id"] for s in sessions]
    counts: dict[str, int] = {}
    for chunk in range(0, len(ids), 500):  # SQLite allows a limited number of parameters
        part = ids[chunk : chunk + 500]
        counts.update(
            db.execute(
                "SELECT sessionId, COUNT(*) FROM events"
                f" WHERE sessionId IN ({', '.join('?' * len(part))}) GROUP BY sessionId",
                part,
            ).fetchall()
        )
    for session in sessions:
        session["eventCount"] = counts.get(session["id"], 0)
    return sessions


def list_sessions(db: sqlite3.Connection, query: ListQuery) -> dict[str, Any]:
    """One page of the sessions ``query`` selects, each with its ``eventCount``; ``total`` and
    ``totals`` over all it selects; ``nextOffset`` of the next page (None on the last)."""
    where, params = query.where()
    direction = "DESC" if query.descending else "ASC"
    order = f"{SORTS[query.sort]} {direction}" + ("" if query.sort == "created" else f", seq {direction}")
    page = f" LIMIT {query.limit} OFFSET {query.offset}" if query.limit is not None else ""
    rows = db.execute(
        f"SELECT {SESSION_COLUMNS} FROM sessions{where} ORDER BY {order}{page}", params
    ).fetchall()
    count, failed, finished, cost, tokens = db.execute(
        "SELECT COUNT(*), TOTAL(status = 'failed'), TOTAL(status != 'active'), TOTAL(estimatedCost),"
        f" TOTAL(totalTokens) FROM sessions{where}",
        params,
    ).fetchone()
    end = query.offset + len(rows)
    return {
        "sessions": _with_counts(db, rows),
        "total": count,
        "nextOffset": end if query.limit is not None and end < count else None,
        "totals": {
            "sessions": count,
            "failed": int(failed),
            "failureRate": failed / finished if finished else None,
            "estimatedCost": cost,
            "totalTokens": int(tokens),
        },
    }


def agents(db: sqlite3.Connection) -> list[str]:
    """The agent names of the stored sessions, sorted."""
    return [row[0] for row in db.execute("SELECT DISTINCT agentName FROM sessions ORDER BY agentName")]


def session_tree(db: sqlite3.Connection, session_id: str) -> dict[str, Any] | None:
    """A session with its ``events`` (in arrival order, each with its ``startedAt``, ``durationMs``
    and ``parentSpanId`` as the server indexed them), its ``parent`` (or None) and its ``children``:
    its sub-sessions, each a tree of the same shape (at most MAX_TREE_SESSIONS in all)."""
    row = db.execute(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
    if row is None:
        return None
    (root,) = _with_counts(db, [row])
    parent = root["parentSessionId"]
    root["parent"] = None
    if parent is not None:
        found = db.execute("SELECT id, name FROM sessions WHERE id = ?", (parent,)).fetchone()
        root["parent"] = {"id": found[0], "name": found[1]} if found else None
    budget = [MAX_TREE_SESSIONS]
    _fill(db, root, budget, {session_id})
    root["truncated"] = budget[0] < 0
    return root


def tree_version(db: sqlite3.Connection, session_id: str) -> tuple[str, bool] | None:
    """A token of what the page of a session shows (as ``session_tree`` reads it) that changes when
    that may have changed: an event or a sub-session added, a session completed (events are never
    changed, sessions only by their completion). With it, whether a session of the tree is still
    active; None for an unknown session. Cheap: index lookups per session, no event read."""
    found = db.execute(
        "WITH RECURSIVE tree(id) AS (SELECT ? UNION"
        " SELECT s.id FROM sessions s JOIN tree t ON s.parentSessionId = t.id"
        f" LIMIT {MAX_TREE_SESSIONS + 1})"
        " SELECT COUNT(*), TOTAL(s.status = 'active'), MAX(s.seq), MAX(s.completedAt),"
        " MAX((SELECT MAX(e.seq) FROM events e WHERE e.sessionId = s.id))"
        " FROM sessions s JOIN tree t ON s.id = t.id",
        (session_id,),
    ).fetchone()
    count, active, last_session, last_completed, last_event = found
    if count == 0:
        return None
    return f"{count}.{last_session}.{last_event or 0}.{int(active)}.{last_completed or ''}", active > 0


def tree_changes(
    db: sqlite3.Connection, session_id: str, known: str | None
) -> tuple[str, bool, dict[str, Any] | None] | None:
    """A session's ``tree_version`` and whether it is active, with its ``session_tree`` when that
    version is not ``known`` (None when it is); None for an unknown session."""
    found = tree_version(db, session_id)
    if found is None:
        return None
    version, active = found
    return version, active, None if version == known else session_tree(db, session_id)


def _fill(db: sqlite3.Connection, session: dict[str, Any], budget: list[int], seen: set[str]) -> None:
    session["events"] = [
        {**event_from_row(*row[:3]), "startedAt": row[3], "durationMs": row[4], "parentSpanId": row[5]}
        for row in db.execute(
            "SELECT id, body, receivedAt, startedAt, durationMs, parentSpanId FROM events"
            " WHERE sessionId = ? ORDER BY seq",
            (session["id"],),
        )
    ]
    rows = db.execute(
        f"SELECT {SESSION_COLUMNS} FROM sessions WHERE parentSessionId = ? ORDER BY seq", (session["id"],)
    ).fetchall()
    session["children"] = []
    for child in _with_counts(db, rows):
        budget[0] -= 1
        if budget[0] < 0:
            return
        if child["id"] in seen:  # a cycle of parent ids: show each session once
            continue
        seen.add(child["id"])
        session["children"].append(child)
        _fill(db, child, budget, seen)


def conversation(db: sqlite3.Connection, convo_id: str) -> list[dict[str, Any]]:
    """The sessions of a conversation (``convoId``), in creation order."""
    sessions: list[dict[str, Any]] = list_sessions(db, ListQuery(convo=convo_id))["sessions"]
    return sessions
