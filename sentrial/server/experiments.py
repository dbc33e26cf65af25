"""Experiments in the local server's SQLite database: their definitions, their runs, and the results
per variant (sessions-api.md, "Experiments").

An experiment is made from sessions already stored: each test case is a session, whose user input
is read when a client fetches the experiment. A run names the session it produced; the results
compare the variants on those sessions' outcomes, costs, tokens and durations.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sentrial.server.store import Store, now
from sentrial.server.validate import ApiError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    variants TEXT NOT NULL,
    sessionIds TEXT NOT NULL,
    createdAt TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS experiment_runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    experimentId TEXT NOT NULL,
    variantName TEXT NOT NULL,
    baseSessionId TEXT NOT NULL,
    status TEXT NOT NULL,
    resultSessionId TEXT,
    errorMessage TEXT,
    createdAt TEXT NOT NULL,
    completedAt TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON experiment_runs (experimentId, seq);
"""
_RUN_FIELDS = (
    "id",
    "experimentId",
    "variantName",
    "baseSessionId",
    "status",
    "resultSessionId",
    "errorMessage",
    "createdAt",
    "completedAt",
)
_RUN_STATUSES = ("completed", "failed")
_with_schema: weakref.WeakSet[Store] = weakref.WeakSet()


@contextmanager
def _db(store: Store) -> Iterator[sqlite3.Connection]:
    """The store's connection under its lock, with the experiment tables in place. The tables live
    beside the sessions (a result session is joined to its run) but are this module's own."""
    with store._locked() as db:
        if store not in _with_schema:
            db.executescript(_SCHEMA)
            _with_schema.add(store)
        yield db


def _text(body: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise ApiError(400, f"'{key}' must be a non-empty string")
    return value


def _variants(body: dict[str, Any]) -> list[dict[str, Any]]:
    variants = body.get("variants")
    if not isinstance(variants, list) or not variants:
        raise ApiError(400, "'variants' must be a non-empty list of {name, systemPrompt}")
    checked: list[dict[str, Any]] = []
    for each in variants:
        if not isinstance(each, dict):
            raise ApiError(400, "each variant must be an object {name, systemPrompt, description?}")
        variant = {"name": _text(each, "name"), "systemPrompt": _text(each, "systemPrompt")}
        description = _text(each, "description", required=False)
        if description is not None:
            variant["description"] = description
        checked.append(variant)
    names = [variant["name"] for variant in checked]
    if len(set(names)) != len(names):
        raise ApiError(400, "variant names must differ")
    return checked


def _session_ids(body: dict[str, Any]) -> list[str]:
    """The test cases' sessions: ``sessionIds``, or ``testCases`` as ``[{"sessionId"}]``."""
    ids = body.get("sessionIds")
    if ids is None and isinstance(body.get("testCases"), list):
        ids = [each.get("sessionId") if isinstance(each, dict) else None for each in body["testCases"]]
    if not isinstance(ids, list) or not ids or not all(isinstance(each, str) and each for each in ids):
        raise ApiError(400, "'sessionIds' must be a non-empty list of session ids")
    return list(dict.fromkeys(ids))


def create(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    """Store a new experiment from ``{name, variants, sessionIds}``; every session must exist."""
    name, variants, session_ids = _text(body, "name"), _variants(body), _session_ids(body)
    with _db(store) as db:
        marks = ", ".join("?" * len(session_ids))
        found = {row[0] for row in db.execute(f"SELECT id FROM sessions WHERE id IN ({marks})", session_ids)}
        missing = [each for each in session_ids if each not in found]
        if missing:
            raise ApiError(404, f"unknown session '{missing[0]}'")
        experiment_id = "exp_" + uuid.uuid4().hex[:12]
        db.execute(
            "INSERT INTO experiments (id, name, status, variants, sessionIds, createdAt)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (experiment_id, name, "draft", json.dumps(variants), json.dumps(session_ids), now()),
        )
    definition = get(store, experiment_id)
    assert definition is not None
    return definition


def _definition(db: sqlite3.Connection, row: tuple[Any, ...]) -> dict[str, Any]:
    experiment_id, name, status, variants, session_ids, created_at = row
    ids = json.loads(session_ids)
    marks = ", ".join("?" * len(ids))
    inputs = dict(db.execute(f"SELECT id, userInput FROM sessions WHERE id IN ({marks})", ids).fetchall())
    return {
        "id": experiment_id,
        "name": name,
        "status": status,
        "variants": json.loads(variants),
        "testCases": [{"sessionId": each, "userInput": inputs.get(each)} for each in ids],
        "createdAt": created_at,
    }


_EXPERIMENT_COLUMNS = "id, name, status, variants, sessionIds, createdAt"


def get(store: Store, experiment_id: str) -> dict[str, Any] | None:
    """One experiment's definition, its test cases with their sessions' user inputs; None if unknown."""
    with _db(store) as db:
        row = db.execute(
            f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments WHERE id = ?", (experiment_id,)
        ).fetchone()
        return None if row is None else _definition(db, row)


def every(store: Store) -> list[dict[str, Any]]:
    """Every experiment, in creation order."""
    with _db(store) as db:
        rows = db.execute(f"SELECT {_EXPERIMENT_COLUMNS} FROM experiments ORDER BY seq").fetchall()
        return [_definition(db, row) for row in rows]


def _known(db: sqlite3.Connection, experiment_id: str) -> None:
    if db.execute("SELECT 1 FROM experiments WHERE id = ?", (experiment_id,)).fetchone() is None:
        raise ApiError(404, f"unknown experiment '{experiment_id}'")


def open_run(store: Store, experiment_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Record a new run ``{variantName, baseSessionId}`` of an experiment."""
    variant, base = _text(body, "variantName"), _text(body, "baseSessionId")
    run_id = "run_" + uuid.uuid4().hex[:16]
    with _db(store) as db:
        _known(db, experiment_id)
        db.execute(
            "INSERT INTO experiment_runs (id, experimentId, variantName, baseSessionId, status, createdAt)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, experiment_id, variant, base, "running", now()),
        )
        db.execute("UPDATE experiments SET status = 'running' WHERE id = ?", (experiment_id,))
        return _run(db, run_id)


def complete_run(store: Store, experiment_id: str, run_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Record a run's outcome ``{status, resultSessionId, errorMessage}``."""
    status = body.get("status")
    if status not in _RUN_STATUSES:
        raise ApiError(400, "'status' must be 'completed' or 'failed'")
    result_session = _text(body, "resultSessionId", required=False)
    error = _text(body, "errorMessage", required=False)
    with _db(store) as db:
        cursor = db.execute(
            "UPDATE experiment_runs SET status = ?, resultSessionId = ?, errorMessage = ?, completedAt = ?"
            " WHERE id = ? AND experimentId = ?",
            (status, result_session, error, now(), run_id, experiment_id),
        )
        if cursor.rowcount == 0:
            raise ApiError(404, f"unknown run '{run_id}' of experiment '{experiment_id}'")
        return _run(db, run_id)


def _run(db: sqlite3.Connection, run_id: str) -> dict[str, Any]:
    row = db.execute(
        f"SELECT {', '.join(_RUN_FIELDS)} FROM experiment_runs WHERE id = ?", (run_id,)
    ).fetchone()
    return dict(zip(_RUN_FIELDS, row, strict=True))


def runs(store: Store, experiment_id: str) -> list[dict[str, Any]]:
    """The runs of an experiment, in the order they were opened."""
    with _db(store) as db:
        rows = db.execute(
            f"SELECT {', '.join(_RUN_FIELDS)} FROM experiment_runs WHERE experimentId = ? ORDER BY seq",
            (experiment_id,),
        ).fetchall()
    return [dict(zip(_RUN_FIELDS, row, strict=True)) for row in rows]


def reset(store: Store, experiment_id: str) -> int:
    """Remove every run of an experiment; how many there were."""
    with _db(store) as db:
        _known(db, experiment_id)
        removed = db.execute("DELETE FROM experiment_runs WHERE experimentId = ?", (experiment_id,)).rowcount
        db.execute("UPDATE experiments SET status = 'draft' WHERE id = ?", (experiment_id,))
    return int(removed)


def _mean(values: list[Any]) -> float | None:
    numbers = [value for value in values if isinstance(value, (int, float)) and not isinstance(value, bool)]
    return sum(numbers) / len(numbers) if numbers else None


def results(store: Store, experiment_id: str) -> dict[str, Any]:
    """The comparison of the variants: per variant the runs, how many succeeded (a completed run
    whose session did not fail), the mean cost, tokens and duration of the sessions they produced;
    the winner has the best success rate, then the lowest mean cost."""
    definition = get(store, experiment_id)
    if definition is None:
        raise ApiError(404, f"unknown experiment '{experiment_id}'")
    every_run = runs(store, experiment_id)
    sessions = {each: store.session(each) for each in {run["resultSessionId"] for run in every_run} if each}
    variants = []
    for variant in definition["variants"]:
        mine = [run for run in every_run if run["variantName"] == variant["name"]]
        produced = [sessions.get(run["resultSessionId"]) or {} for run in mine]
        succeeded = sum(
            1
            for run, session in zip(mine, produced, strict=True)
            if run["status"] == "completed" and session.get("success") is not False
        )
        variants.append(
            {
                "variantName": variant["name"],
                "runs": len(mine),
                "completed": sum(1 for run in mine if run["status"] == "completed"),
                "failed": sum(1 for run in mine if run["status"] == "failed"),
                "successRate": succeeded / len(mine) if mine else None,
                "meanCost": _mean([session.get("estimatedCost") for session in produced]),
                "meanTokens": _mean([session.get("totalTokens") for session in produced]),
                "meanDurationMs": _mean([session.get("durationMs") for session in produced]),
            }
        )
    ranked = sorted(
        (each for each in variants if each["runs"]),
        key=lambda each: (
            -each["successRate"],
            each["meanCost"] if each["meanCost"] is not None else float("inf"),
        ),
    )
    return {
        "experimentId": experiment_id,
        "name": definition["name"],
        "status": definition["status"],
        "variants": variants,
        "winner": ranked[0]["variantName"] if ranked else None,
    }
