"""Tracing of the deprecated google-generativeai SDK (``import google.generativeai``).

Patched: ``GenerativeModel.generate_content``, streamed (``stream=True``) or not; chat sessions go
through it too. Its contents and responses are protobuf messages: they are read as dicts and then
described exactly as google-genai's (:mod:`sentrial.instrumentation.google_genai`).

A streamed call returns the library's own response object, which reads the rest of the stream
lazily; the span follows that underlying chunk iterator, so iteration, ``resolve()`` and the
accessors behave as without tracing.

``generate_content_async`` is not traced: the library runs it over gRPC only, which these tests
cannot serve.
"""

from __future__ import annotations

import importlib
from typing import Any

from sentrial import semconv as sc
from sentrial.instrumentation._base import LlmInstrumentor, Patch
from sentrial.instrumentation._llm import LlmCall, LlmRequest
from sentrial.instrumentation._streams import TracedStream
from sentrial.instrumentation.google_genai import (
    StreamAccumulator,
    input_messages,
    request_parameters,
    response_result,
    system_instructions,
)


def _library_module(name: str) -> Any:
    # Imported here, inside the library's calls: importing google.generativeai takes seconds and
    # warns that it is deprecated, which only the app's own import may do.
    return importlib.import_module(name)


def _as_dict(message: Any) -> Any:
    """A proto-plus message as a snake_case dict of the fields that are set (anything else as is)."""
    to_pb = getattr(type(message), "pb", None)
    if to_pb is None:
        return message
    return _library_module("google.protobuf.json_format").MessageToDict(
        to_pb(message), preserving_proto_field_name=True
    )


def _generation_config(model: Any, override: Any) -> dict[str, Any]:
    """The model's generation config with the call's on top, as the library merges them."""
    config = dict(getattr(model, "_generation_config", None) or {})
    if override is not None:
        config.update(
            _library_module("google.generativeai.types.generation_types").to_generation_config_dict(override)
        )
    return config


def describe(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> LlmRequest:
    """A ``GenerativeModel.generate_content(contents, ...)`` call."""
    contents = args[0] if args else kwargs.get("contents")
    system = getattr(instance, "_system_instruction", None)
    to_contents = _library_module("google.generativeai.types.content_types").to_contents
    messages = [_as_dict(content) for content in to_contents(contents)] if contents else None
    return LlmRequest(
        provider=sc.PROVIDER_GEMINI,
        operation=sc.OPERATION_GENERATE_CONTENT,
        model=getattr(instance, "model_name", None),
        parameters=request_parameters(_generation_config(instance, kwargs.get("generation_config"))),
        input_messages=input_messages(messages) if messages is not None else None,
        system_instructions=system_instructions(_as_dict(system)) if system is not None else None,
        stream=bool(kwargs.get("stream")),
    )


class ProtoStreamAccumulator(StreamAccumulator):
    """Adds up the library's raw GenerateContentResponse protobuf chunks."""

    def add(self, chunk: Any) -> None:
        """Take one chunk into account."""
        super().add(_as_dict(chunk))


def finish(call: LlmCall, response: Any) -> Any:
    """End the span of a plain call, or hand it to the chunk iterator of a streamed one."""
    iterator = getattr(response, "_iterator", None)
    if getattr(response, "_done", True) or iterator is None:
        call.succeed(response_result(_as_dict(response._result)))
        return response
    accumulator = ProtoStreamAccumulator()
    accumulator.add(response._result)  # the first chunk, read before the call returned
    call.mark_first_chunk()
    response._iterator = TracedStream(iterator, call, accumulator)
    return response


PATCHES: list[Patch] = [
    Patch(
        "google.generativeai.generative_models",
        "GenerativeModel",
        "generate_content",
        False,
        describe,
        finish,
    ),
]


class GoogleGenerativeAIInstrumentor(LlmInstrumentor):
    """Traces ``GenerativeModel.generate_content`` of the deprecated google-generativeai SDK."""

    library = "google.generativeai"
    patches = PATCHES
    dependencies = ("google-generativeai >= 0.8.4",)  # model_version in answers from 0.8.4 on
