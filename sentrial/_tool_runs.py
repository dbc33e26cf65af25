"""A tool call as a span that covers the tool's whole run (``@tool`` and the framework integrations).

The span is started before the tool runs and ended after it, so LLM calls and other tool calls made
inside nest under it; it belongs to the session current where the tool started.
"""

from __future__ import annotations

import logging
import time
import traceback
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from sentrial import semconv
from sentrial._ids import TracerSource
from sentrial._values import DEFAULT_MAX_CHARS, cap_text, safe_text, to_json
from sentrial.client import SentrialClient, current_interaction
from sentrial.tracing import current_route

logger = logging.getLogger("sentrial")
_DEFAULT_TRACER = TracerSource("sentrial")


class ToolRun:
    """One traced run of a tool: its span, started here and ended by ``succeed`` or ``fail``.

    The span is recorded on ``client`` (default: the client of the current interaction, else the
    global tracer provider), in ``context`` (default: the current one); ``reasoning`` is why the
    agent called the tool, when it said; ``call_id`` the id the model gave the call, when known.
    With ``failure_as_error`` a failed run is sent as an error event (as the published ``@tool``
    sends it) rather than as a tool call with its error.

    As a context manager it makes the span current while the tool runs, then ends it: failed with
    the exception that left the block, else with ``output`` (which the block sets). A generator
    closed early (GeneratorExit) succeeds with what was taken.
    """

    output: Any = None

    def __init__(
        self,
        name: str,
        tool_input: Any,
        client: SentrialClient | None = None,
        context: otel_context.Context | None = None,
        reasoning: str | None = None,
        call_id: str | None = None,
        failure_as_error: bool = False,
    ) -> None:
        if client is None:
            interaction = current_interaction()
            client = interaction.client if interaction is not None else None
        name = safe_text(name)
        self._name = name
        self._failure_as_error = failure_as_error
        tracer: Tracer = client.tracer if client is not None else _DEFAULT_TRACER()
        self._max_chars = client.max_value_chars if client is not None else DEFAULT_MAX_CHARS
        attributes: dict[str, Any] = {
            semconv.SPAN_KIND: semconv.KIND_TOOL_CALL,
            semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_EXECUTE_TOOL,
            semconv.GEN_AI_TOOL_NAME: name,
            semconv.GEN_AI_TOOL_TYPE: semconv.TOOL_TYPE_FUNCTION,
            semconv.GEN_AI_TOOL_CALL_ARGUMENTS: to_json(tool_input, self._max_chars),
            semconv.COST_USD: 0.0,
        }
        if call_id is not None:
            attributes[semconv.GEN_AI_TOOL_CALL_ID] = cap_text(safe_text(call_id), self._max_chars)
        if reasoning is not None:
            attributes[semconv.REASONING] = cap_text(safe_text(reasoning), self._max_chars)
        route = current_route(context)
        if route is not None:
            attributes[semconv.SESSION_ID] = route.session_id
        self.span: Span = tracer.start_span(
            semconv.tool_call_span_name(name), context=context, attributes=attributes
        )
        self._started = time.perf_counter()

    def succeed(self, output: Any) -> None:
        """End the span with the tool's output (a dict as it is, anything else under ``"result"``)."""
        value = output if isinstance(output, dict) else {"result": output}
        self.span.set_attribute(semconv.GEN_AI_TOOL_CALL_RESULT, to_json(value, self._max_chars))
        self._end()

    def fail(self, error: BaseException | str) -> None:
        """End the span as failed with the tool's exception, or with the error text a framework
        reported for it. Never raises: the tool's own exception is the one its caller must see."""
        try:
            if isinstance(error, BaseException):
                text, kind = safe_text(error), type(error).__name__
                error_type = type(error).__qualname__
                self._record_exception(error)
            else:  # a framework's error text: no class to name
                text, kind, error_type = safe_text(error), "ToolError", semconv.OTHER
            if self._failure_as_error:
                self._mark_error_event(text, kind, error)
            else:
                self.span.set_attribute(
                    semconv.TOOL_ERROR, to_json({"message": text, "type": kind}, self._max_chars)
                )
            self.span.set_attribute(semconv.ERROR_TYPE_ATTRIBUTE, error_type)
            self.span.set_status(Status(StatusCode.ERROR, f"{kind}: {text}"))
        finally:
            self._end()

    def _mark_error_event(self, text: str, kind: str, error: BaseException | str) -> None:
        """Make the span an error event of the tool: message, type and the exception's traceback."""
        attributes = {
            semconv.SPAN_KIND: semconv.KIND_ERROR,
            semconv.ERROR_MESSAGE: cap_text(text, self._max_chars),
            semconv.ERROR_TYPE: kind,
            semconv.ERROR_TOOL_NAME: self._name,
        }
        if isinstance(error, BaseException):
            trace_text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            attributes[semconv.ERROR_STACK_TRACE] = cap_text(trace_text, self._max_chars)
        self.span.set_attributes(attributes)

    def __enter__(self) -> ToolRun:
        # run.fail records what the tool raises: OTel's own recording would read the exception's
        # message unguarded, and record it twice.
        self._scope = trace.use_span(
            self.span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        )
        self._scope.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._scope.__exit__(None, None, None)
        if error is None or isinstance(error, GeneratorExit):
            self.succeed(self.output)
        else:
            self.fail(error)

    def _record_exception(self, error: BaseException) -> None:
        try:
            self.span.record_exception(error)
        except Exception:  # e.g. its __str__ raises: the message above still says what failed
            logger.warning("sentrial: could not record the %s exception", type(error).__name__, exc_info=True)

    def _end(self) -> None:
        duration_ms = round((time.perf_counter() - self._started) * 1000, 3)
        self.span.set_attribute(semconv.METADATA, to_json({"duration_ms": duration_ms}))
        self.span.end()
