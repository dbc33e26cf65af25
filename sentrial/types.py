"""The kinds of event a session records, as the Sessions API names them."""

from __future__ import annotations

from enum import Enum


class EventType(str, Enum):
    """An event's ``eventType`` on the wire: a tool call, an LLM decision or an error."""

    TOOL_CALL = "tool_call"
    LLM_DECISION = "llm_decision"
    ERROR = "error"
