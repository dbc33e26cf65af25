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
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from wire_support import run_script

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED: dict[str, Any] = json.loads((ROOT / "tests" / "data" / "published_wire.json").read_text())

# Field paths (list indexes left out; "SESSIONS :: path" for the sessions whose key matches the
# shell-style pattern SESSIONS only), each also a line of docs/migrating.md's "Wire differences"
# section. "events[LLM call]": ours records the model calls as events where the published did not.
WIRE_DIFFERENCES: dict[str, str] = {
    "w-async / w-async:<event> :: events.stateBefore.input": "an async interaction's state has its input",
    "w-async / w-async:<event> :: events.stateAfter.input": "an async interaction's state has its input",
    "events.metadata.started_at": "each event's timing, for nesting and timelines",
    "events.metadata.duration_ms": "each event's timing, for nesting and timelines",
    "events.metadata.parent_span_id": "each event's timing, for nesting and timelines",
    "events.metadata.parameters": "an LLM call's request parameters",
    "events.metadata.finish_reason": "why an LLM call's answer ended",
    "events.metadata.time_to_first_chunk_ms": "a streamed LLM call's first chunk",
    "w-langchain * :: events[LLM call]": "every handler records its model calls as LLM calls",
    "w-langchain * :: events.stateBefore": "a LangChain session's state has its LLM calls",
    "w-langchain * :: events.stateAfter": "a LangChain session's state has its LLM calls",
    "w-langchain * :: events.toolInput": "a LangChain tool call's input is its arguments",
    "w-langchain * :: events.toolOutput": "a tool's output that is not a dict is {'result': ...}",
    "w-claude-* :: events[LLM call]": "Claude Code's model usage is an LLM call per model",
    "w-claude-* :: events.metadata.tool_use_id": "a Claude Code tool call's metadata has its duration",
    "w-claude-* :: events.toolOutput": "a tool's output that is not a dict is {'result': ...}",
    "w-claude-* :: events.stateAfter.mcp__weather__get_weather_result": "the same, in the state",
    "w-claude-client / * :: completions.estimatedCost": "a Claude Code session's cost is its prompt's share",
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
    if general in WIRE_DIFFERENCES:
        return True
    scoped = (key.rpartition(" :: ") for key in WIRE_DIFFERENCES)
    return any(where == general and fnmatchcase(session, sessions) for sessions, _, where in scoped)


def _llm_call(event: Any) -> bool:
    return isinstance(event, dict) and str(event.get("toolName", "")).startswith("llm:")


def _without_added_llm_calls(
    session: str, published: list[Any], mine: list[Any]
) -> tuple[list[Any], list[str]]:
    """Ours' events minus the LLM calls it records where the published package recorded none.

    Listed as ``SESSION :: events[LLM call]``; unlisted, they are a mismatch."""
    if any(_llm_call(event) for event in published):
        return mine, []
    added = [event for event in mine if _llm_call(event)]
    if not added or _listed(session, "events[LLM call]"):
        return [event for event in mine if not _llm_call(event)], []
    names = [event["toolName"] for event in added]
    return [event for event in mine if not _llm_call(event)], [f"events[LLM call]: ours only {names}"]


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
        found = []
        if path == "events" and isinstance(mine, list):
            mine, found = _without_added_llm_calls(session, published, mine)
        if not isinstance(mine, list) or len(mine) != len(published):
            count = len(mine) if isinstance(mine, list) else mine
            return [*found, f"{path}: {len(published)} published, ours {count}"]
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
    pattern, _, path = key.rpartition(" :: ")
    sessions = [name for name in sorted(PUBLISHED) if fnmatchcase(name, pattern or "*")]
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
    # A difference listed for a field covers the fields inside it.
    differing = {re.sub(r"\[\d+\]", "", line.split(": ")[0]) for line in found}
    assert any(where == path or where.startswith(f"{path}.") for where in differing), (
        f"{key} no longer differs"
    )
