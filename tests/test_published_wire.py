"""What ours sends for the wire script equals what the published package sent
(tests/data/published_wire.json), field by field, apart from the differences listed here and in
docs/migrating.md ("Wire differences").

Ours may add fields to a request (``traceId``/``spanId``, totals); every field the published package
sent must be there with the same value (costs to within 1e-9 USD), and a field's value that is an
object must have the same keys.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from wire_support import run_script

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED: dict[str, Any] = json.loads((ROOT / "tests" / "data" / "published_wire.json").read_text())

# Field paths (list indexes left out; "SESSION KEY :: path" for one session only), each also a
# line of docs/migrating.md's "Wire differences" section.
WIRE_DIFFERENCES: dict[str, str] = {
    "w-async / w-async:<event> :: events.stateBefore.input": "an async interaction's state has its input",
    "w-async / w-async:<event> :: events.stateAfter.input": "an async interaction's state has its input",
    "events.metadata.started_at": "each event's timing, for nesting and timelines",
    "events.metadata.duration_ms": "each event's timing, for nesting and timelines",
    "events.metadata.parent_span_id": "each event's timing, for nesting and timelines",
    "events.metadata.parameters": "an LLM call's request parameters",
    "events.metadata.finish_reason": "why an LLM call's answer ended",
    "events.metadata.time_to_first_chunk_ms": "a streamed LLM call's first chunk",
}
_BODY = re.compile(r"(open|events|completions)\[\d+\]")


@pytest.fixture(scope="module")
def ours() -> dict[str, Any]:
    return run_script(sys.executable)


def _same(published: Any, mine: Any) -> bool:
    if isinstance(published, float) or isinstance(mine, float):
        return (
            isinstance(mine, (int, float))
            and isinstance(published, (int, float))
            and math.isclose(published, mine, rel_tol=1e-9, abs_tol=1e-9)
        )
    return type(published) is type(mine) and published == mine


def _listed(session: str, path: str) -> bool:
    general = re.sub(r"\[\d+\]", "", path)
    return general in WIRE_DIFFERENCES or f"{session} :: {general}" in WIRE_DIFFERENCES


def mismatches(session: str, published: Any, mine: Any, path: str = "") -> list[str]:
    """Where ``mine`` lacks or changes what ``published`` holds, as readable lines."""
    if _listed(session, path):
        return []
    if isinstance(published, dict):
        if not isinstance(mine, dict):
            return [f"{path}: published {published!r}, ours {mine!r}"]
        found = []
        if not _BODY.fullmatch(path):  # ours may add fields to a request, not to the values in it
            extra = sorted(set(mine) - set(published))
            found += [
                f"{path}.{key}: ours only ({mine[key]!r})"
                for key in extra
                if not _listed(session, f"{path}.{key}")
            ]
        for key, value in published.items():
            where = f"{path}.{key}" if path else key
            if key not in mine:
                if not _listed(session, where):
                    found.append(f"{where}: missing (published {value!r})")
                continue
            found += mismatches(session, value, mine[key], where)
        return found
    if isinstance(published, list) and path.split(".")[-1] in ("open", "events", "completions"):
        if not isinstance(mine, list) or len(mine) != len(published):
            count = len(mine) if isinstance(mine, list) else mine
            return [f"{path}: {len(published)} published, ours {count}"]
        found = []
        for n, (p, m) in enumerate(zip(published, mine, strict=True)):
            found += mismatches(session, p, m, f"{path}[{n}]")
        return found
    if isinstance(published, list):
        if not isinstance(mine, list) or len(mine) != len(published):
            return [f"{path}: published {published!r}, ours {mine!r}"]
        found = []
        for n, (p, m) in enumerate(zip(published, mine, strict=True)):
            found += mismatches(session, p, m, f"{path}[{n}]")
        return found
    return [] if _same(published, mine) else [f"{path}: published {published!r}, ours {mine!r}"]


@pytest.mark.parametrize("session", sorted(PUBLISHED))
def test_session_is_sent_as_published(ours: dict[str, Any], session: str) -> None:
    assert session in ours, f"no session {session!r}; ours has {sorted(ours)}"
    found = []
    for part in ("open", "events", "completions"):
        found += mismatches(session, PUBLISHED[session][part], ours[session][part], part)
    assert found == []


def _migrating_keys() -> set[str]:
    text = (ROOT / "docs" / "migrating.md").read_text()
    section = text.split("## Wire differences", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([^`]+)`", section, flags=re.MULTILINE))


def test_wire_differences_agree_with_the_migration_notes() -> None:
    assert _migrating_keys() == set(WIRE_DIFFERENCES)


@pytest.mark.parametrize("key", sorted(WIRE_DIFFERENCES))
def test_each_listed_wire_difference_is_real(ours: dict[str, Any], key: str) -> None:
    """A listed difference that no longer differs is taken off both lists."""
    session, _, path = key.rpartition(" :: ")
    sessions = [session] if session else sorted(PUBLISHED)
    saved = WIRE_DIFFERENCES.pop(key)
    try:
        found = [
            line
            for name in sessions
            for part in ("open", "events", "completions")
            for line in mismatches(name, PUBLISHED[name][part], ours[name][part], part)
        ]
    finally:
        WIRE_DIFFERENCES[key] = saved
    assert any(re.sub(r"\[\d+\]", "", line.split(":")[0]) == path for line in found), (
        f"{key} no longer differs"
    )
