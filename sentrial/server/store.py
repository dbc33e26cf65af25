"""SQLite persistence of sessions and events: one connection, guarded by a lock."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

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
_COLUMNS = ", ".join(SESSION_FIELDS)
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
    except BaseException:
        conn.close()
        raise
    return conn


class UnknownSession(LookupError):
    """Raised when an event names a session that does not exist."""


def now() -> str:
    """The current UTC time as an ISO 8601 string with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_db(field: str, value: Any) -> Any:
    if value is not None and field in _JSON_FIELDS:
        return json.dumps(value)
    return value


def _session_from_row(row: Sequence[Any]) -> dict[str, Any]:
    session = dict(zip(SESSION_FIELDS, row, strict=True))
    for field in _JSON_FIELDS:
        if session[field] is not None:
            session[field] = json.loads(session[field])
    if session["success"] is not None:
        session["success"] = bool(session["success"])
    return session


def _event_from_row(event_id: str, body: str, received_at: str) -> dict[str, Any]:
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
                f"INSERT INTO sessions ({_COLUMNS}) VALUES ({', '.join('?' * len(SESSION_FIELDS))})",
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
                    return _event_from_row(*row), False
            event_id, received_at = str(uuid.uuid4()), now()
            db.execute(
                "INSERT INTO events (id, sessionId, spanId, body, receivedAt) VALUES (?, ?, ?, ?, ?)",
                (event_id, session_id, span_id, body, received_at),
            )
        return _event_from_row(event_id, body, received_at), True

    def sessions(self) -> list[dict[str, Any]]:
        """Every session, in creation order."""
        with self._locked() as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM sessions ORDER BY seq").fetchall()
        return [_session_from_row(row) for row in rows]

    def session(self, session_id: str) -> dict[str, Any] | None:
        """One session with its ``events`` in arrival order, or None."""
        with self._locked() as db:
            session = self._session(db, session_id)
            if session is None:
                return None
            rows = db.execute(
                "SELECT id, body, receivedAt FROM events WHERE sessionId = ? ORDER BY seq", (session_id,)
            ).fetchall()
        session["events"] = [_event_from_row(*row) for row in rows]
        return session

    def event_counts(self) -> dict[str, int]:
        """The number of events of every session that has any, by session id."""
        with self._locked() as db:
            rows = db.execute("SELECT sessionId, COUNT(*) FROM events GROUP BY sessionId").fetchall()
        return {session_id: count for session_id, count in rows}

    @staticmethod
    def _session(db: sqlite3.Connection, session_id: str) -> dict[str, Any] | None:
        row = db.execute(f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return None if row is None else _session_from_row(row)
