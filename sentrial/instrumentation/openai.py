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

from typing import Any

from sentrial import semconv as sc
from sentrial.instrumentation._base import LlmInstrumentor, Patch
from sentrial.instrumentation._deferred import library_classes
from sentrial.instrumentation._late_responses import follow_late_response
from sentrial.instrumentation._llm import LlmCall, LlmRequest, LlmResult, capture_content
from sentrial.instrumentation._openai_chat import (
    ChatStreamAccumulator,
    chat_input,
    chat_parameters,
    chat_result,
)
from sentrial.instrumentation._openai_responses import (
    RESPONSES_PARAMETERS,
    ResponsesStreamAccumulator,
    responses_input,
    responses_result,
)
from sentrial.instrumentation._openai_streams import traced_stream
from sentrial.instrumentation._openai_values import (
    given,
    given_text,
    provider_of,
    raw_response_classes,
    request_parameters,
    response_body,
    response_details,
)
from sentrial.instrumentation._parts import as_integer, client_base_url, server_attributes
from sentrial.instrumentation._parts import get_field as _get

__all__ = ["PATCHES", "OpenAIInstrumentor", "set_include_stream_usage"]

# What ``with_streaming_response`` returns: its body is read later, by the caller.
_late_response_classes = library_classes("openai._response", "APIResponse", "AsyncAPIResponse")


def _read_later(call: LlmCall, result: Any) -> bool:
    """Whether the caller reads the answer from ``result`` after the call returns: a response of
    ``with_streaming_response``, or of ``with_raw_response`` for a stream (LangChain's way)."""
    if isinstance(result, _late_response_classes()):
        return True
    return call.request.stream and isinstance(result, raw_response_classes())


_include_stream_usage = False


def set_include_stream_usage(enabled: bool) -> None:
    """Opt in (or back out) of adding ``stream_options={"include_usage": True}`` to streamed chat
    completions that set no ``stream_options``, so their spans get token counts and cost."""
    global _include_stream_usage
    _include_stream_usage = bool(enabled)


# --- describe / finish of each method ------------------------------------------------------------------
def _opt_into_stream_usage(kwargs: dict[str, Any]) -> None:
    """Add ``stream_options`` for usage to a streamed chat call, when the user opted in.

    The wrappers hand this very ``kwargs`` dict on to the SDK's method.
    """
    if _include_stream_usage and kwargs.get("stream") is True and not given(kwargs.get("stream_options")):
        kwargs["stream_options"] = {"include_usage": True}


def describe_chat(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """A ``chat.completions.create`` / ``parse`` call as an LLM request."""
    if _include_stream_usage:
        _opt_into_stream_usage(kwargs)
    messages, system = chat_input(kwargs.get("messages")) if capture_content() else (None, None)
    parameters = chat_parameters(kwargs)
    return _chat_request(instance, kwargs, parameters, messages, system, sc.OPENAI_API_TYPE_CHAT_COMPLETIONS)


# The classes of results found to be response models as such (not a response of
# ``with_raw_response`` or ``with_streaming_response``): most results, then known by one look-up.
_model_classes: set[type] = set()


def _answer_body(result: Any) -> Any:
    """The response model of a result that is neither read later nor a stream (see response_body)."""
    if type(result) in _model_classes:
        return result
    body = response_body(result)
    if body is result:
        _model_classes.add(type(result))
    return body


def finish_chat(call: LlmCall, result: Any) -> Any:
    """End a chat call's span (or hand it to its stream); returns the result unchanged."""
    body = result  # most results: a response model of a class seen before
    if call.request.stream or type(result) not in _model_classes:
        if _read_later(call, result):
            return follow_late_response(call, result, finish_chat)
        if call.request.stream:
            return traced_stream(call, result, ChatStreamAccumulator())
        body = _answer_body(result)
    answer = chat_result(body)
    answer.attributes = response_details(body)
    call.succeed(answer)
    return result


def describe_responses(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """A ``responses.create`` / ``parse`` call as an LLM request."""
    messages, system = responses_input(kwargs) if capture_content() else (None, [])
    parameters = request_parameters(kwargs, RESPONSES_PARAMETERS)
    return _chat_request(instance, kwargs, parameters, messages, system or None, sc.OPENAI_API_TYPE_RESPONSES)


def _chat_request(
    instance: Any,
    kwargs: dict[str, Any],
    parameters: dict[str, Any],
    messages: list[dict[str, Any]] | str | None,
    system: list[dict[str, Any]] | str | None,
    api_type: str,
) -> LlmRequest:
    """A chat call's request, the same for both chat APIs (``api_type``) once each has read its own
    arguments."""
    provider, constant = _client_parameters(instance, api_type)
    return LlmRequest(  # by position, in the fields' order: keywords cost more on every call
        provider,
        sc.OPERATION_CHAT,
        model if type(model := kwargs.get("model")) is str else given_text(model),
        {**parameters, **constant} if parameters else constant,
        messages,
        system,
        kwargs.get("stream") is True,
    )


# The last client's (class, URL, API type) and what _client_parameters gave for them.
_last_client: tuple[Any, Any, str, tuple[str, dict[str, Any]]] = (None, None, "", ("", {}))


def _client_parameters(instance: Any, api_type: str) -> tuple[str, dict[str, Any]]:
    """The provider of the client ``instance`` belongs to, and the request attributes that all its
    calls of ``api_type`` share (its server and the API type): worked out again only when the client's
    class or URL changes, as it rarely does from call to call. Callers must not change the dict."""
    global _last_client
    client_class, url = type(getattr(instance, "_client", None)), client_base_url(instance)
    last_class, last_url, last_api_type, found = _last_client
    if client_class is last_class and url is last_url and api_type == last_api_type:
        return found
    found = provider_of(instance), {**server_attributes(url), sc.OPENAI_API_TYPE: api_type}
    _last_client = (client_class, url, api_type, found)
    return found


def finish_responses(call: LlmCall, result: Any) -> Any:
    """End a Responses API call's span (or hand it to its stream); returns the result unchanged."""
    if call.request.stream or type(result) not in _model_classes:
        if _read_later(call, result):
            return follow_late_response(call, result, finish_responses)
        if call.request.stream:
            return traced_stream(call, result, ResponsesStreamAccumulator())
    body = _answer_body(result)
    answer = responses_result(body) if body is not None else LlmResult()
    answer.attributes = response_details(body)
    call.succeed(answer)
    return result


def describe_embeddings(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """An ``embeddings.create`` call as an LLM request (its input is not recorded)."""
    model = given_text(kwargs.get("model"))
    return LlmRequest(
        provider=provider_of(instance),
        operation=sc.OPERATION_EMBEDDINGS,
        model=model,
        parameters={**server_attributes(client_base_url(instance))},
    )


def finish_embeddings(call: LlmCall, result: Any) -> Any:
    """End an embeddings call's span: the model and the input tokens; returns the result unchanged."""
    if _read_later(call, result):
        return follow_late_response(call, result, finish_embeddings)
    body = response_body(result)
    call.succeed(
        LlmResult(
            response_model=given_text(_get(body, "model")),
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

    library = "openai"
    patches = PATCHES
    dependencies = ("openai >= 1.92",)  # chat parse and stream, the Responses API: checked with 1.92 and 3.57

    def _apply(self, **kwargs: Any) -> None:
        if "include_stream_usage" in kwargs:
            set_include_stream_usage(bool(kwargs["include_stream_usage"]))
        super()._apply(**kwargs)
