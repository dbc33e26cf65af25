"""What an event's ``metadata`` adds for a reader, from its span: when it started, how long it ran and
what it ran inside (every event), and an LLM call's request parameters and finish reason."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from sentrial_otel_exporter import semconv as sc

Attributes = Mapping[str, Any]


def span_timing(span: ReadableSpan) -> dict[str, Any]:
    """When an event's span started (``started_at``, ISO 8601 UTC), how long it ran (``duration_ms``)
    and the span it ran inside (``parent_span_id``): what a server needs to nest events and draw a
    timeline. Keys it cannot know are left out."""
    timing: dict[str, Any] = {}
    start, end, parent = span.start_time, span.end_time, span.parent  # properties: read once
    if start:
        timing["started_at"] = _iso_time(start)
        if end:
            timing["duration_ms"] = round(max(0, end - start) / 1_000_000, 3)
    if parent is not None:
        timing["parent_span_id"] = sc.span_hex(parent.span_id)
    return timing


# An LLM call's request parameters, as the GenAI conventions name them, by the name sent.
_LLM_PARAMETERS = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "top_k": sc.GEN_AI_REQUEST_TOP_K,
    "stop_sequences": sc.GEN_AI_REQUEST_STOP_SEQUENCES,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "seed": sc.GEN_AI_REQUEST_SEED,
}


def llm_call_details(attrs: Attributes) -> dict[str, Any]:
    """What an LLM call's event adds to its metadata for a reader: the request's ``parameters``
    (temperature, max_tokens, ...), why the answer ended (``finish_reason``) and, for a stream, when
    its first chunk came (``time_to_first_chunk_ms``), those known."""
    details: dict[str, Any] = {}
    parameters = {name: _plain(attrs[key]) for name, key in _LLM_PARAMETERS.items() if key in attrs}
    if parameters:
        details["parameters"] = parameters
    reasons = attrs.get(sc.GEN_AI_RESPONSE_FINISH_REASONS)
    if isinstance(reasons, (list, tuple)) and reasons:
        details["finish_reason"] = ", ".join(map(str, reasons))
    first_chunk = attrs.get(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)  # seconds, as the conventions say
    if (
        isinstance(first_chunk, (int, float))
        and not isinstance(first_chunk, bool)
        and math.isfinite(first_chunk)
    ):
        details["time_to_first_chunk_ms"] = round(first_chunk * 1000, 3)
    return details


# The latest second formatted, (seconds, text): the events of a session mostly start within the
# same second, and formatting a date is the dearest part of an event's timing. One tuple, replaced
# whole, so threads sharing it never see half of an update.
_latest_second: tuple[int, str] = (-1, "")


def _iso_time(unix_nanos: int) -> str:
    global _latest_second
    seconds, nanos = divmod(unix_nanos, 1_000_000_000)
    known, stamp = _latest_second
    if known != seconds:
        stamp = datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        _latest_second = (seconds, stamp)
    return f"{stamp}.{nanos // 1000:06d}Z"


def _plain(value: Any) -> Any:
    """An attribute value as JSON has it (a sequence attribute is a tuple)."""
    return list(value) if isinstance(value, tuple) else value
