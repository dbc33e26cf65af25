"""A session's state, sent around each of its events as ``stateBefore`` and ``stateAfter``.

As sessions-api.md describes it: an interaction's state starts as ``{"input": <input>}`` (a session
opened with ``create_session`` starts empty); keys set with ``update_state`` (sent as a span of
their own) join it; a tool call (an LLM call too) sets ``"{tool name}_result"`` to its output. The
state is kept per session, in the exporter's book of the session.
"""

from __future__ import annotations

from typing import Any


class SessionState:
    """One session's state, updated event by event in the order the events are sent."""

    __slots__ = ("values",)

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(initial) if initial else {}

    def update(self, values: Any, replace: bool = False) -> None:
        """Set the keys of ``values`` (a dict; anything else is ignored), after clearing the state
        when ``replace``."""
        if replace:
            self.values = {}
        if isinstance(values, dict):
            self.values.update(values)

    def around(self, body: dict[str, Any]) -> None:
        """Set ``stateBefore`` and ``stateAfter`` of an event's body, and move the state on."""
        body["stateBefore"] = dict(self.values)
        if body.get("eventType") == "tool_call":
            self.values[f"{body.get('toolName')}_result"] = body.get("toolOutput")
            body["stateAfter"] = dict(self.values)
        else:
            body["stateAfter"] = body["stateBefore"]
