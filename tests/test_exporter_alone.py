"""The exporter added alone to an app's OpenTelemetry setup, without the rest of the SDK.

These tests import nothing of ``sentrial``: the exporter depends on OpenTelemetry and the standard
library only, and the server they talk to (conftest's local Sessions API server) is only a peer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import RecordingServer, in_child
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from sentrial_otel_exporter import SentrialSpanExporter

LLM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}


def test_llm_spans_of_a_trace_become_one_session(local_server: RecordingServer) -> None:
    exporter = SentrialSpanExporter(api_key="k", api_url=local_server.url)
    provider = TracerProvider(resource=Resource.create({"service.name": "ops-bot"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("nightly job") as root:
        with tracer.start_as_current_span("SELECT 1"):
            pass
        for _ in range(2):
            with tracer.start_as_current_span("chat gpt-4o", attributes=LLM):
                pass
        root.set_status(Status(StatusCode.ERROR, "job failed"))
    with tracer.start_as_current_span("GET /health"):
        pass
    assert provider.force_flush()
    assert exporter.flush(timeout=5)
    provider.shutdown()

    (session,) = local_server.sessions()
    assert session["id"] == f"trace-{root.get_span_context().trace_id:032x}"
    assert (session["agentName"], session["status"], session["failureReason"]) == (
        "ops-bot",
        "failed",
        "job failed",
    )
    assert (session["promptTokens"], session["completionTokens"], session["totalTokens"]) == (200, 40, 240)
    events = local_server.session(session["id"])["events"]  # type: ignore[index]
    assert [e["toolName"] for e in events] == ["llm:openai:gpt-4o"] * 2
    assert [r["method"] for r in local_server.requests] == ["POST", "POST", "POST", "PATCH"]


# Run in a process of its own, so that what the other tests imported does not count.
USED_ALONE = """
import json, sys

def sdk_modules():
    return sorted(m for m in sys.modules if m == "sentrial" or m.startswith("sentrial."))

import sentrial_otel_exporter

after_import = sdk_modules()

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

exporter = sentrial_otel_exporter.SentrialSpanExporter(api_key="k", api_url=sys.argv[1])
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
with provider.get_tracer("app").start_as_current_span("chat gpt-4o", attributes=json.loads(sys.argv[2])):
    pass
flushed = exporter.flush(timeout=10)
provider.shutdown()
print(json.dumps({"after_import": after_import, "after_use": sdk_modules(), "flushed": flushed}))
"""


def test_the_exporter_imports_and_delivers_without_loading_the_sdk(local_server: RecordingServer) -> None:
    """The exporter is a leaf: importing it, and exporting through it, loads no module of ``sentrial``."""
    run = subprocess.run(
        [sys.executable, "-c", USED_ALONE, local_server.url, json.dumps(LLM)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"after_import": [], "after_use": [], "flushed": True}
    (session,) = local_server.sessions()
    events = local_server.session(session["id"])["events"]  # type: ignore[index]
    assert [e["toolName"] for e in events] == ["llm:openai:gpt-4o"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
# Python 3.12+ warns on every fork of a process with threads: forking one is what is tested here.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork():DeprecationWarning")
def test_the_exporter_alone_delivers_from_a_forked_child(local_server: RecordingServer) -> None:
    """``opentelemetry-instrument`` under a pre-forking server: only the exporter, on the app's provider."""
    exporter = SentrialSpanExporter(api_key="k", api_url=local_server.url)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("app")
    llm = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
    }

    def one_trace() -> str:
        with (
            tracer.start_as_current_span("job") as root,
            tracer.start_as_current_span("chat gpt-4o", attributes=llm),
        ):
            pass
        return f"trace-{root.get_span_context().trace_id:032x}"

    try:
        parents = one_trace()
        assert provider.force_flush() and exporter.flush(timeout=10)  # the transport's threads run now

        result = in_child(
            lambda: {"session": one_trace(), "flushed": provider.force_flush() and exporter.flush(10)}
        )
    finally:
        provider.shutdown()

    assert result["flushed"] is True
    for session_id in (parents, result["session"]):
        stored = local_server.session(session_id)
        assert stored is not None and stored["status"] == "completed"
        assert [e["toolName"] for e in stored["events"]] == ["llm:openai:gpt-4o"]
