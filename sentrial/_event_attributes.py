"""The span attributes of a session, a decision, an error and a session's completion, from a call's arguments.

Pure functions: each argument is checked by the call's ``ArgumentChecker`` (which raises with
``fail_silently=False`` and otherwise logs and gives the nearest valid form), texts are capped at
``max_chars``, and an absent optional argument adds no attribute. The tool call's attributes are
built in ``EventCalls._tool_call`` itself: it is the hottest call, and a frame less counts.
"""

from __future__ import annotations

import time
from typing import Any

from sentrial import semconv
from sentrial._args import ArgumentChecker
from sentrial._values import cap_text, clean_text, to_json, truncation_marker
from sentrial.instrumentation._parts import text_answer_json, text_message_json


def content(check: ArgumentChecker, name: str, value: Any, max_chars: int) -> str | None:
    """A free-text argument, capped; a non-string is recorded as its JSON text."""
    if value is None:
        return None
    if isinstance(value, str):
        return cap_text(clean_text(value), max_chars)
    check.wrong_type(name, value, "a str")  # raises in strict mode, warns otherwise
    return to_json(value, max_chars)


def tool_call_times(
    check: ArgumentChecker, started_at: Any, ended_at: Any, duration_ms: Any
) -> tuple[int | None, int | None]:
    """The start and end of a tracked tool call's span in nanoseconds since the epoch, from the
    timing arguments of ``track_tool_call``; None for now. Any two of them fix the third (given
    all three, the duration is left out); given none, the span lasts no time, as before."""
    start, end = check.moment("started_at", started_at), check.moment("ended_at", ended_at)
    duration = check.number("duration_ms", duration_ms, low=0)
    if duration is not None and (start is None or end is None):
        if end is None:
            end = time.time_ns() if start is None else start + int(duration * 1e6)
        if start is None:
            start = end - int(duration * 1e6)
    if start is not None and end is not None and end < start:
        check.wrong_value("ended_at", ended_at, "no earlier than started_at")
        end = start
    return start, end


def messages_json(role: str, text: str, max_chars: int) -> str:
    """An agent's input (``role="user"``) or answer (``"assistant"``) as the conventions' messages
    attribute: one message of one text part, in JSON text of at most ``max_chars`` characters (the
    text is cut to fit, so that redaction and the exporter still read it as JSON)."""

    result = _messages_text(role, text)
    if len(result) <= max_chars:  # the common case: no marker to write
        return result
    marker = truncation_marker(len(text))
    while len(result) > max_chars and text:  # each round shortens the text: it ends
        keep = len(text) - (len(result) - max_chars) - len(marker)
        text = text[:keep] + marker if keep > 0 else ""
        result = _messages_text(role, text)
    return result


def _messages_text(role: str, text: str) -> str:
    """The JSON text of a list of one message (see :func:`messages_json`), of any length."""
    message = text_answer_json(text, "stop") if role == "assistant" else text_message_json(role, text)
    return f"[{message}]"


def _messages(
    check: ArgumentChecker, name: str, given: dict[str, Any], role: str, max_chars: int
) -> str | None:
    """The messages attribute of the free-text argument ``name``, if given."""
    text = content(check, name, given[name], max_chars)
    return None if text is None else messages_json(role, text, max_chars)


def present(values: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``values`` that are not None."""
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
    provider: str = semconv.OTHER,
) -> dict[str, Any]:
    """The attributes of a session's span, from arguments already checked; ``provider`` is the
    GenAI provider of the agent, when known (the conventions require one)."""
    attributes: dict[str, Any] = {  # names are recorded values too: none may hold megabytes
        semconv.SPAN_KIND: semconv.KIND_SESSION,
        semconv.SESSION_ID: session_id,
        semconv.SESSION_NAME: cap_text(name, max_chars),
        semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_INVOKE_AGENT,
        semconv.GEN_AI_AGENT_NAME: cap_text(agent_name, max_chars),
        semconv.GEN_AI_PROVIDER_NAME: provider,
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
    metadata: Any = None,
) -> dict[str, Any]:
    """The attributes of ``track_decision``'s span (arguments checked in the order of the signature)."""
    attributes: dict[str, Any] = {
        semconv.SPAN_KIND: semconv.KIND_DECISION,
        semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_PLAN,
        semconv.DECISION_REASONING: content(check, "reasoning", reasoning, max_chars) or "",
        semconv.COST_USD: check.number("estimated_cost", estimated_cost, low=0) or 0.0,
    }
    options = check.text_list("alternatives", alternatives)
    if options is not None:
        attributes[semconv.DECISION_ALTERNATIVES] = to_json(options, max_chars)
    if confidence is not None:
        confidence = check.number("confidence", confidence, low=0, high=1)
        if confidence is not None:
            attributes[semconv.DECISION_CONFIDENCE] = confidence
    if token_count is not None:
        token_count = check.integer("token_count", token_count)
        if token_count is not None:
            attributes[semconv.TOKEN_COUNT] = token_count
    if metadata is not None:
        extra = _metadata(check, metadata, max_chars)
        if extra is not None:
            attributes[semconv.METADATA] = extra
    return attributes


def _metadata(check: ArgumentChecker, metadata: Any, max_chars: int) -> str | None:
    """An optional metadata dict as JSON text."""
    extra = check.mapping("metadata", metadata, optional=True)
    return to_json(extra, max_chars) if extra is not None else None


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
        **present(
            {
                semconv.ERROR_TYPE: None if kind is None else cap_text(kind, max_chars),
                semconv.ERROR_TOOL_NAME: None if tool is None else cap_text(tool, max_chars),
                semconv.ERROR_STACK_TRACE: content(check, "stack_trace", stack_trace, max_chars),
            }
        ),
    }
    extra = _metadata(check, metadata, max_chars)
    if extra is not None:
        attributes[semconv.METADATA] = extra
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
    """The attributes a session's completion adds to its span. ``given`` holds the arguments of
    ``complete_session`` besides ``success`` by name, each checked on its own; one that is None, or
    left out, was not given."""
    attributes: dict[str, Any] = {semconv.SUCCESS: check.flag("success", success)}
    reason = given.get("failure_reason")
    if reason is not None and (reason := check.text("failure_reason", reason)) is not None:
        attributes[semconv.FAILURE_REASON] = cap_text(reason, max_chars)
    metrics = given.get("custom_metrics")  # checked in the signature's order, recorded last
    if metrics is not None:
        metrics = check.metrics("custom_metrics", metrics)
    for name, attribute, checked in _COMPLETION_NUMBERS:
        value = given.get(name)
        if value is not None and (value := checked(check, name, value)) is not None:
            attributes[attribute] = value
    for name, attribute, role in _COMPLETION_MESSAGES:
        if given.get(name) is not None:
            messages = _messages(check, name, given, role, max_chars)
            if messages is not None:
                attributes[attribute] = messages
    if metrics is not None:
        attributes[semconv.CUSTOM_METRICS] = to_json(metrics, max_chars)
    return attributes


def _cost(check: ArgumentChecker, name: str, value: Any) -> float | None:
    return check.number(name, value, low=0)


# complete_session's free-text arguments: (argument, attribute, the message's role)
_COMPLETION_MESSAGES = (
    ("user_input", semconv.GEN_AI_INPUT_MESSAGES, "user"),
    ("assistant_output", semconv.GEN_AI_OUTPUT_MESSAGES, "assistant"),
)

# complete_session's numeric arguments: (argument, attribute, check)
_COMPLETION_NUMBERS: tuple[tuple[str, str, Any], ...] = (
    ("estimated_cost", semconv.COST_USD, _cost),
    ("duration_ms", semconv.DURATION_MS, ArgumentChecker.integer),
    ("prompt_tokens", semconv.PROMPT_TOKENS, ArgumentChecker.integer),
    ("completion_tokens", semconv.COMPLETION_TOKENS, ArgumentChecker.integer),
    ("total_tokens", semconv.TOTAL_TOKENS, ArgumentChecker.integer),
)
