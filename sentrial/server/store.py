"""SQLite persistence of sessions and events: one connection, guarded by a lock."""

from __future__ import annotations

import contextlib
import json
import math
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

_T = TypeVar("_T")

# Column names are the JSON field names, so a row maps onto the API's dict as it is.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    agentName TEXT NOT NULL,
    userId TEXT NOT NULL,
    metadata TEXT,
    parentSessionId TEXT,
    convoId TEXT,
    status TEXT NOT NULL,
    success INTEGER,
    failureReason TEXT,
    estimatedCost REAL,
    customMetrics TEXT,
    durationMs INTEGER,
    promptTokens INTEGER,
    completionTokens INTEGER,
    totalTokens INTEGER,
    userInput TEXT,
    assistantOutput TEXT,
    createdAt TEXT NOT NULL,
    completedAt TEXT
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    sessionId TEXT NOT NULL,
    spanId TEXT,
    body TEXT NOT NULL,
    receivedAt TEXT NOT NULL,
    UNIQUE (sessionId, spanId)
);
CREATE INDEX IF NOT EXISTS events_by_session ON events (sessionId, seq);
"""
# An event's timing (see event_timing), kept in columns of their own so that a page can order and
# nest events without parsing their bodies; added to a database made before they existed.
_EVENT_TIMING_COLUMNS = {
    "startedAt": ("TEXT", "$.metadata.started_at"),
    "durationMs": ("REAL", "$.metadata.duration_ms"),
    "parentSpanId": ("TEXT", "$.metadata.parent_span_id"),
}
# What the sessions list filters and sorts on (queries.py).
_LIST_INDEXES = """
CREATE INDEX IF NOT EXISTS sessions_by_status ON sessions (status, seq);
CREATE INDEX IF NOT EXISTS sessions_by_agent ON sessions (agentName, seq);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (userId, seq);
CREATE INDEX IF NOT EXISTS sessions_by_created ON sessions (createdAt);
CREATE INDEX IF NOT EXISTS sessions_by_parent ON sessions (parentSessionId);
CREATE INDEX IF NOT EXISTS sessions_by_convo ON sessions (convoId, seq);
"""

SESSION_FIELDS = (
    "id",
    "name",
    "agentName",
    "userId",
    "metadata",
    "parentSessionId",
    "convoId",
    "status",
    "success",
    "failureReason",
    "estimatedCost",
    "customMetrics",
    "durationMs",
    "promptTokens",
    "completionTokens",
    "totalTokens",
    "userInput",
    "assistantOutput",
    "createdAt",
    "completedAt",
)
_JSON_FIELDS = frozenset({"metadata", "customMetrics"})
SESSION_COLUMNS = ", ".join(SESSION_FIELDS)
# Fields a PATCH may set (the run from "status" to "assistantOutput"); the validator guarantees no
# others reach the SQL.
COMPLETION_FIELDS = SESSION_FIELDS[SESSION_FIELDS.index("status") : SESSION_FIELDS.index("createdAt")]


def _naming(error: sqlite3.Error, path: str) -> sqlite3.Error:
    """The same kind of error, with a message that says which database file it is about."""
    return type(error)(f"database {path}: {error}")


def _open(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        if path not in ("", ":memory:"):
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
        _add_timing_columns(conn)
        conn.executescript(_LIST_INDEXES)
    except BaseException:
        conn.close()
        raise
    return conn


def _add_timing_columns(conn: sqlite3.Connection) -> None:
    """Give an events table made before the timing columns existed those columns, filled in."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(events)")}
    for column, (kind, path) in _EVENT_TIMING_COLUMNS.items():
        if column not in present:
            conn.execute(f"ALTER TABLE events ADD COLUMN {column} {kind}")
            conn.execute(f"UPDATE events SET {column} = json_extract(body, ?)", (path,))


def event_timing(event: dict[str, Any]) -> tuple[str | None, float | None, str | None]:
    """An event's start, duration and parent span, from its ``metadata`` (``started_at``,
    ``duration_ms``, ``parent_span_id``); None for each it does not carry in the expected type."""
    metadata = event.get("metadata")
    if not isinstance(metadata, dict):
        return None, None, None
    started, duration, parent = (metadata.get(k) for k in ("started_at", "duration_ms", "parent_span_id"))
    if not isinstance(duration, (int, float)) or isinstance(duration, bool) or not math.isfinite(duration):
        duration = None
    return (
        started if isinstance(started, str) else None,
        None if duration is None else float(duration),
        parent if isinstance(parent, str) else None,
    )


class UnknownSession(LookupError):
    """Raised when an event names a session that does not exist."""


def now() -> str:
    """The current UTC time as an ISO 8601 string with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_db(field: str, value: Any) -> Any:
    if value is not None and field in _JSON_FIELDS:
        return json.dumps(value)
    return value


def session_from_row(row: Sequence[Any]) -> dict[str, Any]:
    """A session as the API answers it, from its row of ``SESSION_FIELDS``."""
    session = dict(zip(SESSION_FIELDS, row, strict=True))
    for field in _JSON_FIELDS:
        if session[field] is not None:
            session[field] = json.loads(session[field])
    if session["success"] is not None:
        session["success"] = bool(session["success"])
    return session


def event_from_row(event_id: str, body: str, received_at: str) -> dict[str, Any]:
    """An event as the API answers it: its body as sent, with the server's id and arrival time."""
    event: dict[str, Any] = json.loads(body)
    event["id"] = event_id
    event["receivedAt"] = received_at
    return event


class Store:
    """Sessions and their events in one SQLite database (a file, or ``":memory:"``)."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._path = path
        try:
            self._conn: sqlite3.Connection | None = _open(path)
        except sqlite3.Error as exc:
            raise _naming(exc, path) from exc

    @contextlib.contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock; an SQLite error comes out naming the database file."""
        with self._lock:
            db = self._db()
            try:
                yield db
            except sqlite3.Error as exc:
                raise _naming(exc, self._path) from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the store is closed")
        return self._conn

    def close(self) -> None:
        """Close the database; later calls raise RuntimeError."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def create_session(self, fields: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store a new session (``fields`` validated); with a known ``id`` return that one instead.

        Returns the session and whether it was created now.
        """
        with self._locked() as db:
            session_id = fields.get("id") or str(uuid.uuid4())
            existing = self._session(db, session_id)
            if existing is not None:
                return existing, False
            values = {name: fields.get(name) for name in SESSION_FIELDS}
            values.update(id=session_id, status="active", createdAt=now())
            db.execute(
                f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ({', '.join('?' * len(SESSION_FIELDS))})",
                [_to_db(name, values[name]) for name in SESSION_FIELDS],
            )
            created = self._session(db, session_id)
            assert created is not None
            return created, True

    def complete_session(self, session_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        """Set the completion ``fields`` (validated) of a session; None when it does not exist."""
        names = [name for name in COMPLETION_FIELDS if name in fields]
        assignments = ", ".join(f"{name} = ?" for name in [*names, "completedAt"])
        with self._locked() as db:
            cursor = db.execute(
                f"UPDATE sessions SET {assignments} WHERE id = ?",
                [*(_to_db(name, fields[name]) for name in names), now(), session_id],
            )
            if cursor.rowcount == 0:
                return None
            return self._session(db, session_id)

    def add_event(self, event: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Store an event (validated) as sent. A ``spanId`` already stored in that session is not
        stored again: the earlier event comes back instead.

        Returns the event (with ``id`` and ``receivedAt``) and whether it was stored now.
        Raises UnknownSession when the session does not exist.
        """
        session_id = event["sessionId"]
        span_id = event.get("spanId")
        body = json.dumps(event)
        with self._locked() as db:
            if db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone() is None:
                raise UnknownSession(session_id)
            if span_id is not None:
                row = db.execute(
                    "SELECT id, body, receivedAt FROM events WHERE sessionId = ? AND spanId = ?",
                    (session_id, span_id),
                ).fetchone()
                if row is not None:
                    return event_from_row(*row), False
            event_id, received_at = str(uuid.uuid4()), now()
            db.execute(
                "INSERT INTO events (id, sessionId, spanId, body, receivedAt, startedAt, durationMs,"
                " parentSpanId) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (event_id, session_id, span_id, body, received_at, *event_timing(event)),
            )
        return event_from_row(event_id, body, received_at), True

    def read(self, query: Callable[[sqlite3.Connection], _T]) -> _T:
        """What ``query`` answers from the database (it runs under the store's lock; see queries.py)."""
        with self._locked() as db:
            return query(db)

    def sessions(self) -> list[dict[str, Any]]:
        """Every session, in creation order."""
        with self._locked() as db:
            rows = db.execute(f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY seq").fetchall()
        return [session_from_row(row) for row in rows]

    def session(self, session_id: str) -> dict[str, Any] | None:
        """One session with its ``events`` in arrival order, or None."""
        with self._locked() as db:
            session = self._session(db, session_id)
            if session is None:
                return None
            rows = db.execute(
                "SELECT id, body, receivedAt FROM events WHERE sessionId = ? ORDER BY seq", (session_id,)
            ).fetchall()
        session["events"] = [event_from_row(*row) for row in rows]
        return session

    @staticmethod
    def _session(db: sqlite3.Connection, session_id: str) -> dict[str, Any] | None:
        row = db.execute(f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return None if row is None else session_from_row(row)
