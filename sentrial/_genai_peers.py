"""LLM spans of other instrumentations, in the attributes Sentrial maps (and priced).

The official OpenTelemetry GenAI instrumentations already speak the conventions Sentrial uses;
OpenInference and Traceloop (and older GenAI versions) spell tokens and messages their own way.
:func:`normalised` gives the exporter a copy in our terms, with a cost from the price table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from sentrial import semconv as sc
from sentrial._spans import copy_span
from sentrial_otel_exporter import pricing


def is_llm_span(attributes: Mapping[str, Any]) -> bool:
    """True for an LLM call's span from any instrumentation Sentrial knows (not agent or tool spans)."""
    operation = attributes.get(sc.GEN_AI_OPERATION_NAME)
    if operation is not None:
        return operation in sc.LLM_OPERATIONS
    return (
        sc.GEN_AI_SYSTEM in attributes
        or attributes.get(sc.OPENINFERENCE_SPAN_KIND) in sc.OPENINFERENCE_LLM_KINDS
    )


def normalised(span: ReadableSpan) -> ReadableSpan:
    """``span`` with our GenAI attributes and a cost filled in, when another instrumentation made it."""
    attributes = dict(span.attributes or {})
    if sc.SPAN_KIND in attributes or not is_llm_span(attributes):
        return span
    added: dict[str, Any] = {}
    if attributes.get(sc.OPENINFERENCE_SPAN_KIND) in sc.OPENINFERENCE_LLM_KINDS:
        added.update(_from_openinference(attributes))
    added.update(_from_legacy_genai(attributes))
    merged = {**added, **attributes}  # what the span says itself wins
    cost = _cost(merged)
    if cost is not None and sc.COST_USD not in merged:
        merged[sc.COST_USD] = cost
    if merged == attributes:
        return span
    return copy_span(span, attributes=merged)


def _from_openinference(attributes: Mapping[str, Any]) -> dict[str, Any]:
    kind = attributes.get(sc.OPENINFERENCE_SPAN_KIND)
    values: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: sc.OPERATION_EMBEDDINGS if kind == "EMBEDDING" else sc.OPERATION_CHAT,
        sc.GEN_AI_PROVIDER_NAME: _lower(
            attributes.get(sc.OPENINFERENCE_PROVIDER) or attributes.get(sc.OPENINFERENCE_SYSTEM)
        ),
        sc.GEN_AI_REQUEST_MODEL: attributes.get(sc.OPENINFERENCE_MODEL_NAME),
        sc.GEN_AI_USAGE_INPUT_TOKENS: attributes.get(sc.OPENINFERENCE_PROMPT_TOKENS),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: attributes.get(sc.OPENINFERENCE_COMPLETION_TOKENS),
    }
    inputs = _messages(
        attributes,
        sc.OPENINFERENCE_INPUT_MESSAGES_PREFIX,
        sc.OPENINFERENCE_MESSAGE_ROLE,
        sc.OPENINFERENCE_MESSAGE_CONTENT,
    )
    outputs = _messages(
        attributes,
        sc.OPENINFERENCE_OUTPUT_MESSAGES_PREFIX,
        sc.OPENINFERENCE_MESSAGE_ROLE,
        sc.OPENINFERENCE_MESSAGE_CONTENT,
    )
    values[sc.GEN_AI_INPUT_MESSAGES] = json.dumps(inputs, ensure_ascii=False) if inputs else None
    values[sc.GEN_AI_OUTPUT_MESSAGES] = json.dumps(outputs, ensure_ascii=False) if outputs else None
    return {k: v for k, v in values.items() if v is not None}


def _from_legacy_genai(attributes: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        sc.GEN_AI_PROVIDER_NAME: _lower(attributes.get(sc.GEN_AI_SYSTEM)),  # "Anthropic" and the like
        sc.GEN_AI_USAGE_INPUT_TOKENS: attributes.get(sc.LEGACY_USAGE_PROMPT_TOKENS),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: attributes.get(sc.LEGACY_USAGE_COMPLETION_TOKENS),
    }
    if sc.GEN_AI_OPERATION_NAME not in attributes and sc.GEN_AI_SYSTEM in attributes:
        values[sc.GEN_AI_OPERATION_NAME] = sc.OPERATION_CHAT
    inputs = _messages(attributes, sc.LEGACY_PROMPT_PREFIX, sc.LEGACY_MESSAGE_ROLE, sc.LEGACY_MESSAGE_CONTENT)
    outputs = _messages(
        attributes, sc.LEGACY_COMPLETION_PREFIX, sc.LEGACY_MESSAGE_ROLE, sc.LEGACY_MESSAGE_CONTENT
    )
    values[sc.GEN_AI_INPUT_MESSAGES] = json.dumps(inputs, ensure_ascii=False) if inputs else None
    values[sc.GEN_AI_OUTPUT_MESSAGES] = json.dumps(outputs, ensure_ascii=False) if outputs else None
    return {k: v for k, v in values.items() if v is not None}


def _messages(
    attributes: Mapping[str, Any], prefix: str, role_key: str, content_key: str
) -> list[dict[str, Any]]:
    """Flattened messages (``{prefix}{i}.{role_key}`` / ``{content_key}``) in the GenAI JSON format."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        if not key.startswith(prefix):
            continue
        index, _, field = key[len(prefix) :].partition(".")
        if not index.isdigit():
            continue
        message = found.setdefault(int(index), {"role": None, "parts": []})
        if field == role_key:
            message["role"] = value
        elif field == content_key:
            message["parts"] = [{"type": "text", "content": value}]
    return [found[i] for i in sorted(found)]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _cost(attributes: Mapping[str, Any]) -> float | None:
    provider_name = attributes.get(sc.GEN_AI_PROVIDER_NAME) or attributes.get(sc.GEN_AI_SYSTEM)
    model = attributes.get(sc.GEN_AI_RESPONSE_MODEL) or attributes.get(sc.GEN_AI_REQUEST_MODEL)
    input_tokens = attributes.get(sc.GEN_AI_USAGE_INPUT_TOKENS)
    output_tokens = attributes.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS)
    if not isinstance(provider_name, str) or not isinstance(model, str):
        return None
    if not isinstance(input_tokens, int) and not isinstance(output_tokens, int):
        return None
    provider = sc.SHORT_PROVIDER_NAMES.get(provider_name.lower(), provider_name.lower())
    try:
        return pricing.calculate_cost(
            provider,
            model,
            input_tokens if isinstance(input_tokens, int) else 0,
            output_tokens if isinstance(output_tokens, int) else 0,
        )
    except ValueError:
        return None
