"""LangChain's callback arguments in Sentrial's terms: LLM requests and results in the GenAI
conventions, and the inputs and outputs of runs as JSON values and texts.

Everything is read by attribute and key with defaults, so a model class or a LangChain version that
leaves something out gives a span with less in it, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sentrial import semconv as sc
from sentrial._values import as_text
from sentrial.instrumentation._llm import LlmRequest, LlmResult
from sentrial.instrumentation._parts import media_part, text_part, tool_call_part, tool_result

# LangChain's ``ls_provider`` values, as ``gen_ai.provider.name`` values; others pass through.
_PROVIDERS = {
    "openai": sc.PROVIDER_OPENAI,
    "azure": sc.PROVIDER_AZURE_OPENAI,
    "anthropic": sc.PROVIDER_ANTHROPIC,
    "google_genai": sc.PROVIDER_GEN_AI,
    "google_vertexai": sc.PROVIDER_VERTEX_AI,
}
# LangChain's invocation parameters (and the ``ls_`` metadata) that the GenAI conventions name.
_PARAMETERS = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_output_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "top_k": sc.GEN_AI_REQUEST_TOP_K,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "seed": sc.GEN_AI_REQUEST_SEED,
}
_ROLES = {"human": "user", "ai": "assistant", "tool": "tool", "function": "tool"}
_SYSTEM_TYPES = ("system", "developer")
_MAX_DEPTH = 20
# Keys LangChain adds to a run's metadata for its own tracing; not the user's metadata.
_OWN_METADATA_PREFIXES = ("ls_", "lc_", "langgraph_", "checkpoint_")


# --- requests ------------------------------------------------------------------------------------------
def chat_request(messages: Sequence[Any], run: Mapping[str, Any], capture: bool) -> LlmRequest:
    """A chat model run (``on_chat_model_start``); ``run`` holds the callback's keyword arguments."""
    request = _request("chat", run)
    if capture:
        request.input_messages, request.system_instructions = genai_messages(messages)
    return request


def text_request(prompts: Sequence[str], run: Mapping[str, Any], capture: bool) -> LlmRequest:
    """A text-completion model run (``on_llm_start``)."""
    request = _request(sc.OPERATION_TEXT_COMPLETION, run)
    if capture:
        request.input_messages = [{"role": "user", "parts": [text_part(prompt)]} for prompt in prompts]
    return request


def _request(operation: str, run: Mapping[str, Any]) -> LlmRequest:
    metadata = run.get("metadata") or {}
    params = run.get("invocation_params") or {}
    raw_provider = metadata.get("ls_provider") or params.get("_type") or "langchain"
    model = metadata.get("ls_model_name") or params.get("model") or params.get("model_name")
    parameters = {name: params.get(key) for key, name in _PARAMETERS.items() if params.get(key) is not None}
    if sc.GEN_AI_REQUEST_TEMPERATURE not in parameters and metadata.get("ls_temperature") is not None:
        parameters[sc.GEN_AI_REQUEST_TEMPERATURE] = metadata["ls_temperature"]
    if sc.GEN_AI_REQUEST_MAX_TOKENS not in parameters and metadata.get("ls_max_tokens") is not None:
        parameters[sc.GEN_AI_REQUEST_MAX_TOKENS] = metadata["ls_max_tokens"]
    stop = params.get("stop") or metadata.get("ls_stop")
    if isinstance(stop, (list, tuple)) and stop:
        parameters[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(str(item) for item in stop)
    return LlmRequest(
        provider=_PROVIDERS.get(str(raw_provider), str(raw_provider)),
        operation=operation,
        model=str(model) if model else None,
        parameters={k: v for k, v in parameters.items() if isinstance(v, (bool, int, float, str, tuple))},
        stream=params.get("stream") is True,
    )


# --- messages in the GenAI format ----------------------------------------------------------------------
def genai_messages(messages: Sequence[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(input messages, system instructions) of a list of LangChain messages."""
    converted: list[dict[str, Any]] = []
    system: list[dict[str, Any]] = []
    for message in messages:
        kind = getattr(message, "type", None)
        if kind in _SYSTEM_TYPES:
            system.extend(
                part for part in _parts(getattr(message, "content", None)) if part["type"] == "text"
            )
        elif kind in ("tool", "function"):
            call_id = getattr(message, "tool_call_id", None) or getattr(message, "name", None)
            converted.append(tool_result(call_id, text_of(getattr(message, "content", None))))
        elif kind == "ai":
            converted.append({"role": "assistant", "parts": _assistant_parts(message)})
        else:
            converted.append({"role": _role(message), "parts": _parts(getattr(message, "content", None))})
    return converted, system


def _assistant_parts(message: Any) -> list[dict[str, Any]]:
    parts = [
        p for p in _parts(getattr(message, "content", None)) if p["type"] not in ("tool_use", "function_call")
    ]
    for call in getattr(message, "tool_calls", None) or []:
        parts.append(tool_call_part(call.get("id"), call.get("name"), call.get("args")))
    return parts


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None or content == "":
        return []
    if isinstance(content, str):
        return [text_part(content)]
    if isinstance(content, (list, tuple)):
        return [_part(block) for block in content]
    return [text_part(content)]


def _part(block: Any) -> dict[str, Any]:
    """One content block: OpenAI's shapes, Anthropic's, or LangChain's standard ones."""
    if isinstance(block, str):
        return text_part(block)
    if not isinstance(block, Mapping):
        return text_part(block)
    kind = str(block.get("type"))
    if kind == "text":
        return text_part(block.get("text"))
    if kind in ("thinking", "reasoning"):
        return {"type": "reasoning", "content": str(block.get(kind) or block.get("text") or "")}
    if kind == "image_url":
        image = block.get("image_url")
        return _media(image.get("url") if isinstance(image, Mapping) else image, "image", block)
    if kind in ("image", "audio", "video", "file"):
        return _media(block.get("url"), kind, block)
    return {"type": kind}


def _media(url: Any, modality: str, block: Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(url, str):
        return media_part(url, modality)
    return {"type": "blob", "modality": modality, "mime_type": block.get("mime_type")}  # never the bytes


def text_of(content: Any) -> str:
    """The text of a message's content (its text blocks joined)."""
    if isinstance(content, str):
        return content
    return "".join(str(part["content"]) for part in _parts(content) if part["type"] == "text")


# --- results -------------------------------------------------------------------------------------------
def llm_result(response: Any) -> LlmResult:
    """What a model run answered (``on_llm_end``'s ``LLMResult``), in GenAI terms."""
    generations = (getattr(response, "generations", None) or [[]])[0]
    llm_output = getattr(response, "llm_output", None) or {}
    first_message = getattr(generations[0], "message", None) if generations else None
    metadata = getattr(first_message, "response_metadata", None) or {}
    result = LlmResult(
        response_model=_first_text(
            metadata.get("model_name"),
            metadata.get("model"),
            llm_output.get("model_name"),
            llm_output.get("model"),
        ),
        response_id=_first_text(metadata.get("id"), llm_output.get("id"), _provider_id(first_message)),
        finish_reasons=[reason for reason in map(_finish_reason, generations) if reason],
        output_messages=[_output_message(generation) for generation in generations],
    )
    usage = getattr(first_message, "usage_metadata", None)
    if isinstance(usage, Mapping):
        result.input_tokens = _count(usage.get("input_tokens"))
        result.output_tokens = _count(usage.get("output_tokens"))
        details = usage.get("input_token_details") or {}
        result.cache_read_tokens = _count(details.get("cache_read")) or None
        result.cache_creation_tokens = _count(details.get("cache_creation")) or None
        result.reasoning_tokens = _count((usage.get("output_token_details") or {}).get("reasoning")) or None
    else:  # older models report usage in llm_output only
        counts = llm_output.get("token_usage") or llm_output.get("usage") or {}
        if isinstance(counts, Mapping):
            result.input_tokens = _count(counts.get("prompt_tokens", counts.get("input_tokens")))
            result.output_tokens = _count(counts.get("completion_tokens", counts.get("output_tokens")))
    return result


def _first_text(*values: Any) -> str | None:
    return next((value for value in values if isinstance(value, str) and value), None)


def _provider_id(message: Any) -> str | None:
    """A message's id when the provider set it (LangChain's own are ``run-...`` / ``lc_run-...``)."""
    value = getattr(message, "id", None)
    return value if isinstance(value, str) and not value.startswith(("run-", "lc_run-")) else None


def _finish_reason(generation: Any) -> str | None:
    info = getattr(generation, "generation_info", None) or {}
    metadata = getattr(getattr(generation, "message", None), "response_metadata", None) or {}
    return _first_text(info.get("finish_reason"), metadata.get("finish_reason"), metadata.get("stop_reason"))


def _output_message(generation: Any) -> dict[str, Any]:
    message = getattr(generation, "message", None)
    parts = _assistant_parts(message) if message is not None else [text_part(getattr(generation, "text", ""))]
    return {"role": "assistant", "parts": parts, "finish_reason": _finish_reason(generation)}


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


# --- inputs and outputs of runs ------------------------------------------------------------------------
def plain(value: Any, depth: int = 0) -> Any:
    """``value`` with LangChain's messages and documents as plain dicts (for JSON)."""
    if depth > _MAX_DEPTH or value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(key): plain(item, depth + 1) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item, depth + 1) for item in value]
    kind = getattr(value, "type", None)
    if isinstance(kind, str) and hasattr(value, "content"):  # a message
        message: dict[str, Any] = {"role": _role(value), "content": text_of(value.content)}
        if getattr(value, "tool_calls", None):
            message["tool_calls"] = plain(value.tool_calls, depth + 1)
        return message
    if hasattr(value, "page_content"):  # a document
        return {
            "page_content": value.page_content,
            "metadata": plain(getattr(value, "metadata", {}), depth + 1),
        }
    return value


def _role(message: Any) -> str:
    kind = getattr(message, "type", None)
    if kind in _SYSTEM_TYPES:
        return "system"
    if kind == "chat":
        return str(getattr(message, "role", None) or "user")
    return _ROLES.get(str(kind), "user")


_INPUT_KEYS = ("input", "question", "query", "messages")
_OUTPUT_KEYS = ("output", "answer", "result", "messages")


def run_text(value: Any, is_output: bool) -> str | None:
    """What a run's input (or output) says, as a session shows it: the text of a question or an
    answer where there is one (the last user, or assistant, message of a message list), else the
    value as JSON text."""
    return as_text(_what_it_says(plain(value), is_output))


def _what_it_says(value: Any, is_output: bool) -> Any:
    role = "assistant" if is_output else "user"
    for _ in range(3):  # {"messages": [...]} and {"input": "..."} nest at most this deep
        if (
            isinstance(value, list)
            and value
            and all(isinstance(item, dict) and "role" in item for item in value)
        ):
            texts = [item["content"] for item in value if item["role"] == role and item.get("content")]
            return texts[-1] if texts else value
        if isinstance(value, dict) and "role" in value and "content" in value:
            return value["content"]
        if isinstance(value, dict):
            key = next((k for k in (_OUTPUT_KEYS if is_output else _INPUT_KEYS) if k in value), None)
            if key is None and len(value) == 1:
                key = next(iter(value))
            if key is None:
                return value
            value = value[key]
            continue
        return value
    return value


def user_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The metadata a user gave a run (``config={"metadata": ...}``), without LangChain's own keys."""
    return {
        str(key): value
        for key, value in (metadata or {}).items()
        if not str(key).startswith(_OWN_METADATA_PREFIXES)
    }
