"""Tracing of the Anthropic SDK: ``messages.create`` (plain and ``stream=True``), ``messages.parse``
and the ``messages.stream()`` helper, sync and async, on ``client.messages`` and ``client.beta.messages``;
through ``with_raw_response`` and ``with_streaming_response`` too.

Requests and responses are read in the GenAI conventions' terms: ``gen_ai.usage.input_tokens``
counts cache reads and writes too (Anthropic's own ``input_tokens`` does not; the cost is computed
from Anthropic's split).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentrial import semconv as sc
from sentrial.instrumentation._anthropic_messages import (
    input_messages,
    message_result,
    request_parameters,
    system_instructions,
)
from sentrial.instrumentation._anthropic_streams import (
    EventAccumulator,
    TracedAsyncMessageStreamManager,
    TracedMessageStreamManager,
)
from sentrial.instrumentation._base import LlmInstrumentor, Patch
from sentrial.instrumentation._deferred import library_classes
from sentrial.instrumentation._late_responses import follow_late_response
from sentrial.instrumentation._llm import LlmCall, LlmRequest, LlmResult, capture_content
from sentrial.instrumentation._parts import client_base_url, get_field, server_attributes
from sentrial.instrumentation._streams import TracedAsyncStream, TracedStream

__all__ = ["PATCHES", "AnthropicInstrumentor", "message_result"]

_stream = library_classes("anthropic", "Stream")
_async_stream = library_classes("anthropic", "AsyncStream")


def _describe(instance: Any, kwargs: Mapping[str, Any], stream: bool) -> LlmRequest:
    capture = capture_content()
    model = kwargs.get("model")
    return LlmRequest(
        provider=sc.PROVIDER_ANTHROPIC,
        operation=sc.OPERATION_CHAT,
        model=model if isinstance(model, str) else None,
        parameters={**request_parameters(kwargs), **server_attributes(client_base_url(instance))},
        input_messages=input_messages(kwargs.get("messages")) if capture else None,
        system_instructions=system_instructions(kwargs.get("system")) if capture else None,
        stream=stream,
    )


def describe_create(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """The request of ``messages.create`` / ``messages.parse``."""
    return _describe(instance, kwargs, stream=kwargs.get("stream") is True)


def describe_stream(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """The request of ``messages.stream()``, which always streams."""
    return _describe(instance, kwargs, stream=True)


def _raw_response_result(response: Any) -> LlmResult:
    """What a ``with_raw_response`` call answered, its JSON body already read."""
    http_response = get_field(response, "http_response")
    content_type = str(http_response.headers.get("content-type", ""))
    if not content_type.startswith("application/json"):
        return LlmResult()
    return message_result(http_response.json())


def finish_create(call: LlmCall, result: Any) -> Any:
    """End the span of a ``messages.create`` call, or hand it to the stream it returned."""
    if isinstance(result, _stream()):
        return TracedStream(result, call, EventAccumulator())
    if isinstance(result, _async_stream()):
        return TracedAsyncStream(result, call, EventAccumulator())
    if hasattr(result, "http_response"):
        if not getattr(result.http_response, "is_closed", True):  # a body the caller reads later
            return follow_late_response(call, result, finish_create)
        call.succeed(_raw_response_result(result))
    else:
        call.succeed(message_result(result))
    return result


def finish_stream(call: LlmCall, manager: Any) -> Any:
    """Hand the call's span to the stream manager that ``Messages.stream()`` returned."""
    return TracedMessageStreamManager(manager, call)


def finish_async_stream(call: LlmCall, manager: Any) -> Any:
    """Hand the call's span to the stream manager that ``AsyncMessages.stream()`` returned."""
    return TracedAsyncMessageStreamManager(manager, call)


# --- what gets patched ----------------------------------------------------------------------
def _patches(module: str, client_path: str) -> list[Patch]:
    return [
        Patch(module, "Messages", "create", False, describe_create, finish_create, client_path),
        Patch(module, "AsyncMessages", "create", True, describe_create, finish_create, client_path),
        Patch(module, "Messages", "parse", False, describe_create, finish_create, client_path),
        Patch(module, "AsyncMessages", "parse", True, describe_create, finish_create, client_path),
        # stream() is a plain method on both clients: it returns a manager that sends the request on enter.
        Patch(module, "Messages", "stream", False, describe_stream, finish_stream, client_path),
        Patch(module, "AsyncMessages", "stream", False, describe_stream, finish_async_stream, client_path),
    ]


PATCHES: list[Patch] = [
    *_patches("anthropic.resources.messages", "messages"),
    *_patches("anthropic.resources.beta.messages", "beta.messages"),
]


class AnthropicInstrumentor(LlmInstrumentor):
    """Traces every Anthropic client's Messages API calls as GenAI ``chat`` spans."""

    library = "anthropic"
    patches = PATCHES
    dependencies = ("anthropic >= 1.13.0",)
