"""The Responses API read in the GenAI conventions' terms: a request's input items and
instructions, a response, and a stream's events added up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentrial import semconv as sc
from sentrial.instrumentation._llm import LlmResult
from sentrial.instrumentation._openai_values import (
    SYSTEM_ROLES,
    assistant_message,
    given_text,
    response_details,
)
from sentrial.instrumentation._parts import as_integer, content_parts, text_part, tool_call_part, tool_result
from sentrial.instrumentation._parts import get_field as _get

RESPONSES_PARAMETERS = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "max_output_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "service_tier": sc.OPENAI_REQUEST_SERVICE_TIER,
}
"""The Responses API's parameters that a span records, under their attributes."""
_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


def responses_input(kwargs: Mapping[str, Any]) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """A Responses API call's input items as messages, and its instructions."""
    system = [text_part(kwargs["instructions"])] if isinstance(kwargs.get("instructions"), str) else []
    items = kwargs.get("input")
    if isinstance(items, str):
        return [{"role": "user", "parts": [text_part(items)]}], system
    if not isinstance(items, (list, tuple)):
        return None, system
    messages: list[dict[str, Any]] = []
    for item in items:
        _add_input_item(messages, system, item)
    return messages, system


def _add_input_item(messages: list[dict[str, Any]], system: list[dict[str, Any]], item: Any) -> None:
    kind = _get(item, "type")
    role = _get(item, "role")
    if role is not None and kind in (None, "message"):
        parts = content_parts(_get(item, "content"))
        if role in SYSTEM_ROLES:
            system.extend(p for p in parts if p["type"] == "text")
        else:
            messages.append({"role": role, "parts": parts})
    elif kind in ("function_call", "custom_tool_call"):
        arguments = _get(item, "arguments") if kind == "function_call" else _get(item, "input")
        part = tool_call_part(_get(item, "call_id"), _get(item, "name"), arguments)
        if messages and messages[-1]["role"] == "assistant":
            messages[-1]["parts"].append(part)
        else:
            messages.append({"role": "assistant", "parts": [part]})
    elif kind in ("function_call_output", "custom_tool_call_output"):
        messages.append(tool_result(_get(item, "call_id"), _get(item, "output")))


def _responses_output_parts(output: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in output or ():
        kind = _get(item, "type")
        if kind == "message":
            parts.extend(content_parts(_get(item, "content")))
        elif kind == "function_call":
            parts.append(tool_call_part(_get(item, "call_id"), _get(item, "name"), _get(item, "arguments")))
        elif kind == "custom_tool_call":
            parts.append(tool_call_part(_get(item, "call_id"), _get(item, "name"), _get(item, "input")))
        elif kind == "reasoning":
            summary = "".join(str(_get(s, "text") or "") for s in _get(item, "summary") or ())
            if summary:
                parts.append({"type": "reasoning", "content": summary})
        elif isinstance(kind, str) and kind.endswith("_call"):  # a built-in tool: web search, ...
            parts.append({"type": "tool_call", "id": _get(item, "id"), "name": kind})
    return parts


def _responses_usage(usage: Any) -> dict[str, int | None]:
    input_details = _get(usage, "input_tokens_details")
    return {
        "input_tokens": as_integer(_get(usage, "input_tokens")),
        "output_tokens": as_integer(_get(usage, "output_tokens")),
        "cache_read_tokens": as_integer(_get(input_details, "cached_tokens")),
        "cache_creation_tokens": as_integer(_get(input_details, "cache_write_tokens")),
        "reasoning_tokens": as_integer(_get(_get(usage, "output_tokens_details"), "reasoning_tokens")),
    }


def _responses_finish_reason(response: Any, output: Any) -> str | None:
    status = _get(response, "status")
    if status == "completed":
        kinds = {_get(item, "type") for item in output or ()}
        return "tool_calls" if kinds & {"function_call", "custom_tool_call"} else "stop"
    if status == "incomplete":
        reason = _get(_get(response, "incomplete_details"), "reason")
        return _INCOMPLETE_REASONS.get(str(reason), str(reason or status))
    if status == "failed":
        return "error"
    return given_text(status)


def responses_result(response: Any, streamed_output: list[Any] | None = None) -> LlmResult:
    """A ``Response`` as the call's result (``streamed_output``: the items a stream delivered)."""
    output = _get(response, "output")
    if output is None:
        output = streamed_output  # stream events may leave the final response's output to the items
    finish = _responses_finish_reason(response, output)
    message = assistant_message(_responses_output_parts(output), finish)
    return LlmResult(
        response_model=given_text(_get(response, "model")),
        response_id=given_text(_get(response, "id")),
        finish_reasons=[finish] if finish else [],
        output_messages=[message] if output is not None else None,
        **_responses_usage(_get(response, "usage")),
    )


class ResponsesStreamAccumulator:
    """Adds up Responses API stream events: the final response when it arrives, else the output
    items and text / argument deltas received so far."""

    _LIFECYCLE = ("response.created", "response.queued", "response.in_progress")
    _FINAL = ("response.completed", "response.incomplete", "response.failed")
    _DELTAS = ("response.output_text.delta", "response.function_call_arguments.delta")

    def __init__(self) -> None:
        self._snapshot: Any = None
        self._final: Any = None
        self._items: dict[int, Any] = {}
        self._done: set[int] = set()
        self._deltas: dict[int, list[str]] = {}
        self._error = False

    def add(self, event: Any) -> None:
        """Take one event into account."""
        kind = _get(event, "type")
        index = as_integer(_get(event, "output_index"))
        if kind in self._LIFECYCLE:
            self._snapshot = event.response
        elif kind in self._FINAL:
            self._final = event.response
        elif kind in ("response.output_item.added", "response.output_item.done") and index is not None:
            self._items[index] = event.item
            if kind == "response.output_item.done":
                self._done.add(index)
        elif kind in self._DELTAS and index is not None:
            self._deltas.setdefault(index, []).append(str(_get(event, "delta") or ""))
        elif kind == "error":
            self._error = True

    def _output(self) -> list[Any]:
        """The output items as far as they arrived; an unfinished item carries its deltas."""
        output: list[Any] = []
        for index, item in sorted(self._items.items()):
            text = "".join(self._deltas.get(index, ()))
            kind = _get(item, "type")
            if index in self._done or kind not in ("message", "function_call"):
                output.append(item)
            elif kind == "message":
                output.append({"type": "message", "content": [{"type": "output_text", "text": text}]})
            else:
                call_id, name = _get(item, "call_id"), _get(item, "name")
                output.append({"type": "function_call", "call_id": call_id, "name": name, "arguments": text})
        return output

    def result(self) -> LlmResult:
        """The events so far as one result."""
        if self._final is not None:
            result = responses_result(self._final, self._output())
            result.attributes = response_details(self._final)
            return result
        output = self._output()
        message = assistant_message(_responses_output_parts(output), None)
        return LlmResult(
            response_model=given_text(_get(self._snapshot, "model")),
            response_id=given_text(_get(self._snapshot, "id")),
            finish_reasons=["error"] if self._error else [],
            output_messages=[message] if output else None,
            attributes=response_details(self._snapshot),
        )
