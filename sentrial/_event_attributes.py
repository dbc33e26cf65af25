"""The span attributes of a session, a decision, an error and a session's completion, from a call's arguments.

Pure functions: each argument is checked by the call's ``ArgumentChecker`` (which raises with
``fail_silently=False`` and otherwise logs and gives the nearest valid form), texts are capped at
``max_chars``, and an absent optional argument adds no attribute. The tool call's attributes are
built in ``EventCalls._tool_call`` itself: it is the hottest call, and a frame less counts.
"""

from __future__ import annotations

from typing import Any

from sentrial import semconv
from sentrial._args import ArgumentChecker
from sentrial._values import cap_text, clean_text, to_json


def content(check: ArgumentChecker, name: str, value: Any, max_chars: int) -> str | None:
    """A free-text argument, capped; a non-string is recorded as its JSON text."""
    if value is None:
        return None
    if isinstance(value, str):
        return cap_text(clean_text(value), max_chars)
    check.wrong_type(name, value, "a str")  # raises in strict mode, warns otherwise
    return to_json(value, max_chars)


def _present(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def session_attributes(
    max_chars: int,
    *,
    session_id: str,
    name: str,
    agent_name: str,
    user_id: str,
    parent_session_id: str | None,
    convo_id: str | None,
    metadata: dict[str, Any] | None,
) -> dict[str, Any]:
    """The attributes of a session's span, from arguments already checked."""
    attributes: dict[str, Any] = {  # names are recorded values too: none may hold megabytes
        semconv.SPAN_KIND: semconv.KIND_SESSION,
        semconv.SESSION_ID: session_id,
        semconv.SESSION_NAME: cap_text(name, max_chars),
        semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_INVOKE_AGENT,
        semconv.GEN_AI_AGENT_NAME: cap_text(agent_name, max_chars),
        semconv.USER_ID: cap_text(user_id, max_chars),
    }
    if parent_session_id:
        attributes[semconv.SESSION_PARENT_ID] = parent_session_id
    if convo_id:
        attributes[semconv.GEN_AI_CONVERSATION_ID] = cap_text(convo_id, max_chars)
    if metadata is not None:
        attributes[semconv.METADATA] = to_json(metadata, max_chars)
    return attributes


def decision_attributes(
    check: ArgumentChecker,
    max_chars: int,
    *,
    reasoning: Any,
    alternatives: Any,
    confidence: Any,
    estimated_cost: Any,
    token_count: Any,
) -> dict[str, Any]:
    """The attributes of ``track_decision``'s span (arguments checked in the order of the signature)."""
    attributes: dict[str, Any] = {
        semconv.SPAN_KIND: semconv.KIND_DECISION,
        semconv.DECISION_REASONING: content(check, "reasoning", reasoning, max_chars) or "",
        semconv.COST_USD: check.number("estimated_cost", estimated_cost, low=0) or 0.0,
    }
    options = check.text_list("alternatives", alternatives)
    return {
        **attributes,
        **_present(
            {
                semconv.DECISION_ALTERNATIVES: to_json(options, max_chars) if options is not None else None,
                semconv.DECISION_CONFIDENCE: check.number("confidence", confidence, low=0, high=1),
                semconv.TOKEN_COUNT: check.integer("token_count", token_count),
            }
        ),
    }


def error_attributes(
    check: ArgumentChecker,
    max_chars: int,
    *,
    error_message: Any,
    error_type: Any,
    tool_name: Any,
    stack_trace: Any,
    metadata: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The attributes of ``track_error``'s span, and those of its standard exception event."""
    message = content(check, "error_message", error_message, max_chars) or ""
    kind, tool = check.text("error_type", error_type), check.text("tool_name", tool_name)
    attributes: dict[str, Any] = {
        semconv.SPAN_KIND: semconv.KIND_ERROR,
        semconv.ERROR_MESSAGE: message,
        **_present(
            {
                semconv.ERROR_TYPE: None if kind is None else cap_text(kind, max_chars),
                semconv.ERROR_TOOL_NAME: None if tool is None else cap_text(tool, max_chars),
                semconv.ERROR_STACK_TRACE: content(check, "stack_trace", stack_trace, max_chars),
            }
        ),
    }
    extra = check.mapping("metadata", metadata, optional=True)
    if extra is not None:
        attributes[semconv.METADATA] = to_json(extra, max_chars)
    exception = {
        semconv.EXCEPTION_TYPE: attributes.get(semconv.ERROR_TYPE) or "Error",
        semconv.EXCEPTION_MESSAGE: message,
    }
    if semconv.ERROR_STACK_TRACE in attributes:
        exception[semconv.EXCEPTION_STACKTRACE] = attributes[semconv.ERROR_STACK_TRACE]
    return attributes, exception


def completion_attributes(
    check: ArgumentChecker, max_chars: int, success: Any, given: dict[str, Any]
) -> dict[str, Any]:
    """The attributes a session's completion adds to its span, each argument of ``given`` (those
    of ``complete_session`` besides ``success``) checked on its own."""
    succeeded = check.flag("success", success)
    reason = check.text("failure_reason", given["failure_reason"])
    metrics = check.metrics("custom_metrics", given["custom_metrics"])
    return {
        semconv.SUCCESS: succeeded,
        **_present(
            {
                semconv.FAILURE_REASON: cap_text(reason, max_chars) if reason is not None else None,
                semconv.COST_USD: check.number("estimated_cost", given["estimated_cost"], low=0),
                semconv.DURATION_MS: check.integer("duration_ms", given["duration_ms"]),
                semconv.PROMPT_TOKENS: check.integer("prompt_tokens", given["prompt_tokens"]),
                semconv.COMPLETION_TOKENS: check.integer("completion_tokens", given["completion_tokens"]),
                semconv.TOTAL_TOKENS: check.integer("total_tokens", given["total_tokens"]),
                semconv.INPUT: content(check, "user_input", given["user_input"], max_chars),
                semconv.OUTPUT: content(check, "assistant_output", given["assistant_output"], max_chars),
                semconv.CUSTOM_METRICS: to_json(metrics, max_chars) if metrics is not None else None,
            }
        ),
    }
