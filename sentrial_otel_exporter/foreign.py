"""Spans of other instrumentations, put in the terms the mapping reads, and priced.

The official OpenTelemetry GenAI instrumentations already write the conventions' names (but no cost);
OpenInference, Traceloop (OpenLLMetry), older GenAI versions and the Vercel AI SDK (which Mastra
uses) spell tokens, messages and tool calls their own way. :func:`in_sentrial_terms` gives the
exporter a copy of such a span with the conventions' attributes, a cost from the price table, and for
a tool execution Sentrial's tool-call attributes. Spans the Sentrial SDK made (they carry a Sentrial
span kind) pass unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from sentrial_otel_exporter import pricing
from sentrial_otel_exporter import semconv as sc
from sentrial_otel_exporter.spans import attributes_of, copy_span

Attributes = Mapping[str, Any]

# --- names of other instrumentations ------------------------------------------------------------
OPENINFERENCE_TOOL_KIND = "TOOL"
OPENINFERENCE_TOOL_NAME = "tool.name"
OPENINFERENCE_INVOCATION_PARAMETERS = "llm.invocation_parameters"
TRACELOOP_SPAN_KIND = "traceloop.span.kind"
TRACELOOP_TOOL_KIND = "tool"
TRACELOOP_ENTITY_NAME = "traceloop.entity.name"
TRACELOOP_REQUEST_TYPE = "llm.request.type"
TRACELOOP_USAGE_PROMPT_TOKENS = "llm.usage.prompt_tokens"
TRACELOOP_USAGE_COMPLETION_TOKENS = "llm.usage.completion_tokens"
AI_SDK_TOOL_NAME = "ai.toolCall.name"
AI_SDK_TOOL_ARGS = ("ai.toolCall.args", "ai.toolCall.input")
AI_SDK_TOOL_RESULT = ("ai.toolCall.result", "ai.toolCall.output")
AI_SDK_PROMPT_MESSAGES = "ai.prompt.messages"
AI_SDK_RESPONSE_TEXT = "ai.response.text"
AI_SDK_MODEL_ID = "ai.model.id"
AI_SDK_MODEL_PROVIDER = "ai.model.provider"
AI_SDK_INPUT_TOKENS = ("ai.usage.inputTokens", "ai.usage.promptTokens")
AI_SDK_OUTPUT_TOKENS = ("ai.usage.outputTokens", "ai.usage.completionTokens")
# Traceloop's llm.request.type values that are LLM calls.
_TRACELOOP_LLM_TYPES = frozenset({"chat", "completion", "embedding"})


def is_llm_span(attrs: Attributes) -> bool:
    """True for an LLM call's span from any instrumentation Sentrial knows (not agent or tool spans)."""
    operation = attrs.get(sc.GEN_AI_OPERATION_NAME)
    if operation is not None:
        return operation in sc.LLM_OPERATIONS
    return (
        sc.GEN_AI_SYSTEM in attrs
        or attrs.get(sc.OPENINFERENCE_SPAN_KIND) in sc.OPENINFERENCE_LLM_KINDS
        or attrs.get(TRACELOOP_REQUEST_TYPE) in _TRACELOOP_LLM_TYPES
    )


_TOOL_CONTENT = (sc.GEN_AI_TOOL_CALL_ARGUMENTS, sc.GEN_AI_TOOL_CALL_RESULT)


def is_tool_span(attrs: Attributes) -> bool:
    """True for a tool execution's span of another instrumentation."""
    return (
        attrs.get(sc.GEN_AI_OPERATION_NAME) == sc.OPERATION_EXECUTE_TOOL
        or attrs.get(sc.OPENINFERENCE_SPAN_KIND) == OPENINFERENCE_TOOL_KIND
        or attrs.get(TRACELOOP_SPAN_KIND) == TRACELOOP_TOOL_KIND
        or AI_SDK_TOOL_NAME in attrs
    )


def in_sentrial_terms(span: ReadableSpan) -> ReadableSpan:
    """``span`` with the attributes the mapping reads, when another instrumentation made it."""
    attrs = attributes_of(span)
    if sc.SPAN_KIND in attrs:
        return span
    if is_llm_span(attrs):
        added = llm_attributes(attrs)
    elif is_tool_span(attrs):
        failed = span.status.status_code == StatusCode.ERROR
        added = tool_attributes(attrs, span.status.description if failed else None, failed)
    else:
        return span
    if not added:
        return span
    merged = {**added, **attrs}  # what the span says itself wins, but for a tool's arguments and
    for key in _TOOL_CONTENT:  # result, which the mapping reads as the JSON object text made here
        if key in added:
            merged[key] = added[key]
    return copy_span(span, attributes=merged)


def llm_attributes(attrs: Attributes) -> dict[str, Any]:
    """The conventions' attributes an LLM span lacks, read from its own spelling, and its cost."""
    added: dict[str, Any] = {}
    sources = [_from_traceloop(attrs), _from_ai_sdk(attrs)]
    if attrs.get(sc.OPENINFERENCE_SPAN_KIND) in sc.OPENINFERENCE_LLM_KINDS:
        sources.insert(0, _from_openinference(attrs))
    for values in sources:  # the first spelling that has a value wins
        for key, value in values.items():
            if value is not None and key not in attrs:
                added.setdefault(key, value)
    if sc.COST_USD not in attrs:
        cost = _cost({**added, **attrs})
        if cost is not None:
            added[sc.COST_USD] = cost
    return added


def tool_attributes(attrs: Attributes, error: str | None, failed: bool) -> dict[str, Any]:
    """Sentrial's tool-call attributes for another instrumentation's tool span."""
    name = (
        attrs.get(sc.GEN_AI_TOOL_NAME)
        or attrs.get(OPENINFERENCE_TOOL_NAME)
        or attrs.get(AI_SDK_TOOL_NAME)
        or attrs.get(TRACELOOP_ENTITY_NAME)
    )
    arguments = _first(attrs, (sc.GEN_AI_TOOL_CALL_ARGUMENTS, *AI_SDK_TOOL_ARGS))
    if arguments is None:
        arguments = _first(attrs, (sc.OPENINFERENCE_INPUT_VALUE, sc.TRACELOOP_ENTITY_INPUT))
    result = _first(attrs, (sc.GEN_AI_TOOL_CALL_RESULT, *AI_SDK_TOOL_RESULT))
    if result is None:
        result = _first(attrs, (sc.OPENINFERENCE_OUTPUT_VALUE, sc.TRACELOOP_ENTITY_OUTPUT))
    added: dict[str, Any] = {
        sc.SPAN_KIND: sc.KIND_TOOL_CALL,
        sc.GEN_AI_TOOL_NAME: name if isinstance(name, str) and name else "unknown",
        sc.GEN_AI_TOOL_CALL_ARGUMENTS: _json_text(arguments, "arguments"),
        sc.GEN_AI_TOOL_CALL_RESULT: _json_text(result, "result"),
    }
    if failed:
        problem: dict[str, Any] = {"message": error or "tool call failed"}
        if isinstance(attrs.get(sc.ERROR_TYPE_ATTRIBUTE), str):
            problem["type"] = attrs[sc.ERROR_TYPE_ATTRIBUTE]
        added[sc.TOOL_ERROR] = json.dumps(problem, ensure_ascii=False)
    return {key: value for key, value in added.items() if value is not None}


def _first(attrs: Attributes, names: tuple[str, ...]) -> Any:
    for name in names:
        if attrs.get(name) is not None:
            return attrs[name]
    return None


def _json_text(value: Any, key: str) -> str | None:
    """A tool's input or output as the JSON object text the mapping reads."""
    if value is None:
        return None
    if isinstance(value, bytes):  # an attribute may hold bytes: JSON text as UTF-8, most likely
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = value
    else:
        decoded = list(value) if isinstance(value, tuple) else value
    wrapped = decoded if isinstance(decoded, dict) else {key: decoded}
    return json.dumps(wrapped, ensure_ascii=False, default=str)


# The texts of an agent run's root span, in each instrumentation's spelling: (input, output).
_RUN_TEXTS = (
    (sc.OPENINFERENCE_INPUT_VALUE, sc.OPENINFERENCE_OUTPUT_VALUE),
    (sc.TRACELOOP_ENTITY_INPUT, sc.TRACELOOP_ENTITY_OUTPUT),
    ("mastra.agent_run.input", "mastra.agent_run.output"),
    ("ai.prompt", AI_SDK_RESPONSE_TEXT),
)


def run_texts(attrs: Attributes) -> tuple[str | None, str | None]:
    """What an agent run's root span says it was asked and answered (the session's user input and
    assistant output), from the GenAI messages or another instrumentation's attributes."""
    asked = _messages_content(attrs.get(sc.GEN_AI_INPUT_MESSAGES))
    answered = _messages_content(attrs.get(sc.GEN_AI_OUTPUT_MESSAGES))
    for input_name, output_name in _RUN_TEXTS:
        if asked is None and isinstance(attrs.get(input_name), str):
            asked = attrs[input_name]
        if answered is None and isinstance(attrs.get(output_name), str):
            answered = attrs[output_name]
    return _text_of(asked), _text_of(answered)


def _text_of(value: str | None) -> str | None:
    """A run's text; of a JSON result object, its ``text`` (``{"text": ..., "files": []}``)."""
    result = _loaded(value) if value is not None and value.startswith("{") else None
    if isinstance(result, dict) and isinstance(result.get("text"), str):
        return str(result["text"])
    return value


def _messages_content(value: Any) -> str | None:
    messages = _loaded(value)
    if not isinstance(messages, list):
        return None
    texts = [
        str(part.get("content"))
        for message in messages
        if isinstance(message, dict)
        for part in message.get("parts") or []
        if isinstance(part, dict) and part.get("type") == "text"
    ]
    return "".join(texts) if texts else None


# --- LLM spans in other spellings ------------------------------------------------------------------
def _from_openinference(attrs: Attributes) -> dict[str, Any]:
    kind = attrs.get(sc.OPENINFERENCE_SPAN_KIND)
    model = attrs.get(sc.OPENINFERENCE_MODEL_NAME)
    if model is None:  # a failed call has no answer to name the model: the request does
        parameters = _loaded(attrs.get(OPENINFERENCE_INVOCATION_PARAMETERS))
        model = parameters.get("model") if isinstance(parameters, dict) else None
    values: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: sc.OPERATION_EMBEDDINGS if kind == "EMBEDDING" else sc.OPERATION_CHAT,
        sc.GEN_AI_PROVIDER_NAME: _lower(
            attrs.get(sc.OPENINFERENCE_PROVIDER) or attrs.get(sc.OPENINFERENCE_SYSTEM)
        ),
        sc.GEN_AI_REQUEST_MODEL: model,
        sc.GEN_AI_USAGE_INPUT_TOKENS: attrs.get(sc.OPENINFERENCE_PROMPT_TOKENS),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: attrs.get(sc.OPENINFERENCE_COMPLETION_TOKENS),
    }
    prefix_role_content = (sc.OPENINFERENCE_MESSAGE_ROLE, sc.OPENINFERENCE_MESSAGE_CONTENT)
    values[sc.GEN_AI_INPUT_MESSAGES] = _messages_text(
        attrs, sc.OPENINFERENCE_INPUT_MESSAGES_PREFIX, *prefix_role_content
    )
    values[sc.GEN_AI_OUTPUT_MESSAGES] = _messages_text(
        attrs, sc.OPENINFERENCE_OUTPUT_MESSAGES_PREFIX, *prefix_role_content
    )
    return values


def _from_traceloop(attrs: Attributes) -> dict[str, Any]:
    """Traceloop and the GenAI conventions before 1.28: ``gen_ai.system``, prompt and usage names."""
    values: dict[str, Any] = {
        sc.GEN_AI_PROVIDER_NAME: _provider_of(attrs.get(sc.GEN_AI_SYSTEM)),  # "Anthropic", "openai.chat"
        sc.GEN_AI_USAGE_INPUT_TOKENS: _first(
            attrs, (sc.LEGACY_USAGE_PROMPT_TOKENS, TRACELOOP_USAGE_PROMPT_TOKENS)
        ),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: _first(
            attrs, (sc.LEGACY_USAGE_COMPLETION_TOKENS, TRACELOOP_USAGE_COMPLETION_TOKENS)
        ),
    }
    if sc.GEN_AI_OPERATION_NAME not in attrs:
        request_type = attrs.get(TRACELOOP_REQUEST_TYPE)
        embedding = request_type == "embedding"
        values[sc.GEN_AI_OPERATION_NAME] = sc.OPERATION_EMBEDDINGS if embedding else sc.OPERATION_CHAT
    role_content = (sc.LEGACY_MESSAGE_ROLE, sc.LEGACY_MESSAGE_CONTENT)
    values[sc.GEN_AI_INPUT_MESSAGES] = _messages_text(attrs, sc.LEGACY_PROMPT_PREFIX, *role_content)
    values[sc.GEN_AI_OUTPUT_MESSAGES] = _messages_text(attrs, sc.LEGACY_COMPLETION_PREFIX, *role_content)
    return values


def _from_ai_sdk(attrs: Attributes) -> dict[str, Any]:
    """The Vercel AI SDK's provider call spans (``ai.*.doGenerate`` / ``doStream``), as Mastra sends them."""
    values: dict[str, Any] = {
        sc.GEN_AI_REQUEST_MODEL: attrs.get(AI_SDK_MODEL_ID),
        sc.GEN_AI_PROVIDER_NAME: _provider_of(attrs.get(AI_SDK_MODEL_PROVIDER)),
        sc.GEN_AI_USAGE_INPUT_TOKENS: _first(attrs, AI_SDK_INPUT_TOKENS),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: _first(attrs, AI_SDK_OUTPUT_TOKENS),
    }
    prompt = _loaded(attrs.get(AI_SDK_PROMPT_MESSAGES))
    if isinstance(prompt, list):
        messages = [_ai_sdk_message(m) for m in prompt if isinstance(m, dict)]
        values[sc.GEN_AI_INPUT_MESSAGES] = json.dumps(messages, ensure_ascii=False) if messages else None
    text = attrs.get(AI_SDK_RESPONSE_TEXT)
    if isinstance(text, str):
        output = [{"role": "assistant", "parts": [{"type": "text", "content": text}]}]
        values[sc.GEN_AI_OUTPUT_MESSAGES] = json.dumps(output, ensure_ascii=False)
    return values


def _ai_sdk_message(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    parts: list[dict[str, Any]]
    if isinstance(content, str):
        parts = [{"type": "text", "content": content}]
    elif isinstance(content, list):
        parts = [
            {"type": "text", "content": part.get("text")}
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        ]
    else:
        parts = []
    return {"role": message.get("role"), "parts": parts}


def _provider_of(value: Any) -> Any:
    """``openai.chat`` / ``openai.responses`` (the AI SDK's provider ids) as ``openai``."""
    if not isinstance(value, str):
        return value
    lowered = value.lower()
    return lowered if lowered in sc.SHORT_PROVIDER_NAMES else lowered.partition(".")[0]


def short_provider(name: str) -> str:
    """The provider's name in Sentrial's tool names (``llm:{provider}:{model}``) and price table."""
    provider: str = _provider_of(name)
    return sc.SHORT_PROVIDER_NAMES.get(provider, provider)


def _messages_text(attrs: Attributes, prefix: str, role_key: str, content_key: str) -> str | None:
    """Flattened messages (``{prefix}{i}.{role_key}`` / ``{content_key}``) as GenAI messages JSON."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
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
    if not found:
        return None
    return json.dumps([found[i] for i in sorted(found)], ensure_ascii=False)


def _loaded(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _cost(attrs: Attributes) -> float | None:
    """The call's cost from the price table; None where the model or the tokens are unknown."""
    provider_name = attrs.get(sc.GEN_AI_PROVIDER_NAME) or attrs.get(sc.GEN_AI_SYSTEM)
    model = attrs.get(sc.GEN_AI_RESPONSE_MODEL) or attrs.get(sc.GEN_AI_REQUEST_MODEL)
    input_tokens = attrs.get(sc.GEN_AI_USAGE_INPUT_TOKENS)
    output_tokens = attrs.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS)
    if not isinstance(provider_name, str) or not isinstance(model, str):
        return None
    if not isinstance(input_tokens, int) and not isinstance(output_tokens, int):
        return None
    provider = short_provider(provider_name)
    cached = attrs.get(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS)
    written = attrs.get(sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS)
    try:
        return pricing.calculate_cost(
            provider,
            model,
            input_tokens if isinstance(input_tokens, int) else 0,
            output_tokens if isinstance(output_tokens, int) else 0,
            cached_input_tokens=cached if isinstance(cached, int) else 0,
            cache_creation_tokens=written if isinstance(written, int) else 0,
        )
    except (ValueError, TypeError):  # counts no price can be had for (negative, more cached than sent)
        return None
