"""A session's state, sent around each of its events as ``stateBefore`` and ``stateAfter``.

As sessions-api.md describes it: an interaction's state starts as ``{"input": <input>}`` (a session
opened with ``create_session`` starts empty); keys set with ``update_state`` join it before the next
event; a tool call (an LLM call too) then sets ``"{tool name}_result"`` to its output. The state is
kept per session, in the exporter's book of the session.
"""

from __future__ import annotations

from typing import Any


class SessionState:
    """One session's state, updated event by event in the order the events are sent."""

    __slots__ = ("values",)

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(initial) if initial else {}

    def around(self, body: dict[str, Any], updates: Any) -> None:
        """Set ``stateBefore`` and ``stateAfter`` of an event's body, and move the state on."""
        if isinstance(updates, dict):
            self.values.update(updates)
        body["stateBefore"] = dict(self.values)
        if body.get("eventType") == "tool_call":
            self.values[f"{body.get('toolName')}_result"] = body.get("toolOutput")
            body["stateAfter"] = dict(self.values)
        else:
            body["stateAfter"] = body["stateBefore"]
