"""Langfuse at the published package's import path, as OpenTelemetry: Langfuse takes OTLP, so
writing to Langfuse is one more exporter of the same redacted spans.

``SentrialClient(langfuse=LangfuseIntegration(public_key=..., secret_key=...))`` sends every span
of the client (sessions, tool calls, LLM calls), redacted once, to Sentrial and to Langfuse. The
integration's own methods (``create_trace``, ``create_span``, ``create_generation``, ...) and
:class:`LangfuseTraceContext` record to Langfuse only, through the same redaction.

The keys and the host default to ``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY`` and
``LANGFUSE_HOST``. The ``langfuse`` package is not needed.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.sdk.trace.export import SpanExporter

from sentrial._guard import guard
from sentrial._interaction import Interaction
from sentrial._tool_runs import ToolRun
from sentrial._values import to_json

logger = logging.getLogger("sentrial")

__all__ = ["LangfuseIntegration", "LangfuseTrace", "LangfuseTraceContext"]

DEFAULT_HOST = "https://cloud.langfuse.com"
OTLP_PATH = "/api/public/otel/v1/traces"  # Langfuse's OTLP/HTTP endpoint for traces


@dataclass
class LangfuseTrace:
    """A trace the integration records: an interaction of its own client, finished (with the
    output, the success and the scores given) when the integration flushes after
    :meth:`LangfuseIntegration.update_trace`, or when it shuts down."""

    interaction: Interaction
    context: otel_context.Context  # where its spans start
    output: str | None = None
    success: bool = True
    scores: dict[str, float] = field(default_factory=dict)
    updated: bool = False

    def finish(self) -> None:
        """Finish the interaction with what the trace was given."""
        self.interaction.finish(
            output=self.output,
            success=self.success,
            failure_reason=None if self.success else "failed",
            custom_metrics=self.scores or None,
        )


class LangfuseIntegration:
    """Where spans go in Langfuse (see the module). ``enabled=False``, or keys missing, sends
    nothing; ``fail_silently=False`` raises what goes wrong instead of logging it.
    ``langfuse_client`` (a ``langfuse.Langfuse``) is kept as :attr:`client`; the keys still come
    from the arguments or the environment, since the spans go out over OTLP. ``pii`` is the
    redaction of the integration's own traces, as ``SentrialClient(pii=...)`` takes it (default:
    full redaction, or the Sentrial server's settings where a Sentrial API key is set); with
    ``SentrialClient(langfuse=...)`` the client's own redaction applies to both."""

    def __init__(
        self,
        langfuse_client: Any = None,
        public_key: str | None = None,
        secret_key: str | None = None,
        host: str | None = None,
        enabled: bool = True,
        fail_silently: bool = True,
        *,
        pii: Any = True,
    ) -> None:
        self.fail_silently = fail_silently
        self._pii = pii
        self._client = langfuse_client
        self._public_key = public_key or os.environ.get("LANGFUSE_PUBLIC_KEY")
        self._secret_key = secret_key or os.environ.get("LANGFUSE_SECRET_KEY")
        self.host = (host or os.environ.get("LANGFUSE_HOST") or DEFAULT_HOST).rstrip("/")
        self.enabled = bool(enabled)
        if self.enabled and not (self._public_key and self._secret_key):
            message = (
                "Langfuse needs public_key and secret_key (or LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY)"
            )
            if not fail_silently:
                raise ValueError(message)
            logger.warning("sentrial: %s; nothing is sent to Langfuse", message)
            self.enabled = False
        self._recorder: Any = None  # the SentrialClient of the integration's own traces, made on first use
        self._traces: list[LangfuseTrace] = []
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The ``langfuse.Langfuse`` client given, if any."""
        return self._client

    @property
    def endpoint(self) -> str:
        """The OTLP/HTTP URL the spans are posted to."""
        return self.host + OTLP_PATH

    def exporter(self) -> SpanExporter | None:
        """A new OTLP exporter to Langfuse (None when disabled): what a client adds to its exporters."""
        if not self.enabled:
            return None
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        credentials = base64.b64encode(f"{self._public_key}:{self._secret_key}".encode()).decode()
        return OTLPSpanExporter(endpoint=self.endpoint, headers={"Authorization": f"Basic {credentials}"})

    def _guard(self, what: str) -> guard:
        return guard("langfuse", "could not %s in Langfuse", what, strict=not self.fail_silently)

    def _recording_client(self) -> Any:
        with self._lock:
            if self._recorder is None:
                from sentrial.client import SentrialClient

                exporter = self.exporter()
                self._recorder = SentrialClient(
                    fail_silently=self.fail_silently,
                    pii=self._pii,
                    additional_exporters=[exporter] if exporter is not None else [],
                    export_to_sentrial=False,
                )
            return self._recorder

    # --- the published methods --------------------------------------------------------------------
    def create_trace(
        self,
        session_id: str,
        name: str,
        user_id: str,
        input_data: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> LangfuseTrace | None:
        """Start a trace named ``name`` for ``user_id`` (the Sentrial ``session_id`` in its
        metadata); None when disabled."""
        if not self.enabled:
            return None
        with self._guard("create a trace"):
            interaction, context = self._recording_client()._begin_unentered(
                user_id=user_id,
                event=name,
                input=input_data,
                metadata={**(metadata or {}), "sentrial_session_id": session_id},
            )
            made = LangfuseTrace(interaction, context)
            with self._lock:
                self._traces.append(made)
            return made
        return None

    def create_span(
        self,
        trace: LangfuseTrace | None,
        name: str,
        input_data: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> ToolRun | None:
        """Start a span (a tool call) of ``trace``; :meth:`end_span` ends it."""
        if trace is None or not self.enabled:
            return None
        with self._guard("create a span"):
            return ToolRun(name, input_data or {}, self._recording_client(), trace.context)
        return None

    def end_span(
        self, span: ToolRun | None, output_data: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        """End a span of :meth:`create_span`, failed with ``error`` when given."""
        if span is None:
            return
        with self._guard("end a span"):
            if error is not None:
                span.fail(error)
            else:
                span.succeed(output_data or {})

    def create_generation(
        self,
        trace: LangfuseTrace | None,
        name: str,
        model: str | None = None,
        input_data: Any = None,
        output_data: Any = None,
        usage: dict[str, int] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Record a model call (a generation) of ``trace``: its model, input, output and usage
        (``prompt_tokens``/``input`` and ``completion_tokens``/``output``)."""
        if trace is None or not self.enabled:
            return
        with self._guard("create a generation"):
            from sentrial.instrumentation._llm import LlmCall, LlmRequest, LlmResult
            from sentrial.integrations._sessions import provider_of

            counts = usage or {}
            prompt = counts.get("prompt_tokens", counts.get("input"))
            completion = counts.get("completion_tokens", counts.get("output"))
            request = LlmRequest(
                provider=provider_of(model) or "unknown",
                operation="chat",
                model=model,
                input_messages=None if input_data is None else to_json(input_data),
            )
            call = LlmCall(self._recording_client().tracer, request, trace.context)
            call.succeed(
                LlmResult(
                    response_model=model,
                    input_tokens=prompt,
                    output_tokens=completion,
                    output_messages=None if output_data is None else to_json(output_data),
                )
            )

    def update_trace(
        self, trace: LangfuseTrace | None, output: str | None = None, metadata: dict[str, Any] | None = None
    ) -> None:
        """Give ``trace`` its output (and, from ``metadata``, ``success``); it is finished at the
        next :meth:`flush`."""
        if trace is None:
            return
        trace.output = output if output is not None else trace.output
        if isinstance(metadata, dict) and "success" in metadata:
            trace.success = metadata["success"] is not False
        trace.updated = True

    def score_trace(
        self, trace: LangfuseTrace | None, name: str, value: float, comment: str | None = None
    ) -> None:
        """Score ``trace``: the score is a custom metric of the trace when it is finished."""
        if trace is None:
            return
        trace.scores[str(name)] = value

    def flush(self) -> None:
        """Finish the traces given their final update, and send what waits."""
        self._finish(lambda trace: trace.updated)

    def shutdown(self) -> None:
        """Finish every trace, send what waits and stop sending."""
        self._finish(lambda trace: True)
        if self._recorder is not None:
            with self._guard("shut down"):
                self._recorder.shutdown()

    def _finish(self, ready: Any) -> None:
        with self._lock:
            done = [trace for trace in self._traces if ready(trace)]
            self._traces = [trace for trace in self._traces if not ready(trace)]
        with self._guard("finish a trace"):
            for trace in done:
                trace.finish()
            if self._recorder is not None:
                self._recorder.flush()


class LangfuseTraceContext:
    """One trace in Langfuse: tool calls and model calls, then :meth:`finish` (see the module)."""

    def __init__(
        self,
        integration: LangfuseIntegration,
        session_id: str,
        name: str,
        user_id: str,
        input_data: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.integration = integration
        self.session_id = session_id
        self._trace = integration.create_trace(session_id, name, user_id, input_data, metadata)

    @property
    def trace(self) -> LangfuseTrace | None:
        """The trace (None when the integration is disabled)."""
        return self._trace

    def track_tool_call(
        self,
        tool_name: str,
        tool_input: dict[str, Any],
        tool_output: dict[str, Any],
        tool_error: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Record a tool call (failed with ``tool_error["message"]`` when given)."""
        span = self.integration.create_span(self._trace, tool_name, tool_input, metadata)
        error = tool_error.get("message", "tool error") if isinstance(tool_error, dict) else None
        self.integration.end_span(span, tool_output, None if error is None else str(error))

    def track_llm_call(
        self,
        name: str,
        model: str | None = None,
        input_data: Any = None,
        output_data: Any = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        total_tokens: int | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Record a model call with its tokens."""
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
        self.integration.create_generation(
            self._trace,
            name,
            model,
            input_data,
            output_data,
            {key: value for key, value in usage.items() if value is not None},
            metadata,
        )

    def finish(
        self, output: str | None = None, success: bool = True, custom_metrics: dict[str, float] | None = None
    ) -> None:
        """Finish the trace with its output, success and metrics (as scores), and send it."""
        self.integration.update_trace(self._trace, output, {"success": success})
        for name, value in (custom_metrics or {}).items():
            self.integration.score_trace(self._trace, name, value)
        self.integration.score_trace(self._trace, "success", 1.0 if success else 0.0)
        self.integration.flush()


def exporters_for(langfuse: Any) -> list[SpanExporter]:
    """The exporters ``SentrialClient(langfuse=...)`` adds: one to Langfuse, or none."""
    if langfuse is None:
        return []
    if not isinstance(langfuse, LangfuseIntegration):
        logger.error(
            "sentrial: langfuse must be a LangfuseIntegration, not %s; ignored", type(langfuse).__name__
        )
        return []
    exporter = langfuse.exporter()
    return [exporter] if exporter is not None else []
