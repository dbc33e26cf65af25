"""Tracing of the google-genai SDK (``from google import genai``).

Patched: ``Models.generate_content`` and ``Models.generate_content_stream`` (``client.models``),
and their twins on ``AsyncModels`` (``client.aio.models``). One span per public call, named
``generate_content {model}``; a call that the SDK turns into several requests (automatic function
calling, automatic continuation) is still one span, with the usage that the SDK reports for it.

Token usage as reported by Gemini: ``prompt_token_count`` includes the cached tokens
(``cached_content_token_count``), and the thinking tokens (``thoughts_token_count``) come on top of
``candidates_token_count``. Both are billed at the output price, so the span's output tokens are
candidates plus thoughts, and the reasoning tokens are recorded on their own as well (as OpenAI's
completion tokens include its reasoning tokens). Tool-use prompt tokens count as input.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from sentrial import semconv as sc
from sentrial.instrumentation._base import LlmInstrumentor, Patch
from sentrial.instrumentation._llm import LlmCall, LlmRequest, LlmResult
from sentrial.instrumentation._parts import (
    get_field,
    json_array,
    server_attributes,
    text_answer_json,
    text_message_json,
    text_part_json,
)
from sentrial.instrumentation._streams import TracedAsyncStream, TracedStream

_MODULE = "google.genai.models"

# GenerateContentConfig field -> GenAI request attribute.
_PARAMETERS = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "max_output_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "top_k": sc.GEN_AI_REQUEST_TOP_K,
    "seed": sc.GEN_AI_REQUEST_SEED,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
}
_ROLES = {"model": "assistant", "user": "user", "system": "system", "function": "tool", "tool": "tool"}
_MODALITIES = ("image", "audio", "video")


# --- reading SDK objects and plain dicts alike ----------------------------------------------------
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def _get(obj: Any, name: str) -> Any:
    """A field of a google-genai model or of the equivalent dict (snake_case or camelCase keys)."""
    value = get_field(obj, name)
    if value is None and isinstance(obj, dict):
        return obj.get(_camel(name))
    return value


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of an SDK value (enums by value, models as dicts, no raw bytes)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (bytes, bytearray)):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return _plain(dump(mode="json", exclude_none=True))
    return value


def _text_value(value: Any) -> str | None:
    """An enum or string as a lower-case string (finish reasons)."""
    if value is None:
        return None
    raw = value.value if isinstance(value, Enum) else value
    return str(raw).lower()


# --- parts and messages ---------------------------------------------------------------------------
def _modality(mime_type: Any) -> str | None:
    kind = str(mime_type or "").split("/", 1)[0]
    return kind if kind in _MODALITIES else None


def _media_part(kind: str, mime_type: Any, **extra: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"type": kind}
    if mime_type:
        part["mime_type"] = mime_type
    modality = _modality(mime_type)
    if modality:
        part["modality"] = modality
    part.update({k: v for k, v in extra.items() if v is not None})
    return part


def _tool_call_part(call: Any) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "id": _get(call, "id"),
        "name": _get(call, "name"),
        "arguments": _plain(_get(call, "args")),
    }


def _tool_response_part(response: Any) -> dict[str, Any]:
    part = {
        "type": "tool_call_response",
        "id": _get(response, "id"),
        "response": _plain(_get(response, "response")),
    }
    name = _get(response, "name")
    if name:
        part["name"] = name  # Gemini often links a result to its call by the function's name only
    return part


def _structured_part(part: Any) -> dict[str, Any] | None:
    """A part that is not plain text: tool call or result, media, code."""
    if (call := _get(part, "function_call")) is not None:
        return _tool_call_part(call)
    if (response := _get(part, "function_response")) is not None:
        return _tool_response_part(response)
    if (blob := _get(part, "inline_data")) is not None:
        return _media_part("blob", _get(blob, "mime_type"))  # the bytes stay out of the span
    if (file_data := _get(part, "file_data")) is not None:
        return _media_part("uri", _get(file_data, "mime_type"), uri=_get(file_data, "file_uri"))
    if (code := _get(part, "executable_code")) is not None:
        return {
            "type": "executable_code",
            "language": _plain(_get(code, "language")),
            "code": _get(code, "code"),
        }
    if (outcome := _get(part, "code_execution_result")) is not None:
        return {
            "type": "code_execution_result",
            "outcome": _plain(_get(outcome, "outcome")),
            "output": _get(outcome, "output"),
        }
    return None


def _part(part: Any) -> dict[str, Any] | None:
    """One Gemini part (string, Part, part dict, File, image) in the GenAI message format."""
    if isinstance(part, str):
        return {"type": "text", "content": part}
    text = _get(part, "text")
    if isinstance(text, str):
        return {"type": "reasoning" if _get(part, "thought") else "text", "content": text}
    structured = _structured_part(part)
    if structured is not None:
        return structured
    if _get(part, "uri") and _get(part, "mime_type"):  # an uploaded types.File
        return _media_part("uri", _get(part, "mime_type"), uri=_get(part, "uri"))
    if "image" in type(part).__name__.lower():  # a PIL image
        return {"type": "blob", "modality": "image"}
    return None


def _parts(parts: Any) -> list[dict[str, Any]]:
    items = parts if isinstance(parts, (list, tuple)) else [parts]
    return [converted for converted in map(_part, items) if converted is not None]


def _role(gemini_role: Any, parts: list[dict[str, Any]]) -> str:
    if parts and all(part["type"] == "tool_call_response" for part in parts):
        return "tool"
    if gemini_role is None:
        return "assistant" if parts and all(part["type"] == "tool_call" for part in parts) else "user"
    return _ROLES.get(str(gemini_role), str(gemini_role))


def _is_content(item: Any) -> bool:
    """Whether ``item`` is a whole message (Content or content dict) rather than one part."""
    if isinstance(item, dict):
        return "parts" in item or "role" in item
    return hasattr(item, "parts") and hasattr(item, "role")


def _message(role: Any, parts: Any) -> dict[str, Any]:
    converted = _parts(parts if parts is not None else [])
    return {"role": _role(role, converted), "parts": converted}


def input_messages(contents: Any) -> list[dict[str, Any]]:
    """``contents`` (a string, parts, Contents, dicts, or a list of them) as GenAI input messages.

    Consecutive loose parts make one message, as the SDK sends them.
    """
    items = contents if isinstance(contents, list) else [contents]
    messages: list[dict[str, Any]] = []
    loose: list[Any] = []
    for item in items:
        if not (_is_content(item) or isinstance(item, list)):
            loose.append(item)
            continue
        if loose:
            messages.append(_message(None, loose))
            loose = []
        if _is_content(item):
            messages.append(_message(_get(item, "role"), _get(item, "parts")))
        else:
            messages.append(_message("user", item))  # a nested list: the parts of one message
    if loose:
        messages.append(_message(None, loose))
    return messages


def _request_messages(contents: Any) -> list[dict[str, Any]] | str | None:
    """The input messages of a call; a lone string, the commonest ``contents``, straight as JSON text."""
    if isinstance(contents, str):
        return json_array([text_message_json("user", contents)])
    return input_messages(contents) if contents is not None else None


def _request_system(instruction: Any) -> list[dict[str, Any]] | str | None:
    """The system instructions of a call; a string straight as JSON text."""
    if isinstance(instruction, str):
        return json_array([text_part_json(instruction)])
    return system_instructions(instruction)


def system_instructions(instruction: Any) -> list[dict[str, Any]] | None:
    """A ``system_instruction`` (string, parts or Content) as GenAI system instruction parts."""
    if instruction is None:
        return None
    parts = _get(instruction, "parts") if _is_content(instruction) else instruction
    return _parts(parts) or None


# --- the request --------------------------------------------------------------------------------
def _provider(models: Any) -> str:
    """Vertex AI when the client was made with ``vertexai=True``, else the Gemini Developer API."""
    api_client = getattr(models, "_api_client", None)
    return sc.PROVIDER_VERTEX_AI if getattr(api_client, "vertexai", False) else sc.PROVIDER_GEMINI


def request_parameters(config: Any) -> dict[str, Any]:
    """The generation settings of a config (model or dict) as GenAI request attributes."""
    values = {attribute: _get(config, field) for field, attribute in _PARAMETERS.items()}
    stop = _get(config, "stop_sequences")
    if stop:
        values[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = tuple(str(s) for s in stop)
    return {k: v for k, v in values.items() if v is not None}


def _base_url(models: Any) -> Any:
    """The base URL the client of a ``Models`` / ``AsyncModels`` calls."""
    return getattr(getattr(getattr(models, "_api_client", None), "_http_options", None), "base_url", None)


def _describe(instance: Any, kwargs: dict[str, Any], stream: bool) -> LlmRequest:
    config = kwargs.get("config")
    contents = kwargs.get("contents")
    model = kwargs.get("model")
    return LlmRequest(
        provider=_provider(instance),
        operation=sc.OPERATION_GENERATE_CONTENT,
        model=str(model) if model is not None else None,
        parameters={**request_parameters(config), **server_attributes(_base_url(instance))},
        input_messages=_request_messages(contents),
        system_instructions=_request_system(_get(config, "system_instruction")),
        stream=stream,
    )


def describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """A ``generate_content`` call (its arguments are keyword-only)."""
    return _describe(instance, kwargs, stream=False)


def describe_stream(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """A ``generate_content_stream`` call."""
    return _describe(instance, kwargs, stream=True)


# --- the response -------------------------------------------------------------------------------
def _count(usage: Any, *fields: str) -> int | None:
    counts = [value for value in (_get(usage, field) for field in fields) if isinstance(value, int)]
    return sum(counts) if counts else None


def _apply_usage(result: LlmResult, usage: Any) -> None:
    if usage is None:
        return
    result.input_tokens = _count(usage, "prompt_token_count", "tool_use_prompt_token_count")
    result.output_tokens = _count(usage, "candidates_token_count", "thoughts_token_count")
    result.cache_read_tokens = _count(usage, "cached_content_token_count")
    result.reasoning_tokens = _count(usage, "thoughts_token_count")


def _output_message(parts: list[dict[str, Any]], finish_reason: str | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if finish_reason:
        message["finish_reason"] = finish_reason
    return message


def response_result(response: Any) -> LlmResult:
    """What one GenerateContentResponse reports."""
    result = LlmResult(
        response_model=_get(response, "model_version") or None,
        response_id=_get(response, "response_id") or None,
    )
    _apply_usage(result, _get(response, "usage_metadata"))
    candidates = _get(response, "candidates") or []
    messages = []
    for candidate in candidates:
        reason = _text_value(_get(candidate, "finish_reason"))
        if reason:
            result.finish_reasons.append(reason)
        parts = _get(_get(candidate, "content"), "parts") or []
        if len(candidates) == 1 and reason and (text := _lone_text(parts)) is not None:
            # Most answers: one text and why it finished, written straight as JSON text.
            result.output_messages = json_array([text_answer_json(text, reason)])
            return result
        messages.append(_output_message(_parts(parts), reason))
    result.output_messages = messages
    return result


def _lone_text(parts: Any) -> str | None:
    """The text of ``parts`` when they are one text part (not a thought), else None."""
    if not isinstance(parts, (list, tuple)) or len(parts) != 1:
        return None
    text = _get(parts[0], "text")
    return text if isinstance(text, str) and not _get(parts[0], "thought") else None


def finish(call: LlmCall, response: Any) -> Any:
    """End the span of a ``generate_content`` call; the response goes back untouched."""
    call.succeed(response_result(response))
    return response


class _Candidate:
    """The parts of one streamed candidate, with text deltas joined."""

    def __init__(self) -> None:
        self.parts: list[dict[str, Any]] = []
        self.finish_reason: str | None = None

    def add(self, part: dict[str, Any]) -> None:
        last = self.parts[-1] if self.parts else None
        if last is not None and part["type"] in ("text", "reasoning") and last["type"] == part["type"]:
            last["content"] += part["content"]
        else:
            self.parts.append(dict(part))


# Alike in shape only to the other providers' stream accumulators: each adds up its own chunks.
class StreamAccumulator:
    """Adds up the GenerateContentResponse chunks of a stream.

    Each chunk's usage is the running total so far (the SDK also sums the hops of a continued
    stream), so the latest usage wins.
    """

    def __init__(self) -> None:
        self._response_id: str | None = None
        self._model: str | None = None
        self._usage: Any = None
        self._candidates: dict[int, _Candidate] = {}

    def add(self, chunk: Any) -> None:
        """Take one chunk into account."""
        self._response_id = _get(chunk, "response_id") or self._response_id
        self._model = _get(chunk, "model_version") or self._model
        self._usage = _get(chunk, "usage_metadata") or self._usage
        for position, candidate in enumerate(_get(chunk, "candidates") or []):
            index = _get(candidate, "index")
            slot = self._candidates.setdefault(index if isinstance(index, int) else position, _Candidate())
            for part in _parts(_get(_get(candidate, "content"), "parts") or []):
                slot.add(part)
            slot.finish_reason = _text_value(_get(candidate, "finish_reason")) or slot.finish_reason

    def result(self) -> LlmResult:
        """What the chunks so far add up to."""
        result = LlmResult(response_model=self._model, response_id=self._response_id)
        _apply_usage(result, self._usage)
        slots = [self._candidates[index] for index in sorted(self._candidates)]
        result.finish_reasons = [slot.finish_reason for slot in slots if slot.finish_reason]
        result.output_messages = [_output_message(slot.parts, slot.finish_reason) for slot in slots]
        return result


def finish_stream(call: LlmCall, stream: Any) -> Any:
    """Hand the span of a ``generate_content_stream`` call to the returned iterator."""
    return TracedStream(stream, call, StreamAccumulator())


def finish_async_stream(call: LlmCall, stream: Any) -> Any:
    """Hand the span of an awaited ``aio.models.generate_content_stream`` call to its async iterator."""
    return TracedAsyncStream(stream, call, StreamAccumulator())


PATCHES: list[Patch] = [
    Patch(_MODULE, "Models", "generate_content", False, describe, finish, "models"),
    Patch(_MODULE, "Models", "generate_content_stream", False, describe_stream, finish_stream, "models"),
    Patch(_MODULE, "AsyncModels", "generate_content", True, describe, finish, "aio.models"),
    Patch(
        _MODULE,
        "AsyncModels",
        "generate_content_stream",
        True,
        describe_stream,
        finish_async_stream,
        "aio.models",
    ),
]


class GoogleGenAIInstrumentor(LlmInstrumentor):
    """Traces every google-genai client's ``generate_content`` calls, sync and async, streamed or not."""

    library = "google.genai"
    patches = PATCHES
    dependencies = ("google-genai >= 2.25",)  # verified with 2.25 and 3.6
