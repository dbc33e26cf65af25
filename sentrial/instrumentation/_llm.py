"""One LLM call as a span, and the wrapper that traces a provider method without ever breaking it.

Provider modules describe a call (:class:`LlmRequest`) and its outcome (:class:`LlmResult`) in
the GenAI conventions' terms; this module turns them into a span, prices the call, and makes sure
the span ends exactly once whatever happens. A bug in the instrumentation is logged once and the
call goes through untraced; the provider's own exceptions reach the caller unchanged.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Awaitable, Callable
from contextvars import Token
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation import _SPAN_KEY

from sentrial import semconv as sc
from sentrial._guard import failed
from sentrial._span_attributes import own_spans, set_span_attributes
from sentrial._values import DEFAULT_MAX_CHARS, fit_json, to_json
from sentrial.instrumentation import _metrics
from sentrial.tracing import current_route, for_own_span
from sentrial_otel_exporter import pricing

ENV_CAPTURE_CONTENT = "SENTRIAL_CAPTURE_CONTENT"
ENV_OTEL_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

_capture_override: bool | None = None
_capture_from_env: bool | None = None
# True in the context of a traced LLM call, so that a second layer (wrap + instrument) adds no span.
_IN_LLM_CALL_KEY = otel_context.create_key("sentrial-in-llm-call")
_SUPPRESS_KEY = otel_context._SUPPRESS_INSTRUMENTATION_KEY
_CLIENT = SpanKind.CLIENT  # read on every call: an enum member's lookup is a Python call


def set_capture_content(enabled: bool | None) -> None:
    """Switch message capture on or off for every instrumented call; None goes back to the env vars
    (read again)."""
    global _capture_override, _capture_from_env
    _capture_override = enabled
    _capture_from_env = None


def capture_content() -> bool:
    """Whether LLM messages are recorded: configure(), then SENTRIAL_CAPTURE_CONTENT, then the OTel
    GenAI variable, then on. The variables are read once (this runs on every LLM call)."""
    global _capture_from_env
    if _capture_override is not None:
        return _capture_override
    if _capture_from_env is None:
        _capture_from_env = _capture_setting_from_env()
    return _capture_from_env


def _capture_setting_from_env() -> bool:
    for name in (ENV_CAPTURE_CONTENT, ENV_OTEL_CAPTURE_CONTENT):
        value = os.environ.get(name, "").strip().lower()
        if value:
            return value not in ("0", "false", "no", "off", "none")
    return True


@dataclass
class LlmRequest:
    """What an LLM call asked for, in GenAI convention terms."""

    provider: str  # a gen_ai.provider.name value, e.g. sc.PROVIDER_OPENAI
    operation: str  # a gen_ai.operation.name value, e.g. "chat"
    model: str | None
    parameters: dict[str, Any] = field(default_factory=dict)  # GenAI request attribute -> value
    # The messages, [{"role": ..., "parts": [...]}], or their JSON text.
    input_messages: list[dict[str, Any]] | str | None = None
    # The instructions, [{"type": "text", "content": ...}], or their JSON text.
    system_instructions: list[dict[str, Any]] | str | None = None
    stream: bool = False


@dataclass
class LlmResult:
    """What an LLM call answered (for a stream, what it had answered when it ended)."""

    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_creation_tokens: int | None = None
    reasoning_tokens: int | None = None
    output_messages: list[dict[str, Any]] | str | None = None  # or their JSON text
    cost_usd: float | None = None  # what the provider or framework says the call cost; else priced here
    # The provider's own attributes of the answer (e.g. OpenAI's service tier), recorded with the rest.
    attributes: Any = None  # a dict of them, or None


def _json_attribute(messages: list[dict[str, Any]] | str) -> str:
    """Messages (or parts) as the JSON text of an attribute, cut to size."""
    return fit_json(messages) if type(messages) is str else to_json(messages)


def _http_status(error: BaseException) -> str | None:
    """The HTTP status a provider's exception carries (``status_code``, or Google's int ``code``)."""
    for name in ("status_code", "code"):
        value = getattr(error, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return str(value)
    return None


class LlmCall:
    """The span of one LLM call; ``succeed``/``fail``/``abandon`` end it, and only the first counts."""

    def __init__(
        self,
        tracer: Tracer,
        request: LlmRequest,
        context: otel_context.Context | None = None,
        start_time: int | None = None,
    ) -> None:
        """Start the span, in ``context`` (default: the current one), at ``start_time`` (ns since
        the epoch; default: now)."""
        self.request = request
        if context is None:
            context = otel_context.get_current()
        attributes: dict[str, Any] = {
            sc.SPAN_KIND: sc.KIND_LLM,
            sc.GEN_AI_OPERATION_NAME: request.operation,
            sc.GEN_AI_PROVIDER_NAME: request.provider,
        }
        if request.model:
            attributes[sc.GEN_AI_REQUEST_MODEL] = request.model
        for name, value in request.parameters.items():
            if value is not None:
                attributes[name] = value
        if request.stream:
            attributes[sc.GEN_AI_REQUEST_STREAM] = True
        self._capture = capture_content()  # read once: the setting holds for the whole call
        if self._capture:
            messages, instructions = request.input_messages, request.system_instructions
            # Most describers give JSON text that fits, kept as it is (tested inline: every call).
            if messages is not None:
                fits = type(messages) is str and len(messages) <= DEFAULT_MAX_CHARS
                attributes[sc.GEN_AI_INPUT_MESSAGES] = messages if fits else _json_attribute(messages)
            if instructions:
                fits = type(instructions) is str and len(instructions) <= DEFAULT_MAX_CHARS
                text = instructions if fits else _json_attribute(instructions)
                attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = text
        name = f"{request.operation} {request.model}" if request.model else request.operation
        route = current_route(context)
        if route is not None:
            # Inside a session: the span carries its id from the start, and starts as one of Sentrial's
            # own, which the router knows without looking at its attributes (so they may skip the
            # cleaning: see OwnSpans).
            attributes[sc.SESSION_ID] = route.session_id
            start = own_spans(tracer).start
            self.span = start(name, for_own_span(route, context), attributes, start_time, _CLIENT)
        else:
            # By position (name, context, kind, attributes, links, start_time), as the Tracer API
            # orders them: keywords cost more on every call.
            self.span = tracer.start_span(name, context, _CLIENT, attributes, (), start_time)
        self._started = time.monotonic()
        self._first_chunk_at: float | None = None
        # The claim to end the span (a stream may end in the caller's thread and in the collector's
        # at once): the first next() gives 0. A count's next() is one step under the GIL, no lock.
        self._claims = itertools.count()
        self._ended = False

    @property
    def ended(self) -> bool:
        """Whether the span has ended."""
        return self._ended

    def _claim_end(self) -> bool:
        if next(self._claims):
            return False
        self._ended = True
        return True

    def mark_first_chunk(self) -> None:
        """Note the arrival of a stream's first chunk (time to first chunk)."""
        if self._first_chunk_at is None:
            self._first_chunk_at = time.monotonic()
            seconds = self._first_chunk_at - self._started
            self.span.set_attribute(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, round(seconds, 6))
            try:
                _metrics.record_time_to_first_chunk(self.request, seconds)
            except Exception:
                failed("first-chunk-metric", "could not record an LLM call's time to first chunk")

    def succeed(self, result: LlmResult) -> None:
        """End the span with the call's outcome."""
        if next(self._claims):  # _claim_end, written out: this runs on every call
            return
        self._ended = True
        values = self._record_result(result)
        self.span.end()
        self._record_metrics(values, None)

    def fail(self, error: BaseException, partial: LlmResult | None = None) -> None:
        """End the span as failed with the provider's (or the caller's) exception."""
        if not self._claim_end():
            return
        values = self._record_result(partial) if partial is not None else {}
        error_type = type(error).__qualname__
        error_kind = _http_status(error) or error_type
        self.span.set_attribute(sc.ERROR_TYPE_ATTRIBUTE, error_kind)
        self.span.record_exception(error)
        self.span.set_status(Status(StatusCode.ERROR, f"{error_type}: {error}"))
        self.span.end()
        self._record_metrics(values, error_kind)

    def abandon(self, partial: LlmResult | None = None) -> None:
        """End the span of a stream that was dropped unfinished."""
        if not self._claim_end():
            return
        values = self._record_result(partial) if partial is not None else {}
        self.span.set_attribute(sc.ERROR_TYPE_ATTRIBUTE, "abandoned")
        self.span.set_status(Status(StatusCode.ERROR, sc.LLM_ABANDONED_MESSAGE))
        self.span.end()
        self._record_metrics(values, "abandoned")

    def _record_result(self, result: LlmResult) -> dict[str, Any]:
        """Put the outcome on the span, in one ``set_attributes``; returns the attributes put there."""
        try:
            values = self._result_attributes(result)
            set_span_attributes(self.span, values)
            return values
        except Exception:
            failed("result-attributes", "could not record an LLM result")
            return {}

    def _record_metrics(self, result: dict[str, Any], error_type: str | None) -> None:
        try:
            instruments = _metrics.current_instruments()  # None, the common case: no MeterProvider
            if instruments is not None:
                _metrics.record_call(self.request, result, self._started, error_type, instruments)
        except Exception:
            failed("llm-metrics", "could not record an LLM call's metrics")

    def _result_attributes(self, result: LlmResult) -> dict[str, Any]:
        values: dict[str, Any] = {}
        # One test per attribute rather than a loop over a table: this runs on every call.
        if result.response_model is not None:
            values[sc.GEN_AI_RESPONSE_MODEL] = result.response_model
        if result.response_id is not None:
            values[sc.GEN_AI_RESPONSE_ID] = result.response_id
        if result.input_tokens is not None:
            values[sc.GEN_AI_USAGE_INPUT_TOKENS] = result.input_tokens
        if result.output_tokens is not None:
            values[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = result.output_tokens
        if result.cache_read_tokens is not None:
            values[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = result.cache_read_tokens
        if result.cache_creation_tokens is not None:
            values[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = result.cache_creation_tokens
        if result.reasoning_tokens is not None:
            values[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = result.reasoning_tokens
        if result.finish_reasons:
            values[sc.GEN_AI_RESPONSE_FINISH_REASONS] = tuple(result.finish_reasons)
        messages = result.output_messages
        if messages is not None and self._capture:
            fits = type(messages) is str and len(messages) <= DEFAULT_MAX_CHARS
            values[sc.GEN_AI_OUTPUT_MESSAGES] = messages if fits else _json_attribute(messages)
        cost = self.cost(result)
        if cost is not None:
            values[sc.COST_USD] = cost
        if result.attributes:
            values.update(result.attributes)
        return values

    def cost(self, result: LlmResult) -> float | None:
        """What the call cost in USD: what ``result`` says it cost, else its tokens at the model's
        list price (None for a model without one)."""
        if result.cost_usd is not None:
            return result.cost_usd
        model = result.response_model or self.request.model
        if not model or (result.input_tokens is None and result.output_tokens is None):
            return None
        provider = sc.SHORT_PROVIDER_NAMES.get(self.request.provider, self.request.provider)
        input_tokens = result.input_tokens or 0
        if provider == "anthropic":  # pricing takes Anthropic's own split: input without the cache
            input_tokens -= (result.cache_read_tokens or 0) + (result.cache_creation_tokens or 0)
        try:
            return pricing.calculate_cost(
                provider,
                model,
                max(0, input_tokens),
                result.output_tokens or 0,
                cached_input_tokens=result.cache_read_tokens or 0,
                cache_creation_tokens=result.cache_creation_tokens or 0,
            )
        except ValueError:
            return None


def call_context(call: LlmCall, context: otel_context.Context | None = None) -> otel_context.Context:
    """``context`` (default: the current one) with the call's span current in it, marked as inside a
    traced LLM call (so no layer below adds a span of its own)."""
    # As set_span_in_context and set_value would, in one copy of the context rather than two.
    values = (otel_context.get_current() if context is None else context).copy()
    values[_SPAN_KEY] = call.span
    values[_IN_LLM_CALL_KEY] = True
    return otel_context.Context(values)


def enter_call(call: LlmCall) -> Token[otel_context.Context]:
    """Make :func:`call_context` current; returns the token for :func:`leave_call`."""
    return otel_context.attach(call_context(call))


def leave_call(token: Token[otel_context.Context]) -> None:
    """Go back to the context from before :func:`enter_call`."""
    otel_context.detach(token)


def inside_llm_call() -> bool:
    """Whether the current context is inside an LLM call that Sentrial traces."""
    return bool(otel_context.get_value(_IN_LLM_CALL_KEY))


def should_trace(context: otel_context.Context | None = None) -> bool:
    """False inside another traced LLM call, or where OTel instrumentation is suppressed (in
    ``context``, default: the current one)."""
    if context is None:
        context = otel_context.get_current()
    if context.get(_IN_LLM_CALL_KEY) or context.get(_SUPPRESS_KEY):
        return False
    # Another GenAI instrumentation already made a client span for this very call: one span is enough.
    # (A framework's agent or tool span, e.g. AutoGen's invoke_agent, is no such span.) The current
    # span is read from the context as get_current_span does, without its calls: this runs on every
    # call, and no span (None) or a non-recording one has no kind either.
    current = context.get(_SPAN_KEY)
    if getattr(current, "kind", None) != _CLIENT:
        return True
    attributes = getattr(current, "attributes", None) or {}
    operation = attributes.get(sc.GEN_AI_OPERATION_NAME)
    return operation not in sc.LLM_OPERATIONS or attributes.get(sc.SPAN_KIND) == sc.KIND_LLM


Describe = Callable[[Any, tuple[Any, ...], dict[str, Any]], LlmRequest]
Finish = Callable[[LlmCall, Any], Any]  # ends the call (or hands it to a stream) and returns the result


def _start(
    get_tracer: Callable[[], Tracer],
    describe: Describe,
    instance: Any,
    args: Any,
    kwargs: Any,
    context: otel_context.Context,
) -> LlmCall | None:
    if not should_trace(context):
        return None
    try:
        return LlmCall(get_tracer(), describe(instance, args, kwargs), context)
    except Exception:
        failed(f"describe-{getattr(describe, '__qualname__', describe)}", "could not describe an LLM call")
        return None


def finish_guarded(call: LlmCall, finish: Finish, result: Any) -> Any:
    """``finish(call, result)``; if it fails, the span ends without the answer and ``result`` is returned."""
    try:
        return finish(call, result)
    except Exception:
        failed(f"finish-{getattr(finish, '__qualname__', finish)}", "could not record an LLM response")
        call.succeed(LlmResult())
        return result


def sync_wrapper(get_tracer: Callable[[], Tracer], describe: Describe, finish: Finish) -> Callable[..., Any]:
    """A wrapt wrapper that traces a synchronous provider method."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        context = otel_context.get_current()  # read once: the checks, the span and its context share it
        call = _start(get_tracer, describe, instance, args, kwargs, context)
        if call is None:
            return wrapped(*args, **kwargs)
        token = otel_context.attach(call_context(call, context))
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as error:
            call.fail(error)
            raise
        finally:
            otel_context.detach(token)
        return finish_guarded(call, finish, result)

    return wrapper


# Twin by nature of sync_wrapper, for coroutine methods.
def async_wrapper(get_tracer: Callable[[], Tracer], describe: Describe, finish: Finish) -> Callable[..., Any]:
    """A wrapt wrapper that traces an asynchronous provider method (the call returns an awaitable)."""

    def wrapper(wrapped: Callable[..., Awaitable[Any]], instance: Any, args: Any, kwargs: Any) -> Any:
        async def traced() -> Any:
            context = otel_context.get_current()
            call = _start(get_tracer, describe, instance, args, kwargs, context)
            if call is None:
                return await wrapped(*args, **kwargs)
            token = otel_context.attach(call_context(call, context))
            try:
                result = await wrapped(*args, **kwargs)
            except BaseException as error:
                call.fail(error)
                raise
            finally:
                otel_context.detach(token)
            return finish_guarded(call, finish, result)

        return traced()

    return wrapper
