"""Validation of request bodies against the Sessions API contract (``sessions-api.md``).

Each check raises ApiError(422) naming the offending field. An optional field may be absent or null.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sentrial.server.store import COMPLETION_FIELDS
from sentrial_otel_exporter.mapping import MAX_SESSION_ID_CHARS

EVENT_TYPES = ("tool_call", "llm_decision", "error")
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")


class ApiError(Exception):
    """A request that the server refuses: an HTTP status and a message for the JSON error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _invalid(field: str, expected: str) -> ApiError:
    return ApiError(422, f"field '{field}' must be {expected}")


def _present(body: dict[str, Any], field: str, required: bool) -> bool:
    if body.get(field) is not None:
        return True
    if required:
        raise ApiError(422, f"field '{field}' is required")
    return False


def _string(body: dict[str, Any], field: str, required: bool = False, nonempty: bool = False) -> None:
    if _present(body, field, required):
        value = body[field]
        if not isinstance(value, str) or (nonempty and not value):
            raise _invalid(field, "a non-empty string" if nonempty else "a string")


def _object(body: dict[str, Any], field: str, required: bool = False) -> None:
    if _present(body, field, required) and not isinstance(body[field], dict):
        raise _invalid(field, "an object")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(body: dict[str, Any], field: str, high: float | None = None) -> None:
    if _present(body, field, False):
        value = body[field]
        if not _is_number(value) or value < 0 or (high is not None and value > high):
            raise _invalid(field, f"a number between 0 and {high}" if high is not None else "a number >= 0")


def _integer(body: dict[str, Any], field: str) -> None:
    if _present(body, field, False):
        value = body[field]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise _invalid(field, "an integer >= 0")


def _hex(body: dict[str, Any], field: str, pattern: re.Pattern[str], length: int) -> None:
    if _present(body, field, False):
        value = body[field]
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise _invalid(field, f"a string of {length} hex digits")


def session_create(body: dict[str, Any]) -> dict[str, Any]:
    """Check a POST /api/sdk/sessions body; returns the fields to store."""
    _string(body, "id", nonempty=True)
    if len(body.get("id") or "") > MAX_SESSION_ID_CHARS:
        # Its GET/PATCH URL would be refused (414) by servers and proxies.
        raise _invalid("id", f"at most {MAX_SESSION_ID_CHARS} characters long")
    for field in ("name", "agentName", "userId"):
        _string(body, field, required=True)
    _object(body, "metadata")
    _string(body, "parentSessionId")
    _string(body, "convoId")
    fields = ("id", "name", "agentName", "userId", "metadata", "parentSessionId", "convoId")
    return {field: body.get(field) for field in fields}


def event(body: dict[str, Any]) -> dict[str, Any]:
    """Check a POST /api/sdk/events body; returns it unchanged (an event is stored as sent)."""
    _string(body, "sessionId", required=True, nonempty=True)
    _string(body, "eventType", required=True)
    event_type = body["eventType"]
    if event_type not in EVENT_TYPES:
        raise _invalid("eventType", "one of " + ", ".join(EVENT_TYPES))
    _object(body, "stateBefore", required=True)
    _object(body, "stateAfter", required=True)
    _hex(body, "traceId", _HEX32, 32)
    _hex(body, "spanId", _HEX16, 16)
    _object(body, "metadata")
    if event_type == "tool_call":
        _string(body, "toolName", required=True)
        _object(body, "toolInput", required=True)
        _object(body, "toolOutput", required=True)
        _string(body, "reasoning")
        _number(body, "estimatedCost")
        _object(body, "toolError")
        _integer(body, "tokenCount")
    elif event_type == "llm_decision":
        _string(body, "reasoning", required=True)
        alternatives = body.get("alternativesConsidered")
        if alternatives is not None and (
            not isinstance(alternatives, list) or not all(isinstance(a, str) for a in alternatives)
        ):
            raise _invalid("alternativesConsidered", "an array of strings")
        _number(body, "confidence", high=1)
        _number(body, "estimatedCost")
        _integer(body, "tokenCount")
    else:
        _object(body, "toolError", required=True)
        error = body["toolError"]
        if not isinstance(error.get("message"), str):
            raise _invalid("toolError.message", "a string")
        for key in ("type", "stack_trace"):
            if error.get(key) is not None and not isinstance(error[key], str):
                raise _invalid(f"toolError.{key}", "a string")
        _string(body, "toolName")
    return body


def session_complete(body: dict[str, Any]) -> dict[str, Any]:
    """Check a PATCH /api/sdk/sessions/{id} body; returns the fields to store."""
    _string(body, "status", required=True)
    if body["status"] not in ("completed", "failed"):
        raise _invalid("status", "'completed' or 'failed'")
    if not isinstance(body.get("success"), bool):
        raise _invalid("success", "a boolean")
    if (body["status"] == "failed") == body["success"]:
        raise ApiError(422, "field 'status' must be 'failed' exactly when 'success' is false")
    _string(body, "failureReason")
    _number(body, "estimatedCost")
    metrics = body.get("customMetrics")
    if metrics is not None and (
        not isinstance(metrics, dict) or not all(_is_number(value) for value in metrics.values())
    ):
        raise _invalid("customMetrics", "an object of name -> number")
    for field in ("durationMs", "promptTokens", "completionTokens", "totalTokens"):
        _integer(body, field)
    _string(body, "userInput")
    _string(body, "assistantOutput")
    return {field: body[field] for field in COMPLETION_FIELDS if body.get(field) is not None}
