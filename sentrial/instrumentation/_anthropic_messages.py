"""The Messages API read in the GenAI conventions' terms: a request's parameters, messages and
system prompt, and a ``Message`` answer with its usage."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sentrial import semconv as sc
from sentrial._values import json_text
from sentrial.instrumentation._llm import LlmResult, capture_content
from sentrial.instrumentation._parts import (
    as_integer,
    as_number,
    as_text,
    get_field,
    json_array,
    text_answer_json,
    text_message_json,
    text_part_json,
)


def _strings(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _items(value: Any) -> list[Any] | None:
    """The items of a list or tuple; None for anything else (a user's generator must not be consumed)."""
    return list(value) if isinstance(value, (list, tuple)) else None


# --- the request ----------------------------------------------------------------------------
_PARAMETERS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "max_tokens": (sc.GEN_AI_REQUEST_MAX_TOKENS, as_integer),
    "temperature": (sc.GEN_AI_REQUEST_TEMPERATURE, as_number),
    "top_p": (sc.GEN_AI_REQUEST_TOP_P, as_number),
    "top_k": (sc.GEN_AI_REQUEST_TOP_K, as_integer),
    "stop_sequences": (sc.GEN_AI_REQUEST_STOP_SEQUENCES, _strings),
}


def request_parameters(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A request's known parameters under their attributes, each as a value of its kind."""
    # Recent SDKs dropped temperature/top_p/top_k from the signature; they still reach the API via
    # extra_body, which the SDK merges over the call's own arguments: read last, it wins here too.
    # One pass over what was passed.
    extra_body = kwargs.get("extra_body")
    sources = (kwargs, extra_body) if isinstance(extra_body, Mapping) else (kwargs,)
    parameters: dict[str, Any] = {}
    for source in sources:
        for name, value in source.items():
            known = _PARAMETERS.get(name)
            if known is not None and (converted := known[1](value)) is not None:
                parameters[known[0]] = converted
    return parameters


def text_block_part(text: Any) -> dict[str, Any]:
    """A text block's part; a text that is not a str gives an empty one."""
    return {"type": "text", "content": text if isinstance(text, str) else ""}


def _media_part(kind: str, source: Any) -> dict[str, Any]:
    """An image or document block without its payload: the raw bytes never go on a span."""
    source_type = get_field(source, "type")
    part: dict[str, Any] = {"modality": kind}
    if source_type in ("base64", "text"):
        part["type"] = "blob"
    elif source_type == "url":
        part["type"] = "uri"
        url = as_text(get_field(source, "url"))
        if url and not url.startswith("data:"):
            part["uri"] = url
    elif source_type == "file":
        part["type"] = "file"
        part["file_id"] = as_text(get_field(source, "file_id"))
    else:
        part["type"] = kind
    media_type = as_text(get_field(source, "media_type"))
    if media_type:
        part["mime_type"] = media_type
    return part


def _tool_response(content: Any) -> Any:
    if content is None or isinstance(content, str):
        return content
    blocks = _items(content)
    if blocks is None:
        return None
    parts = [_part(block) for block in blocks]
    if all(part["type"] == "text" for part in parts):
        return "".join(part["content"] for part in parts)
    return parts


def _part(block: Any) -> dict[str, Any]:
    """One content block (request param or response model) as a GenAI message part."""
    kind = get_field(block, "type")
    if kind == "text":
        return text_block_part(get_field(block, "text"))
    if kind in ("tool_use", "server_tool_use"):
        return {
            "type": "tool_call",
            "id": get_field(block, "id"),
            "name": get_field(block, "name"),
            "arguments": get_field(block, "input"),
        }
    if kind == "tool_result":
        return {
            "type": "tool_call_response",
            "id": get_field(block, "tool_use_id"),
            "response": _tool_response(get_field(block, "content")),
        }
    if kind in ("image", "document"):
        return _media_part(kind, get_field(block, "source"))
    if kind == "thinking":
        return {"type": "reasoning", "content": as_text(get_field(block, "thinking")) or ""}
    return {"type": kind if isinstance(kind, str) else "unknown"}


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [text_block_part(content)]
    blocks = _items(content)
    return [_part(block) for block in blocks] if blocks is not None else []


def input_messages(messages: Any) -> str | None:
    """The request's messages as JSON text; None when they cannot be read without consuming them."""
    items = _items(messages)
    if items is None:
        return None
    written = []
    for item in items:
        role, content = get_field(item, "role"), get_field(item, "content")
        if type(role) is str and type(content) is str:  # most messages: one text, written directly
            written.append(text_message_json(role, content))
        else:
            written.append(json_text({"role": role, "parts": _parts(content)}))
    return json_array(written)


def system_instructions(system: Any) -> str | list[dict[str, Any]] | None:
    """The request's system prompt as parts (JSON text for a plain text); None when there is none."""
    if isinstance(system, str):
        return json_array([text_part_json(system)]) if system else None
    return _parts(system) or None


# --- the response ---------------------------------------------------------------------------
def output_messages(parts: list[dict[str, Any]], stop_reason: str | None) -> list[dict[str, Any]]:
    """The answer's one assistant message, with why it stopped when known."""
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if stop_reason:
        message["finish_reason"] = stop_reason
    return [message]


def _answer_json(content: Any, stop_reason: str | None) -> str:
    """The answer's content blocks as the JSON text of the output messages."""
    blocks = _items(content)
    if stop_reason and blocks is not None and len(blocks) == 1 and get_field(blocks[0], "type") == "text":
        text = get_field(blocks[0], "text")
        if type(text) is str:  # most answers: one text block, written directly
            return json_array([text_answer_json(text, stop_reason)])
    return json_text(output_messages(_parts(content), stop_reason))


def usage_counts(usage: Any) -> dict[str, int | None]:
    """A ``usage``'s token counts as :class:`LlmResult` fields, input counted the GenAI way."""
    uncached = as_integer(get_field(usage, "input_tokens"))
    cache_read = as_integer(get_field(usage, "cache_read_input_tokens"))
    cache_creation = as_integer(get_field(usage, "cache_creation_input_tokens"))
    # The GenAI conventions count cache reads and writes as input; Anthropic's input_tokens does not.
    total_input = None if uncached is None else uncached + (cache_read or 0) + (cache_creation or 0)
    return {
        "input_tokens": total_input,
        "output_tokens": as_integer(get_field(usage, "output_tokens")),
        "cache_read_tokens": cache_read,
        "cache_creation_tokens": cache_creation,
        "reasoning_tokens": as_integer(
            get_field(get_field(usage, "output_tokens_details"), "thinking_tokens")
        ),
    }


def message_result(message: Any) -> LlmResult:
    """A ``Message`` (model, stream snapshot or decoded JSON body) as the call's result."""
    stop_reason = as_text(get_field(message, "stop_reason"))
    output = None
    if capture_content():
        output = _answer_json(get_field(message, "content"), stop_reason)
    return LlmResult(
        response_model=as_text(get_field(message, "model")),
        response_id=as_text(get_field(message, "id")),
        finish_reasons=[stop_reason] if stop_reason else [],
        output_messages=output,
        **usage_counts(get_field(message, "usage")),
    )
