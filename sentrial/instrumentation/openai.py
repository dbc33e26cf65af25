"""OpenAI and Azure OpenAI instrumentation: chat completions, the Responses API and embeddings.

Traced, sync and async alike: ``chat.completions.create`` (also ``stream=True``) and ``.parse``,
``responses.create`` (also ``stream=True``) and ``.parse``, and ``embeddings.create``. The SDK's
stream helpers ``chat.completions.stream(...)`` and ``responses.stream(...)`` make their request
through ``create(stream=True)`` when entered, so they are traced by it, once; leaving their
``with`` block early ends the span with what had arrived (resuming a stored response with
``responses.stream(response_id=...)`` makes no new LLM call and is not traced). Calls through
``with_raw_response`` and ``with_streaming_response`` are traced too (the latter through the
response's ``parse()``). Calls of Azure clients get the provider ``azure.ai.openai``.

Usage of streamed chat completions: OpenAI sends token counts in a stream only when the request
has ``stream_options={"include_usage": True}``, and the request is never changed unless you opt in
with :func:`set_include_stream_usage` (or ``OpenAIInstrumentor().instrument(include_stream_usage=True)``).
Then streamed chat calls that set no ``stream_options`` get that option, so their spans carry
tokens and cost. Mind that the last chunk of such a stream has an empty ``choices`` list.
Responses API streams always report usage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openai

from sentrial import semconv as sc
from sentrial._values import json_text
from sentrial.instrumentation._base import LlmInstrumentor, Patch
from sentrial.instrumentation._late_responses import follow_late_response
from sentrial.instrumentation._llm import LlmCall, LlmRequest, LlmResult, capture_content
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
from sentrial.instrumentation._streams import Accumulator, Proxy, TracedAsyncStream, TracedStream

try:  # what ``with_raw_response`` returns (LangChain's ChatOpenAI calls through it)
    from openai._legacy_response import LegacyAPIResponse as _RawResponse
except ImportError:  # pragma: no cover - older or newer SDKs without it
    _RawResponse = None  # type: ignore[assignment,misc]
try:  # what ``with_streaming_response`` returns: its body is read later, by the caller
    from openai._response import APIResponse, AsyncAPIResponse

    _LATE_RESPONSES: tuple[type, ...] = (APIResponse, AsyncAPIResponse)
except ImportError:  # pragma: no cover - older or newer SDKs without them
    _LATE_RESPONSES = ()


def _read_later(call: LlmCall, result: Any) -> bool:
    """Whether the caller reads the answer from ``result`` after the call returns: a response of
    ``with_streaming_response``, or of ``with_raw_response`` for a stream (LangChain's way)."""
    if isinstance(result, _LATE_RESPONSES):
        return True
    return call.request.stream and _RawResponse is not None and isinstance(result, _RawResponse)


__all__ = ["PATCHES", "OpenAIInstrumentor", "set_include_stream_usage"]

_include_stream_usage = False


def _classes(*names: str) -> tuple[type, ...]:
    """The classes of these names that this version of the SDK exports."""
    return tuple(kind for name in names if isinstance(kind := getattr(openai, name, None), type))


_SENTINELS = _classes("NotGiven", "Omit")
_AZURE_CLIENTS = _classes("AzureOpenAI", "AsyncAzureOpenAI")
_CHAT_PARAMETERS = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "frequency_penalty": sc.GEN_AI_REQUEST_FREQUENCY_PENALTY,
    "presence_penalty": sc.GEN_AI_REQUEST_PRESENCE_PENALTY,
    "seed": sc.GEN_AI_REQUEST_SEED,
    "max_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
    "max_completion_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,  # the newer name: wins over max_tokens
    "stop": sc.GEN_AI_REQUEST_STOP_SEQUENCES,
}
_RESPONSES_PARAMETERS = {
    "temperature": sc.GEN_AI_REQUEST_TEMPERATURE,
    "top_p": sc.GEN_AI_REQUEST_TOP_P,
    "max_output_tokens": sc.GEN_AI_REQUEST_MAX_TOKENS,
}
_SYSTEM_ROLES = ("system", "developer")
_MESSAGE_FIELDS = ("content", "refusal", "tool_calls", "function_call")  # of a chat message
_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}


def set_include_stream_usage(enabled: bool) -> None:
    """Opt in (or back out) of adding ``stream_options={"include_usage": True}`` to streamed chat
    completions that set no ``stream_options``, so their spans get token counts and cost."""
    global _include_stream_usage
    _include_stream_usage = bool(enabled)


# --- reading the SDK's values -----------------------------------------------------------------------
def _given(value: Any) -> bool:
    return value is not None and not isinstance(value, _SENTINELS)


def _str(value: Any) -> str | None:
    if type(value) is str:
        return value
    return str(value) if _given(value) else None


def _provider(instance: Any) -> str:
    """Azure OpenAI for a resource of an Azure client, else OpenAI."""
    client = getattr(instance, "_client", None)
    return sc.PROVIDER_AZURE_OPENAI if isinstance(client, _AZURE_CLIENTS) else sc.PROVIDER_OPENAI


def _parameters(kwargs: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    # A call passes a few of the many parameters: walk what it passed, not every known name.
    return {names[name]: value for name, value in kwargs.items() if name in names and _given(value)}


def _stop_sequences(stop: Any) -> tuple[str, ...] | None:
    if isinstance(stop, str):
        return (stop,)
    if isinstance(stop, (list, tuple)):
        return tuple(str(item) for item in stop)
    return None


# --- messages in the GenAI format ---------------------------------------------------------------------
def _assistant(parts: list[dict[str, Any]], finish_reason: Any) -> dict[str, Any]:
    return {"role": "assistant", "parts": parts, "finish_reason": finish_reason}


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


def _chat_input(messages: Any) -> tuple[str | None, str | None]:
    """A chat call's messages and its system (and developer) instructions, as JSON text; None for
    messages that cannot be read and for no instructions."""
    if not isinstance(messages, (list, tuple)):
        return None, None  # a one-shot iterable is the SDK's to consume, not ours
    converted: list[str] = []
    system: list[str] = []
    for message in messages:
        if type(message) is dict and len(message) == 2 and type(content := message.get("content")) is str:
            role = message.get("role")  # most messages: {"role": ..., "content": "text"}
            if role in _SYSTEM_ROLES:
                system.append(text_part_json(content))
                continue
            if role == "user" or role == "assistant":
                converted.append(text_message_json(role, content))
                continue
        role = _get(message, "role")
        if role in _SYSTEM_ROLES:
            parts = content_parts(_get(message, "content"))
            system.extend(json_text(part) for part in parts if part["type"] == "text")
        elif role in ("tool", "function"):
            converted.append(json_text(tool_result(_get(message, "tool_call_id"), _get(message, "content"))))
        else:
            converted.append(json_text({"role": role, "parts": _chat_message_parts(message)}))
    return json_array(converted), json_array(system) if system else None


def _responses_input(kwargs: Mapping[str, Any]) -> tuple[list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """A Responses API call's input items as messages, and its instructions."""
    system = [text_part(kwargs["instructions"])] if isinstance(kwargs.get("instructions"), str) else []
    items = kwargs.get("input")
    if isinstance(items, str):
        return [{"role": "user", "parts": [text_part(items)]}], system
    if not isinstance(items, (list, tuple)):
        return None, system
    messages: list[dict[str, Any]] = []
    for item in items:
        _add_input_item(messages, system, item)
    return messages, system


def _add_input_item(messages: list[dict[str, Any]], system: list[dict[str, Any]], item: Any) -> None:
    kind = _get(item, "type")
    role = _get(item, "role")
    if role is not None and kind in (None, "message"):
        parts = content_parts(_get(item, "content"))
        if role in _SYSTEM_ROLES:
            system.extend(p for p in parts if p["type"] == "text")
        else:
            messages.append({"role": role, "parts": parts})
    elif kind in ("function_call", "custom_tool_call"):
        arguments = _get(item, "arguments") if kind == "function_call" else _get(item, "input")
        part = tool_call_part(_get(item, "call_id"), _get(item, "name"), arguments)
        if messages and messages[-1]["role"] == "assistant":
            messages[-1]["parts"].append(part)
        else:
            messages.append({"role": "assistant", "parts": [part]})
    elif kind in ("function_call_output", "custom_tool_call_output"):
        messages.append(tool_result(_get(item, "call_id"), _get(item, "output")))


def _responses_output_parts(output: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in output or ():
        kind = _get(item, "type")
        if kind == "message":
            parts.extend(content_parts(_get(item, "content")))
        elif kind == "function_call":
            parts.append(tool_call_part(_get(item, "call_id"), _get(item, "name"), _get(item, "arguments")))
        elif kind == "custom_tool_call":
            parts.append(tool_call_part(_get(item, "call_id"), _get(item, "name"), _get(item, "input")))
        elif kind == "reasoning":
            summary = "".join(str(_get(s, "text") or "") for s in _get(item, "summary") or ())
            if summary:
                parts.append({"type": "reasoning", "content": summary})
        elif isinstance(kind, str) and kind.endswith("_call"):  # a built-in tool: web search, ...
            parts.append({"type": "tool_call", "id": _get(item, "id"), "name": kind})
    return parts


# --- usage ----------------------------------------------------------------------------------------------
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


def _responses_usage(usage: Any) -> dict[str, int | None]:
    input_details = _get(usage, "input_tokens_details")
    return {
        "input_tokens": as_integer(_get(usage, "input_tokens")),
        "output_tokens": as_integer(_get(usage, "output_tokens")),
        "cache_read_tokens": as_integer(_get(input_details, "cached_tokens")),
        "cache_creation_tokens": as_integer(_get(input_details, "cache_write_tokens")),
        "reasoning_tokens": as_integer(_get(_get(usage, "output_tokens_details"), "reasoning_tokens")),
    }


# --- results ----------------------------------------------------------------------------------------------
def _response_body(result: Any) -> Any:
    """The parsed response model behind a call's result, or None when there is none to read."""
    if _RawResponse is not None and isinstance(result, _RawResponse):
        try:
            return result.parse()  # parsed once and cached: the caller's own parse() gets the same object
        except Exception:
            return None
    return result if isinstance(result, openai.BaseModel) else None


def _chat_answer_json(message: Any, finish_reason: Any) -> str:
    """One choice of a chat completion as the JSON text of an output message."""
    content, refusal, tool_calls, function_call = _message_fields(message)
    plain = not (refusal or tool_calls or function_call is not None)
    if plain and type(content) is str and (finish_reason is None or type(finish_reason) is str):
        return text_answer_json(content, finish_reason)  # most answers: one text, written directly
    return json_text(_assistant(_chat_message_parts(message), finish_reason))


def _chat_result(completion: Any) -> LlmResult:
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
    result = LlmResult(
        response_model=_str(getattr(completion, "model", None)),
        response_id=_str(getattr(completion, "id", None)),
        finish_reasons=finish_reasons,
        output_messages=json_array(messages) if choices else None,
    )
    return _add_chat_usage(result, getattr(completion, "usage", None))


def _responses_finish_reason(response: Any, output: Any) -> str | None:
    status = _get(response, "status")
    if status == "completed":
        kinds = {_get(item, "type") for item in output or ()}
        return "tool_calls" if kinds & {"function_call", "custom_tool_call"} else "stop"
    if status == "incomplete":
        reason = _get(_get(response, "incomplete_details"), "reason")
        return _INCOMPLETE_REASONS.get(str(reason), str(reason or status))
    if status == "failed":
        return "error"
    return _str(status)


def _responses_result(response: Any, streamed_output: list[Any] | None = None) -> LlmResult:
    output = _get(response, "output")
    if output is None:
        output = streamed_output  # stream events may leave the final response's output to the items
    finish = _responses_finish_reason(response, output)
    message = _assistant(_responses_output_parts(output), finish)
    return LlmResult(
        response_model=_str(_get(response, "model")),
        response_id=_str(_get(response, "id")),
        finish_reasons=[finish] if finish else [],
        output_messages=[message] if output is not None else None,
        **_responses_usage(_get(response, "usage")),
    )


# --- streams ------------------------------------------------------------------------------------------------
class _ClosingResponse(Proxy):
    """The HTTP response of a traced stream: closing it (as the SDK's stream helpers do) ends the span."""

    def __init__(self, response: Any, stream: TracedStream) -> None:
        super().__init__(response)
        self._self_stream = stream

    def close(self) -> None:
        """Close the response through the traced stream."""
        self._self_stream.close()


class _AsyncClosingResponse(Proxy):
    """The HTTP response of a traced async stream: ``aclose()`` ends the span."""

    def __init__(self, response: Any, stream: TracedAsyncStream) -> None:
        super().__init__(response)
        self._self_stream = stream

    async def aclose(self) -> None:
        """Close the response through the traced stream."""
        await self._self_stream.aclose()


class _OpenAIStream(TracedStream):
    """A traced ``openai.Stream`` whose ``response`` ends the span when closed."""

    @property
    def response(self) -> Any:
        """The stream's HTTP response."""
        return _ClosingResponse(self.__wrapped__.response, self)


class _OpenAIAsyncStream(TracedAsyncStream):
    """A traced ``openai.AsyncStream`` whose ``response`` ends the span when closed."""

    @property
    def response(self) -> Any:
        """The stream's HTTP response."""
        return _AsyncClosingResponse(self.__wrapped__.response, self)


def _traced_stream(call: LlmCall, result: Any, accumulator: Accumulator) -> Any:
    if isinstance(result, openai.AsyncStream):
        return _OpenAIAsyncStream(result, call, accumulator)
    if isinstance(result, openai.Stream):
        return _OpenAIStream(result, call, accumulator)
    call.succeed(LlmResult())  # not a stream of the SDK's: nothing for us to follow
    return result


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
        return _assistant(parts, self.finish_reason)


class ChatStreamAccumulator:
    """Adds up ``ChatCompletionChunk``s: content and tool-call deltas per choice, finish reasons,
    model, id, and usage when the stream reports it."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._model: str | None = None
        self._usage: Any = None
        self._choices: dict[int, _ChoiceState] = {}

    def add(self, chunk: Any) -> None:
        """Take one chunk into account."""
        self._id = self._id or _str(_get(chunk, "id"))
        self._model = self._model or _str(_get(chunk, "model"))
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
        )
        return _add_chat_usage(result, self._usage)


class ResponsesStreamAccumulator:
    """Adds up Responses API stream events: the final response when it arrives, else the output
    items and text / argument deltas received so far."""

    _LIFECYCLE = ("response.created", "response.queued", "response.in_progress")
    _FINAL = ("response.completed", "response.incomplete", "response.failed")
    _DELTAS = ("response.output_text.delta", "response.function_call_arguments.delta")

    def __init__(self) -> None:
        self._snapshot: Any = None
        self._final: Any = None
        self._items: dict[int, Any] = {}
        self._done: set[int] = set()
        self._deltas: dict[int, list[str]] = {}
        self._error = False

    def add(self, event: Any) -> None:
        """Take one event into account."""
        kind = _get(event, "type")
        index = as_integer(_get(event, "output_index"))
        if kind in self._LIFECYCLE:
            self._snapshot = event.response
        elif kind in self._FINAL:
            self._final = event.response
        elif kind in ("response.output_item.added", "response.output_item.done") and index is not None:
            self._items[index] = event.item
            if kind == "response.output_item.done":
                self._done.add(index)
        elif kind in self._DELTAS and index is not None:
            self._deltas.setdefault(index, []).append(str(_get(event, "delta") or ""))
        elif kind == "error":
            self._error = True

    def _output(self) -> list[Any]:
        """The output items as far as they arrived; an unfinished item carries its deltas."""
        output: list[Any] = []
        for index, item in sorted(self._items.items()):
            text = "".join(self._deltas.get(index, ()))
            kind = _get(item, "type")
            if index in self._done or kind not in ("message", "function_call"):
                output.append(item)
            elif kind == "message":
                output.append({"type": "message", "content": [{"type": "output_text", "text": text}]})
            else:
                call_id, name = _get(item, "call_id"), _get(item, "name")
                output.append({"type": "function_call", "call_id": call_id, "name": name, "arguments": text})
        return output

    def result(self) -> LlmResult:
        """The events so far as one result."""
        if self._final is not None:
            return _responses_result(self._final, self._output())
        output = self._output()
        message = _assistant(_responses_output_parts(output), None)
        return LlmResult(
            response_model=_str(_get(self._snapshot, "model")),
            response_id=_str(_get(self._snapshot, "id")),
            finish_reasons=["error"] if self._error else [],
            output_messages=[message] if output else None,
        )


# --- describe / finish of each method ------------------------------------------------------------------
def _opt_into_stream_usage(kwargs: dict[str, Any]) -> None:
    """Add ``stream_options`` for usage to a streamed chat call, when the user opted in.

    The wrappers hand this very ``kwargs`` dict on to the SDK's method.
    """
    if _include_stream_usage and kwargs.get("stream") is True and not _given(kwargs.get("stream_options")):
        kwargs["stream_options"] = {"include_usage": True}


def _chat_parameters(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    parameters = _parameters(kwargs, _CHAT_PARAMETERS)  # one pass over what the call passed
    if sc.GEN_AI_REQUEST_MAX_TOKENS in parameters and _given(kwargs.get("max_completion_tokens")):
        parameters[sc.GEN_AI_REQUEST_MAX_TOKENS] = kwargs["max_completion_tokens"]
    if sc.GEN_AI_REQUEST_STOP_SEQUENCES in parameters:
        stop = _stop_sequences(parameters.pop(sc.GEN_AI_REQUEST_STOP_SEQUENCES))
        if stop:
            parameters[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = stop
    return parameters


def describe_chat(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """A ``chat.completions.create`` / ``parse`` call as an LLM request."""
    _opt_into_stream_usage(kwargs)
    messages, system = _chat_input(kwargs.get("messages")) if capture_content() else (None, None)
    return LlmRequest(
        provider=_provider(instance),
        operation=sc.OPERATION_CHAT,
        model=_str(kwargs.get("model")),
        parameters=_chat_parameters(kwargs),
        input_messages=messages,
        system_instructions=system,
        stream=kwargs.get("stream") is True,
    )


def finish_chat(call: LlmCall, result: Any) -> Any:
    """End a chat call's span (or hand it to its stream); returns the result unchanged."""
    if _read_later(call, result):
        return follow_late_response(call, result, finish_chat)
    if call.request.stream:
        return _traced_stream(call, result, ChatStreamAccumulator())
    call.succeed(_chat_result(_response_body(result)))
    return result


def describe_responses(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """A ``responses.create`` / ``parse`` call as an LLM request."""
    messages, system = _responses_input(kwargs) if capture_content() else (None, [])
    return LlmRequest(
        provider=_provider(instance),
        operation=sc.OPERATION_CHAT,
        model=_str(kwargs.get("model")),
        parameters=_parameters(kwargs, _RESPONSES_PARAMETERS),
        input_messages=messages,
        system_instructions=system or None,
        stream=kwargs.get("stream") is True,
    )


def finish_responses(call: LlmCall, result: Any) -> Any:
    """End a Responses API call's span (or hand it to its stream); returns the result unchanged."""
    if _read_later(call, result):
        return follow_late_response(call, result, finish_responses)
    if call.request.stream:
        return _traced_stream(call, result, ResponsesStreamAccumulator())
    body = _response_body(result)
    call.succeed(_responses_result(body) if body is not None else LlmResult())
    return result


def describe_embeddings(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """An ``embeddings.create`` call as an LLM request (its input is not recorded)."""
    model = _str(kwargs.get("model"))
    return LlmRequest(provider=_provider(instance), operation=sc.OPERATION_EMBEDDINGS, model=model)


def finish_embeddings(call: LlmCall, result: Any) -> Any:
    """End an embeddings call's span: the model and the input tokens; returns the result unchanged."""
    if _read_later(call, result):
        return follow_late_response(call, result, finish_embeddings)
    body = _response_body(result)
    call.succeed(
        LlmResult(
            response_model=_str(_get(body, "model")),
            input_tokens=as_integer(_get(_get(body, "usage"), "prompt_tokens")),
        )
    )
    return result


def _twins(module: str, owner: str, method: str, client_path: str, describe: Any, finish: Any) -> list[Patch]:
    """The sync method on ``owner`` and its async twin on ``Async{owner}``."""
    return [
        Patch(module, owner, method, False, describe, finish, client_path),
        Patch(module, f"Async{owner}", method, True, describe, finish, client_path),
    ]


_CHAT = "openai.resources.chat.completions"
_RESPONSES = "openai.resources.responses"
_EMBEDDINGS = "openai.resources.embeddings"

PATCHES: list[Patch] = [
    *_twins(_CHAT, "Completions", "create", "chat.completions", describe_chat, finish_chat),
    *_twins(_CHAT, "Completions", "parse", "chat.completions", describe_chat, finish_chat),
    *_twins(_RESPONSES, "Responses", "create", "responses", describe_responses, finish_responses),
    *_twins(_RESPONSES, "Responses", "parse", "responses", describe_responses, finish_responses),
    *_twins(_EMBEDDINGS, "Embeddings", "create", "embeddings", describe_embeddings, finish_embeddings),
]


class OpenAIInstrumentor(LlmInstrumentor):
    """Traces every OpenAI and Azure OpenAI client of the process (see the module's docstring).

    ``instrument(tracer_provider=..., include_stream_usage=True)`` also opts in to usage on
    streamed chat completions (:func:`set_include_stream_usage`).
    """

    patches = PATCHES
    dependencies = ("openai >= 1.92",)  # chat parse and stream, the Responses API: checked with 1.92 and 3.57

    def _instrument(self, **kwargs: Any) -> None:
        if "include_stream_usage" in kwargs:
            set_include_stream_usage(bool(kwargs["include_stream_usage"]))
        super()._instrument(**kwargs)
