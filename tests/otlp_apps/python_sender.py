"""An app that knows nothing of Sentrial: the OpenTelemetry SDK with its own OTLP/HTTP exporter, and
OpenInference's instrumentation of the real openai client.

Run as ``python python_sender.py OTLP_ENDPOINT OPENAI_BASE_URL [TRACES]``; prints the trace ids of
its traces as JSON, each trace with one call (the fake decides which calls fail). With TRACES, each
span is exported on its own as it ends (SimpleSpanProcessor): many small requests in a burst.
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
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor


def main() -> None:
    endpoint, openai_url = sys.argv[1], sys.argv[2]
    traces = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    provider = TracerProvider(resource=Resource.create({"service.name": "py-agent"}))
    exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", compression=Compression.Gzip, timeout=30)
    processor = SimpleSpanProcessor(exporter) if len(sys.argv) > 3 else BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)
    OpenAIInstrumentor().instrument(tracer_provider=provider)
    tracer = provider.get_tracer("py-agent")
    client = openai.OpenAI(api_key="sk-test", base_url=openai_url, max_retries=0)
    ask = [{"role": "user", "content": "Write to jane@example.com"}]
    ids = []
    for _ in range(traces):
        with tracer.start_as_current_span("answer mail") as root, contextlib.suppress(openai.APIError):
            client.chat.completions.create(model="gpt-4o", messages=ask)  # type: ignore[arg-type]
        ids.append(f"{root.get_span_context().trace_id:032x}")
    provider.shutdown()
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
