"""An app that knows nothing of Sentrial: the OpenTelemetry SDK with its own OTLP/HTTP exporter, and
OpenInference's instrumentation of the real openai client.

Run as ``python python_sender.py OTLP_ENDPOINT OPENAI_BASE_URL``; prints the trace ids of
its two traces as JSON, each with one call (the fake answers the second with an error).
"""

from __future__ import annotations

import contextlib
import json
import sys

import openai
from openinference.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def main() -> None:
    endpoint, openai_url = sys.argv[1], sys.argv[2]
    provider = TracerProvider(resource=Resource.create({"service.name": "py-agent"}))
    exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", compression=Compression.Gzip, timeout=30)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    tracer = provider.get_tracer("py-agent")
    client = openai.OpenAI(api_key="sk-test", base_url=openai_url, max_retries=0)
    ask = [{"role": "user", "content": "Write to jane@example.com"}]
    with tracer.start_as_current_span("answer mail") as good:
        client.chat.completions.create(model="gpt-4o", messages=ask)  # type: ignore[arg-type]
    with tracer.start_as_current_span("answer mail") as bad, contextlib.suppress(openai.APIError):
        client.chat.completions.create(model="gpt-4o", messages=ask)  # type: ignore[arg-type]
    provider.shutdown()
    ids = [f"{span.get_span_context().trace_id:032x}" for span in (good, bad)]
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
