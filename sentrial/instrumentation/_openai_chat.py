"""Chat completions read in the GenAI conventions' terms: a request's messages and parameters, an
answer, and a stream's chunks added up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentrial import semconv as sc
from sentrial._values import json_text
from sentrial.instrumentation._llm import LlmResult
from sentrial.instrumentation._openai_values import (
    SYSTEM_ROLES,
    assistant_message,
    given,
    given_text,
    request_parameters,
    response_details,
)
from sentrial.instrumentation._parts import (
    as_integer,
    content_parts,
    json_array,
    text_answer_json,
    text_message_json,
    text_part,
    text_part_json,
    tool_call_part,
    tool_result,
)
from sentrial.instrumentation._parts import get_field as _get

_CHAT_PARAMETERS = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "seed": sc.GEN_AI_REQUEST_SEED,
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,  # the newer name: wins over max_tokens
    "stop": sc.GEN_AI_REQUEST_STOP_SEQUENCES,
    "service_tier": sc.OPENAI_REQUEST_SERVICE_TIER,
}
_MESSAGE_FIELDS = ("content", "refusal", "tool_calls", "function_call")  # of a chat message


def _stop_sequences(stop: Any) -> tuple[str, ...] | None:
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, (list, tuple)):
        return tuple(str(item) for item in stop)
    return None


def _chat_tool_call(call: Any) -> dict[str, Any]:
    function = _get(call, "function")
    if function is not None:
        return tool_call_part(_get(call, "id"), _get(function, "name"), _get(function, "arguments"))
    custom = _get(call, "custom")
    return tool_call_part(_get(call, "id"), _get(custom, "name"), _get(custom, "input"))


def _message_fields(message: Any) -> tuple[Any, Any, Any, Any]:
    """A chat message's content, refusal, tool_calls and function_call (each None when absent)."""
    if isinstance(message, dict):
        content, refusal, tool_calls, function_call = map(message.get, _MESSAGE_FIELDS)
        return content, refusal, tool_calls, function_call
    return (
        getattr(message, "content", None),
        getattr(message, "refusal", None),
        getattr(message, "tool_calls", None),
        getattr(message, "function_call", None),
    )


def _chat_message_parts(message: Any) -> list[dict[str, Any]]:
    content, refusal, tool_calls, function_call = _message_fields(message)
    parts = content_parts(content)
    if refusal:
        parts.append(text_part(refusal))
    if tool_calls:
        parts.extend(_chat_tool_call(call) for call in tool_calls)
    if function_call is not None:
        parts.append(tool_call_part(None, _get(function_call, "name"), _get(function_call, "arguments")))
    return parts


def chat_input(messages: Any) -> tuple[str | None, str | None]:
    """A chat call's messages and its system (and developer) instructions, as JSON text; None for
    messages that cannot be read and for no instructions."""
    if not isinstance(messages, (list, tuple)):
        return None, None  # a one-shot iterable is the SDK's to consume, not ours
    converted: list[str] = []
    system: list[str] = []
    for message in messages:
        if type(message) is dict and len(message) == 2 and type(content := message.get("content")) is str:
            role = message.get("role")  # most messages: {"role": ..., "content": "text"}
            if role in SYSTEM_ROLES:
                system.append(text_part_json(content))
                continue
            if role == "user" or role == "assistant":
                converted.append(text_message_json(role, content))
                continue
        role = _get(message, "role")
        if role in SYSTEM_ROLES:
            parts = content_parts(_get(message, "content"))
            system.extend(json_text(part) for part in parts if part["type"] == "text")
        elif role in ("tool", "function"):
            converted.append(json_text(tool_result(_get(message, "tool_call_id"), _get(message, "content"))))
        else:
            converted.append(json_text({"role": role, "parts": _chat_message_parts(message)}))
    return json_array(converted), json_array(system) if system else None


def chat_parameters(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A chat call's given parameters under their attributes."""
    parameters = request_parameters(kwargs, _CHAT_PARAMETERS)  # one pass over what the call passed
    if sc.GEN_AI_REQUEST_MAX_TOKENS in parameters and given(kwargs.get("max_completion_tokens")):
        parameters[sc.GEN_AI_REQUEST_MAX_TOKENS] = kwargs["max_completion_tokens"]
    if sc.GEN_AI_REQUEST_STOP_SEQUENCES in parameters:
        stop = _stop_sequences(parameters.pop(sc.GEN_AI_REQUEST_STOP_SEQUENCES))
        if stop:
            parameters[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = stop
    return parameters


def _add_chat_usage(result: LlmResult, usage: Any) -> LlmResult:
    """``result`` with the token counts of a chat completion's ``usage``."""
    # Response models, not dicts: plain getattr (the SDK's models leave out fields of other versions).
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    completion_details = getattr(usage, "completion_tokens_details", None)
    result.input_tokens = as_integer(getattr(usage, "prompt_tokens", None))
    result.output_tokens = as_integer(getattr(usage, "completion_tokens", None))
    result.cache_read_tokens = as_integer(getattr(prompt_details, "cached_tokens", None))
    result.cache_creation_tokens = as_integer(getattr(prompt_details, "cache_write_tokens", None))
    result.reasoning_tokens = as_integer(getattr(completion_details, "reasoning_tokens", None))
    return result


def _chat_answer_json(message: Any, finish_reason: Any) -> str:
    """One choice of a chat completion as the JSON text of an output message."""
    content, refusal, tool_calls, function_call = _message_fields(message)
    plain = not (refusal or tool_calls or function_call is not None)
    if plain and type(content) is str and (finish_reason is None or type(finish_reason) is str):
        return text_answer_json(content, finish_reason)  # most answers: one text, written directly
    return json_text(assistant_message(_chat_message_parts(message), finish_reason))


def chat_result(completion: Any) -> LlmResult:
    """A ``ChatCompletion`` as the call's result."""
    choices = getattr(completion, "choices", None) or ()
    if len(choices) > 1:
        choices = sorted(choices, key=lambda c: getattr(c, "index", None) or 0)
    messages = []
    finish_reasons = []
    for choice in choices:
        finish_reason = getattr(choice, "finish_reason", None)
        messages.append(_chat_answer_json(getattr(choice, "message", None), finish_reason))
        if finish_reason:
            finish_reasons.append(str(finish_reason))
    model, response_id = getattr(completion, "model", None), getattr(completion, "id", None)
    usage = getattr(completion, "usage", None)
    prompt_details = getattr(usage, "prompt_tokens_details", None)
    completion_details = getattr(usage, "completion_tokens_details", None)
    return LlmResult(  # by position, in the fields' order: keywords cost more on every call
        model if type(model) is str else given_text(model),
        response_id if type(response_id) is str else given_text(response_id),
        finish_reasons,
        as_integer(getattr(usage, "prompt_tokens", None)),
        as_integer(getattr(usage, "completion_tokens", None)),
        as_integer(getattr(prompt_details, "cached_tokens", None)),
        as_integer(getattr(prompt_details, "cache_write_tokens", None)),
        as_integer(getattr(completion_details, "reasoning_tokens", None)),
        json_array(messages) if choices else None,
    )


class _ChoiceState:
    """What the chunks of one choice added up to."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.refusal: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None

    def add_delta(self, delta: Any) -> None:
        if _get(delta, "content"):
            self.text.append(str(delta.content))
        if _get(delta, "refusal"):
            self.refusal.append(str(delta.refusal))
        for call in _get(delta, "tool_calls") or ():
            self._add_tool_call(
                as_integer(_get(call, "index")) or 0, _get(call, "id"), _get(call, "function")
            )
        if _get(delta, "function_call") is not None:
            self._add_tool_call(-1, None, delta.function_call)

    def _add_tool_call(self, index: int, call_id: Any, function: Any) -> None:
        state = self.tool_calls.setdefault(index, {"id": None, "name": None, "arguments": []})
        state["id"] = state["id"] or call_id
        state["name"] = state["name"] or _get(function, "name")
        if _get(function, "arguments"):
            state["arguments"].append(str(function.arguments))

    def message(self) -> dict[str, Any]:
        parts = [text_part("".join(self.text))] if self.text else []
        if self.refusal:
            parts.append(text_part("".join(self.refusal)))
        for _, call in sorted(self.tool_calls.items()):
            parts.append(tool_call_part(call["id"], call["name"], "".join(call["arguments"])))
        return assistant_message(parts, self.finish_reason)


class ChatStreamAccumulator:
    """Adds up ``ChatCompletionChunk``s: content and tool-call deltas per choice, finish reasons,
    model, id, and usage when the stream reports it."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._model: str | None = None
        self._usage: Any = None
        self._details: dict[str, Any] | None = None  # the service tier and fingerprint, as the chunks say
        self._choices: dict[int, _ChoiceState] = {}

    def add(self, chunk: Any) -> None:
        """Take one chunk into account."""
        self._id = self._id or given_text(_get(chunk, "id"))
        self._model = self._model or given_text(_get(chunk, "model"))
        self._details = response_details(chunk) or self._details
        if _get(chunk, "usage") is not None:
            self._usage = chunk.usage
        for choice in _get(chunk, "choices") or ():
            state = self._choices.setdefault(as_integer(_get(choice, "index")) or 0, _ChoiceState())
            state.add_delta(_get(choice, "delta"))
            if _get(choice, "finish_reason"):
                state.finish_reason = str(choice.finish_reason)

    def result(self) -> LlmResult:
        """The chunks so far as one result."""
        choices = [state for _, state in sorted(self._choices.items())]
        result = LlmResult(
            response_model=self._model,
            response_id=self._id,
            finish_reasons=[c.finish_reason for c in choices if c.finish_reason],
            output_messages=[c.message() for c in choices] if choices else None,
            attributes=self._details,
        )
        return _add_chat_usage(result, self._usage)
