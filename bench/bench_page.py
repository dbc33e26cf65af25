"""How fast the local server answers its pages and read API from a large store.

Fills an SQLite file with SESSIONS sessions of EVENTS events each (by default 10,000 × 50: nested tool
calls, LLM calls with messages, decisions, errors; a mix of statuses, agents and users), then times,
over HTTP against ``LocalServer`` on that file: one page of the sessions list (API and HTML, plain,
filtered by status, searched by text, sorted by cost, deep in the pages), the live-update fragment,
one session (API), one session's page and its live update (when the page is current, and when it
is not: the parts that changed). Baseline, in the same run: a request that reads nothing
(``GET /api/sdk/pii-config``) on the same connection: what HTTP and the server's request handling cost.

    python bench/bench_page.py                 # about 2 minutes the first time (the store is kept)
    python bench/bench_page.py --quick         # 1,000 sessions, fewer rounds
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from sentrial.server import LocalServer
from sentrial.server.store import SESSION_FIELDS, Store, event_timing

BUDGET_MS = 200.0
AGENTS = [f"agent-{name}" for name in ("support", "triage", "billing", "search", "planner", "coder")]
WORDS = ["password", "reset", "invoice", "refund", "shipping", "order", "account", "login", "timeout"]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def _events(rng: random.Random, session_id: str, count: int, start: float) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    parents: list[str] = []
    at = start
    for index in range(count):
        span = f"{rng.getrandbits(64):016x}"
        parent = rng.choice(parents) if parents and rng.random() < 0.5 else f"{rng.getrandbits(64):016x}"
        kind = index % 5
        timing = {
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1e6):06d}Z",
            "duration_ms": round(rng.uniform(0.1, 400), 3),
            "parent_span_id": parent,
        }
        at += rng.uniform(0.001, 0.2)
        base = {
            "sessionId": session_id,
            "spanId": span,
            "stateBefore": {},
            "stateAfter": {},
            "metadata": timing,
        }
        if kind == 0:
            event = {
                **base,
                "eventType": "tool_call",
                "toolName": "llm:openai:gpt-4o-mini",
                "toolInput": {
                    "messages": [
                        {"role": "system", "content": "You are a helpful support agent."},
                        {"role": "user", "content": _text(rng, 20)},
                    ],
                    "model": "gpt-4o-mini",
                    "provider": "openai",
                },
                "toolOutput": {
                    "content": _text(rng, 30),
                    "tokens": {"prompt": 40, "completion": 60, "total": 100},
                },
                "reasoning": None,
                "estimatedCost": 0.00004,
                "tokenCount": 100,
            }
        elif kind == 3:
            event = {**base, "eventType": "llm_decision", "reasoning": _text(rng, 12), "confidence": 0.8}
        elif kind == 4 and rng.random() < 0.1:
            event = {**base, "eventType": "error", "toolError": {"message": _text(rng, 6), "type": "Timeout"}}
        else:
            event = {
                **base,
                "eventType": "tool_call",
                "toolName": rng.choice(["search_kb", "lookup_order", "send_email"]),
                "toolInput": {"query": _text(rng, 6)},
                "toolOutput": {"results": [_text(rng, 8) for _ in range(3)]},
                "reasoning": None,
                "estimatedCost": 0.0,
            }
        parents.append(span)
        events.append(event)
    return events


def fill(path: str, sessions: int, events: int) -> None:
    """Write ``sessions`` sessions of ``events`` events each into a new store at ``path``."""
    rng = random.Random(42)
    store = Store(path)
    start = time.time() - sessions * 60

    def write(db: Any) -> None:
        db.execute("BEGIN")
        for number in range(sessions):
            sid = str(uuid.UUID(int=rng.getrandbits(128)))
            status = "failed" if number % 10 == 3 else "active" if number % 20 == 7 else "completed"
            created = start + number * 60
            row = dict.fromkeys(SESSION_FIELDS)
            question = _text(rng, 12)
            row.update(
                id=sid,
                name=f"support_request:{sid[:8]}",
                agentName=rng.choice(AGENTS),
                userId=f"user_{rng.randrange(200)}",
                metadata=json.dumps({"input": question}),
                status=status,
                success=None if status == "active" else int(status == "completed"),
                estimatedCost=round(rng.uniform(0, 0.02), 6),
                durationMs=rng.randrange(50, 20_000),
                totalTokens=rng.randrange(100, 5000),
                userInput=question,
                assistantOutput=_text(rng, 25),
                createdAt=time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(created)),
            )
            marks = ", ".join("?" * len(SESSION_FIELDS))
            db.execute(
                f"INSERT INTO sessions ({', '.join(SESSION_FIELDS)}) VALUES ({marks})",
                [row[name] for name in SESSION_FIELDS],
            )
            db.executemany(
                "INSERT INTO events (id, sessionId, spanId, body, receivedAt, startedAt, durationMs,"
                " parentSpanId) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        str(uuid.UUID(int=rng.getrandbits(128))),
                        sid,
                        e["spanId"],
                        json.dumps(e),
                        row["createdAt"],
                        *event_timing(e),
                    )
                    for e in _events(rng, sid, events, created)
                ],
            )
        db.execute("COMMIT")

    store.read(write)
    store.close()


def _timed(http: requests.Session, url: str, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        answer = http.get(url, timeout=60)
        times.append((time.perf_counter() - began) * 1000)
        answer.raise_for_status()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=50, help="events per session")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="1,000 sessions, 5 rounds")
    parser.add_argument("--store", help="the SQLite file to use (default: one kept in the temp directory)")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.rounds = 1000, 5
    path = args.store or os.path.join(
        tempfile.gettempdir(), f"sentrial-bench-page-{args.sessions}x{args.events}.db"
    )
    if not Path(path).exists():
        began = time.perf_counter()
        fill(path, args.sessions, args.events)
        print(f"filled {path} in {time.perf_counter() - began:.0f} s")
    size_mb = Path(path).stat().st_size / 1e6
    with LocalServer(db=path) as server, requests.Session() as http:
        listed = http.get(f"{server.url}/api/sdk/sessions?limit=1&order=desc", timeout=60).json()
        total, sid = listed["total"], listed["sessions"][0]["id"]
        version = http.get(f"{server.url}/live/sessions/{sid}", timeout=60).json()["version"]
        cases: list[tuple[str, str]] = [
            ("baseline: GET /api/sdk/pii-config", "/api/sdk/pii-config"),
            ("API list, first page (50)", "/api/sdk/sessions?limit=50&order=desc"),
            ("API list, status=failed", "/api/sdk/sessions?limit=50&status=failed"),
            ("API list, text search", "/api/sdk/sessions?limit=50&q=refund%20shipping"),
            ("API list, sorted by cost", "/api/sdk/sessions?limit=50&sort=cost&order=desc"),
            ("API list, page 100", "/api/sdk/sessions?limit=50&offset=4950"),
            ("API one session (50 events)", f"/api/sdk/sessions/{sid}"),
            ("page: sessions list", "/"),
            ("page: list, agent + search", "/?agent=agent-billing&q=invoice"),
            ("page: live update", "/live/sessions"),
            ("page: one session", f"/sessions/{sid}"),
            ("page: live session, current", f"/live/sessions/{sid}?{urlencode({'version': version})}"),
            ("page: live session, stale", f"/live/sessions/{sid}"),
        ]
        measure: Callable[[str], list[float]] = lambda p: _timed(http, server.url + p, args.rounds)  # noqa: E731
        for _, path_ in cases:  # warm-up
            _timed(http, server.url + path_, 2)
        results = [(name, measure(path_)) for name, path_ in cases]
    baseline = statistics.median(results[0][1])
    print(f"\nstore: {total:,} sessions × {args.events} events, {size_mb:.0f} MB; {args.rounds} rounds each")
    print(f"{'request':36} {'median ms':>10} {'max ms':>8} {'× baseline':>11} {'< 200 ms':>9}")
    for name, times in results:
        median = statistics.median(times)
        ok = "yes" if max(times) < BUDGET_MS else "NO"
        print(f"{name:36} {median:10.2f} {max(times):8.2f} {median / baseline:11.1f} {ok:>9}")


if __name__ == "__main__":
    main()
