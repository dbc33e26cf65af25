"""Pure functions from finished spans to Sessions API calls (sessions-api.md).

Nothing here does I/O or keeps state: the exporter passes in what it knows (the lane of a
session, the running totals of its events) and sends what comes out.
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from sentrial_otel_exporter import foreign
from sentrial_otel_exporter import semconv as sc
from sentrial_otel_exporter.calls import ApiCall
from sentrial_otel_exporter.event_metadata import llm_call_details, span_timing
from sentrial_otel_exporter.spans import attributes_of
from sentrial_otel_exporter.state import SessionState

SESSIONS_PATH = "/api/sdk/sessions"
SESSION_PATH = "/api/sdk/sessions/{session}"
EVENTS_PATH = "/api/sdk/events"
MAX_SESSION_ID_CHARS = 1024
"""The longest session id sent: its GET/PATCH URL stays far below the 8 KB that servers and proxies
commonly refuse with 414. The local server refuses longer ids on create; the client refuses to send them."""

Attributes = Mapping[str, Any]
_MAX_INTEGER = 2**63 - 1  # the largest int an OTel attribute (int64) carries; JSON readers agree

logger = logging.getLogger("sentrial")
# (value, end) of the JSON text that starts at an index
_SCAN_JSON = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_JSON_WHITESPACE = " \t\n\r"


@dataclass  # a record of counters: alike in shape only to DeliveryStats
class SessionTotals:
    """What a session's events added up to, for the completion when the caller gave no totals."""

    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def add(self, usage: EventUsage) -> None:
        """Count one event in (prompt/completion tokens come from LLM calls only)."""
        self.cost += usage.cost
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.total_tokens += usage.total_tokens

    def fields(self) -> dict[str, Any]:
        """The totals as a completion's fields; None for those nothing was counted in. A cost
        summed past the largest float (JSON has no infinity) is cut to the largest float."""
        cost = self.cost
        if cost == math.inf:
            logger.warning("sentrial: a session's event costs add up past the largest float; sent as that")
            cost = sys.float_info.max
        return {
            "estimatedCost": round(cost, 10) if cost > 0 else None,
            "promptTokens": self.prompt_tokens or None,
            "completionTokens": self.completion_tokens or None,
            "totalTokens": self.total_tokens or None,
        }


@dataclass(frozen=True)
class EventUsage:
    """The cost and tokens one event reports."""

    cost: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


def is_genai_span(attrs: Attributes) -> bool:
    """True for an LLM span of any instrumentation Sentrial knows (see :mod:`foreign`)."""
    return foreign.is_llm_span(attrs)


def kind_in(attrs: Attributes) -> str | None:
    """The Sentrial kind (session, tool_call, ...) in a span's attributes, None for spans Sentrial
    does not map."""
    kind = attrs.get(sc.SPAN_KIND)
    return kind if isinstance(kind, str) else None


def session_in(attrs: Attributes) -> str | None:
    """The SDK's id of the session a span belongs to, from the span's attributes."""
    value = attrs.get(sc.SESSION_ID)
    return value if isinstance(value, str) and value else None


def parent_session_id(span: ReadableSpan) -> str | None:
    """The parent session of a session span, for sub-sessions."""
    value = attributes_of(span).get(sc.SESSION_PARENT_ID)
    return value if isinstance(value, str) and value else None


def is_open_snapshot(span: ReadableSpan) -> bool:
    """True for the snapshot of a session span taken when it started (it has no end yet)."""
    return span.end_time is None


def is_external(span: ReadableSpan) -> bool:
    """True for a session span that only completes a session opened elsewhere."""
    return bool(attributes_of(span).get(sc.SESSION_EXTERNAL))


# --- decoding attribute values --------------------------------------------------------------
def load_json(value: Any) -> Any:
    """The structure behind a JSON-text attribute (also given as bytes); text that is not JSON comes
    back as it is.

    Read with the decoder's scanner directly: ``json.loads`` costs as much again in Python calls
    around it as the scan of a message list itself, and an LLM span has several to read.
    """
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            decoded, end = _SCAN_JSON(value, 0)
        except (ValueError, StopIteration):
            return value
        if end != len(value) and value[end:].strip(_JSON_WHITESPACE):  # text after the JSON
            return value
        return decoded
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, bytes):  # an attribute may hold bytes: JSON text as UTF-8, most likely
        return load_json(value.decode("utf-8", "replace"))
    return value


def _object(value: Any) -> dict[str, Any]:
    decoded = load_json(value)
    if isinstance(decoded, dict):
        return decoded
    return {} if decoded is None else {"value": decoded}


def _number(value: Any) -> float | None:
    """A finite number attribute as a float; anything else (JSON has no infinity or NaN) is None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _MAX_INTEGER:
        return float(value)
    return None


def _integer(value: Any) -> int | None:
    """An int attribute within int64; anything else is None."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _MAX_INTEGER:
        return int(value)
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _put(body: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        body[key] = value


# --- sessions -------------------------------------------------------------------------------
def open_session_call(span: ReadableSpan, lane: str) -> ApiCall:
    """POST /api/sdk/sessions for the opening snapshot of a session span."""
    attrs = attributes_of(span)
    sid = str(attrs[sc.SESSION_ID])
    body: dict[str, Any] = {
        "id": sid,
        "name": _text(attrs.get(sc.SESSION_NAME)) or span.name,
        "agentName": _text(attrs.get(sc.GEN_AI_AGENT_NAME)) or "unknown",
        "userId": _text(attrs.get(sc.USER_ID)) or "unknown",
        "metadata": _session_metadata(attrs),
    }
    _put(body, "parentSessionId", _text(attrs.get(sc.SESSION_PARENT_ID)))
    _put(body, "convoId", _text(attrs.get(sc.GEN_AI_CONVERSATION_ID)))
    return ApiCall("POST", SESSIONS_PATH, body, session=sid, lane=lane, opens_session=True)


def _session_metadata(attrs: Attributes) -> dict[str, Any] | None:
    decoded = load_json(attrs.get(sc.METADATA))
    metadata: dict[str, Any] | None
    if isinstance(decoded, dict):
        metadata = decoded
    else:
        metadata = None if decoded is None else {"value": decoded}
    event_id = attrs.get(sc.EVENT_ID)
    if event_id is None:  # create_session(): the metadata as the caller gave it
        return metadata
    # begin(): the caller's metadata plus input, convo_id and event_id, as the reference client sends
    merged = dict(metadata or {})
    _put(merged, "input", _messages_text(attrs.get(sc.GEN_AI_INPUT_MESSAGES)))
    _put(merged, "convo_id", _text(attrs.get(sc.GEN_AI_CONVERSATION_ID)))
    merged["event_id"] = event_id
    return merged


def initial_state(span: ReadableSpan) -> SessionState:
    """A session's state when it opens: an interaction's holds its input (sessions-api.md)."""
    attrs = attributes_of(span)
    text = _messages_text(attrs.get(sc.GEN_AI_INPUT_MESSAGES))
    return SessionState({"input": text} if sc.EVENT_ID in attrs and text is not None else None)


# A completion's totals, each with the attribute by which its caller may give it and how it is read.
_TOTALS = {
    "estimatedCost": (sc.COST_USD, _number),
    "promptTokens": (sc.PROMPT_TOKENS, _integer),
    "completionTokens": (sc.COMPLETION_TOKENS, _integer),
    "totalTokens": (sc.TOTAL_TOKENS, _integer),
}
_TOKEN_TOTALS = ("promptTokens", "completionTokens", "totalTokens")


def _given_totals(attrs: Attributes) -> dict[str, Any]:
    """The totals the caller of a completion gave (None for each left to the events)."""
    return {key: read(attrs.get(attribute)) for key, (attribute, read) in _TOTALS.items()}


def complete_session_call(span: ReadableSpan, lane: str, totals: SessionTotals | None) -> ApiCall:
    """PATCH /api/sdk/sessions/{id} for a session span that ended."""
    attrs = attributes_of(span)
    sid = str(attrs[sc.SESSION_ID])
    success = attrs.get(sc.SUCCESS)
    success = success if isinstance(success, bool) else True
    body: dict[str, Any] = {"status": "completed" if success else "failed", "success": success}
    _put(body, "failureReason", _text(attrs.get(sc.FAILURE_REASON)))

    given = _given_totals(attrs)
    counted = totals.fields() if totals is not None else {}
    total = {key: counted.get(key) if value is None else value for key, value in given.items()}
    _put(body, "estimatedCost", total["estimatedCost"])
    metrics = load_json(attrs.get(sc.CUSTOM_METRICS))
    _put(body, "customMetrics", metrics if isinstance(metrics, dict) else None)

    duration = _integer(attrs.get(sc.DURATION_MS))
    if duration is None and not is_external(span) and span.start_time and span.end_time:
        duration = max(0, (span.end_time - span.start_time) // 1_000_000)
    _put(body, "durationMs", duration)
    for key in _TOKEN_TOTALS:
        _put(body, key, total[key])

    _put(body, "userInput", _messages_text(attrs.get(sc.GEN_AI_INPUT_MESSAGES)))
    _put(body, "assistantOutput", _messages_text(attrs.get(sc.GEN_AI_OUTPUT_MESSAGES)))
    return ApiCall("PATCH", SESSION_PATH, body, session=sid, lane=lane)


def totals_from_events(span: ReadableSpan) -> tuple[str, ...]:
    """The totals a session's completion takes from its events: those its caller gave none of."""
    return tuple(key for key, value in _given_totals(attributes_of(span)).items() if value is None)


def late_totals_call(
    sid: str, lane: str, outcome: dict[str, Any], filled: tuple[str, ...], totals: SessionTotals
) -> ApiCall:
    """PATCH a session again after an event that ended after its completion (a stream read after
    ``finish()``): the completion's ``outcome`` (status and success) with the totals it took from the
    events (``filled``) counted anew."""
    counted = totals.fields()
    body = dict(outcome)
    for key in filled:
        _put(body, key, counted[key])
    return ApiCall("PATCH", SESSION_PATH, body, session=sid, lane=lane)


# --- sessions per trace, when the exporter is used without the SDK ----------------------------------
def trace_session_id(span: ReadableSpan) -> str | None:
    """The session an LLM span outside any session belongs to: one per trace (as the SDK names it)."""
    return f"trace-{sc.trace_hex(span.context.trace_id)}" if span.context is not None else None


def is_local_root(span: ReadableSpan) -> bool:
    """True for a span that starts its trace in this process."""
    return span.parent is None or span.parent.is_remote


def open_trace_session_call(span: ReadableSpan, sid: str, agent_name: str) -> ApiCall:
    """POST /api/sdk/sessions for the session of a trace, opened by its first LLM span."""
    trace_hex = sid.removeprefix("trace-")
    body = {
        "id": sid,
        "name": f"{agent_name} trace {trace_hex[:8]}",
        "agentName": agent_name,
        "userId": "anonymous",
        "metadata": {"traceId": trace_hex},
    }
    return ApiCall("POST", SESSIONS_PATH, body, session=sid, lane=sid, opens_session=True)


@dataclass(frozen=True)
class TraceEnd:
    """How a trace's session ends: its outcome and how long it ran."""

    failure: str | None  # None: it succeeded
    duration_ms: int | None
    user_input: str | None = None
    assistant_output: str | None = None


def trace_end(root: ReadableSpan) -> TraceEnd:
    """The end of a trace whose local root span ended: failed when the root failed."""
    failure = None
    if root.status.status_code == StatusCode.ERROR:
        failure = root.status.description or f"{root.name} failed"
    duration = None
    if root.start_time and root.end_time:
        duration = max(0, (root.end_time - root.start_time) // 1_000_000)
    return TraceEnd(failure, duration, *foreign.run_texts(attributes_of(root)))


def complete_trace_session_call(sid: str, end: TraceEnd, totals: SessionTotals) -> ApiCall:
    """PATCH /api/sdk/sessions/{id} for a trace's session when the trace ended."""
    success = end.failure is None
    body: dict[str, Any] = {"status": "completed" if success else "failed", "success": success}
    _put(body, "failureReason", end.failure)
    counted = totals.fields()
    _put(body, "estimatedCost", counted["estimatedCost"])
    _put(body, "durationMs", end.duration_ms)
    for key in _TOKEN_TOTALS:
        _put(body, key, counted[key])
    _put(body, "userInput", end.user_input)
    _put(body, "assistantOutput", end.assistant_output)
    return ApiCall("PATCH", SESSION_PATH, body, session=sid, lane=sid)


def failed_llm_call(span: ReadableSpan) -> str | None:
    """Why an LLM span's call failed (it fails the trace's session), or None for a call that worked."""
    attrs = attributes_of(span)
    if span.status.status_code != StatusCode.ERROR or not is_genai_span(attrs):
        return None
    model = _text(attrs.get(sc.GEN_AI_REQUEST_MODEL)) or "LLM"
    return f"{model} call failed: {span.status.description or _text(attrs.get(sc.ERROR_TYPE_ATTRIBUTE))}"


# --- events ---------------------------------------------------------------------------------
def event_call(
    span: ReadableSpan, lane: str, session: str | None = None
) -> tuple[ApiCall, EventUsage] | None:
    """POST /api/sdk/events for a tool call, decision, error or LLM span; None for other spans.

    ``session`` overrides the span's own session attribute (a trace's session, see below).
    """
    attrs = attributes_of(span)
    kind = kind_in(attrs)
    sid = session or session_in(attrs)
    if sid is None:
        return None
    details: dict[str, Any] = {}
    if kind == sc.KIND_TOOL_CALL:
        body, usage = _tool_call_body(attrs)
    elif kind == sc.KIND_DECISION:
        body, usage = _decision_body(attrs)
    elif kind == sc.KIND_ERROR:
        body, usage = _error_body(attrs), EventUsage()
    elif kind == sc.KIND_LLM or (kind is None and is_genai_span(attrs)):
        body, usage = _llm_body(span, attrs)
        details = llm_call_details(attrs)
    else:
        return None
    body = {"sessionId": sid, **body, "stateBefore": {}, "stateAfter": {}}
    context = span.context
    if context is not None:
        _put(body, "traceId", _text(attrs.get(sc.LINKED_TRACE_ID)) or sc.trace_hex(context.trace_id))
        _put(body, "spanId", _text(attrs.get(sc.LINKED_SPAN_ID)) or sc.span_hex(context.span_id))
    else:
        _put(body, "traceId", _text(attrs.get(sc.LINKED_TRACE_ID)))
        _put(body, "spanId", _text(attrs.get(sc.LINKED_SPAN_ID)))
    metadata = load_json(attrs.get(sc.METADATA))
    # The span's timing first: what the body or the caller put under the same keys wins.
    body["metadata"] = {
        **span_timing(span),
        **details,
        **(body.get("metadata") or {}),
        **(metadata if isinstance(metadata, dict) else {}),
    }
    return ApiCall("POST", EVENTS_PATH, body, session=sid, lane=lane), usage


def _tool_call_body(attrs: Attributes) -> tuple[dict[str, Any], EventUsage]:
    cost = _number(attrs.get(sc.COST_USD)) or 0.0
    tokens = _integer(attrs.get(sc.TOKEN_COUNT))
    body: dict[str, Any] = {
        "eventType": "tool_call",
        "toolName": _text(attrs.get(sc.GEN_AI_TOOL_NAME)) or "unknown",
        "toolInput": _object(attrs.get(sc.GEN_AI_TOOL_CALL_ARGUMENTS)),
        "toolOutput": _object(attrs.get(sc.GEN_AI_TOOL_CALL_RESULT)),
        "reasoning": _text(attrs.get(sc.REASONING)),
        "estimatedCost": cost,
    }
    if sc.TOOL_ERROR in attrs:
        body["toolError"] = _object(attrs.get(sc.TOOL_ERROR))
    _put(body, "tokenCount", tokens)
    return body, EventUsage(cost=cost, total_tokens=tokens or 0)


def _decision_body(attrs: Attributes) -> tuple[dict[str, Any], EventUsage]:
    cost = _number(attrs.get(sc.COST_USD)) or 0.0
    tokens = _integer(attrs.get(sc.TOKEN_COUNT))
    alternatives = load_json(attrs.get(sc.DECISION_ALTERNATIVES))
    body: dict[str, Any] = {
        "eventType": "llm_decision",
        "reasoning": _text(attrs.get(sc.DECISION_REASONING)) or "",
        "alternativesConsidered": alternatives if isinstance(alternatives, list) else None,
        "confidence": _number(attrs.get(sc.DECISION_CONFIDENCE)),
        "estimatedCost": cost,
    }
    _put(body, "tokenCount", tokens)
    return body, EventUsage(cost=cost, total_tokens=tokens or 0)


def _error_body(attrs: Attributes) -> dict[str, Any]:
    error: dict[str, Any] = {"message": _text(attrs.get(sc.ERROR_MESSAGE)) or ""}
    _put(error, "type", _text(attrs.get(sc.ERROR_TYPE)))
    _put(error, "stack_trace", _text(attrs.get(sc.ERROR_STACK_TRACE)))
    body: dict[str, Any] = {"eventType": "error", "toolError": error}
    _put(body, "toolName", _text(attrs.get(sc.ERROR_TOOL_NAME)))
    return body


def _llm_body(span: ReadableSpan, attrs: Attributes) -> tuple[dict[str, Any], EventUsage]:
    """An LLM call as the tool call ``llm:{provider}:{model}`` of sessions-api.md."""
    provider_name = (
        _text(attrs.get(sc.GEN_AI_PROVIDER_NAME)) or _text(attrs.get(sc.GEN_AI_SYSTEM)) or "unknown"
    )
    provider = foreign.short_provider(provider_name)
    model = (
        _text(attrs.get(sc.GEN_AI_REQUEST_MODEL)) or _text(attrs.get(sc.GEN_AI_RESPONSE_MODEL)) or "unknown"
    ).removeprefix("models/")  # google-generativeai names models by resource name, "models/gemini-..."
    prompt = _integer(attrs.get(sc.GEN_AI_USAGE_INPUT_TOKENS)) or 0
    completion = _integer(attrs.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS)) or 0
    cost = _number(attrs.get(sc.COST_USD))
    tool_input: dict[str, Any] = {"model": model, "provider": provider}
    messages = _chat_messages(attrs)
    if messages is not None:
        tool_input = {"messages": messages, **tool_input}
    tool_output: dict[str, Any] = {
        "content": _messages_text(attrs.get(sc.GEN_AI_OUTPUT_MESSAGES)),
        "tokens": {"prompt": prompt, "completion": completion, "total": prompt + completion},
        "cost_usd": cost or 0.0,
    }
    body: dict[str, Any] = {
        "eventType": "tool_call",
        "toolName": f"llm:{provider}:{model}",
        "toolInput": tool_input,
        "toolOutput": tool_output,
        "reasoning": f"LLM call to {provider} {model}",
        "estimatedCost": cost or 0.0,
        "tokenCount": prompt + completion,
        # The call's latency among the rest, as the published client sends it (sessions-api.md).
        "metadata": {
            "provider": provider,
            "model": model,
            "duration_ms": _duration_ms(span),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
        },
    }
    if span.status.status_code == StatusCode.ERROR:
        error: dict[str, Any] = {"message": span.status.description or "LLM call failed"}
        _put(error, "type", _text(attrs.get(sc.ERROR_TYPE_ATTRIBUTE)))
        body["toolError"] = error
    usage = EventUsage(cost or 0.0, prompt, completion, prompt + completion)
    return body, usage


def _duration_ms(span: ReadableSpan) -> int:
    start, end = span.start_time, span.end_time
    return max(0, (end - start) // 1_000_000) if start and end else 0


def _chat_messages(attrs: Attributes) -> list[dict[str, Any]] | None:
    """The call's messages as simple ``{"role", "content"}`` dicts (system instructions first)."""
    raw = load_json(attrs.get(sc.GEN_AI_INPUT_MESSAGES))
    system = load_json(attrs.get(sc.GEN_AI_SYSTEM_INSTRUCTIONS))
    if raw is None and system is None:
        return None
    messages: list[dict[str, Any]] = []
    if isinstance(system, list) and system:
        messages.append({"role": "system", "content": _parts_text(system)})
    for message in raw if isinstance(raw, list) else []:
        messages.append(_simple_message(message) if isinstance(message, dict) else {"content": message})
    return messages


def _simple_message(message: dict[str, Any]) -> dict[str, Any]:
    parts = message.get("parts")
    if not isinstance(parts, list):
        return message  # not the GenAI parts format: keep it as the instrumentation wrote it
    simple: dict[str, Any] = {"role": message.get("role"), "content": _parts_text(parts)}
    calls = [
        {"id": p.get("id"), "name": p.get("name"), "arguments": p.get("arguments")}
        for p in parts
        if isinstance(p, dict) and p.get("type") == "tool_call"
    ]
    if calls:
        simple["tool_calls"] = calls
    results = [
        p.get("response") for p in parts if isinstance(p, dict) and p.get("type") == "tool_call_response"
    ]
    if results:
        simple["tool_results"] = results
    return simple


def _parts_text(parts: list[Any]) -> str:
    texts = [str(p.get("content")) for p in parts if isinstance(p, dict) and p.get("type") == "text"]
    return "".join(texts)


def _messages_text(value: Any) -> str | None:
    """The text of a messages attribute in the GenAI parts format (an LLM call's answer, an agent's
    input or output), all text parts joined; None when there is none."""
    messages = load_json(value)
    if not isinstance(messages, list):
        return None
    texts = [_parts_text(m.get("parts") or []) for m in messages if isinstance(m, dict)]
    return "".join(texts)
