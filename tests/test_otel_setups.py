"""Sentrial under ``opentelemetry-instrument`` and next to an app's own OpenTelemetry setup.

Each scenario runs as its own process (a global tracer provider can be set only once), against the
local server and an OTLP/HTTP receiver started by the test.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_anthropic import FakeAnthropic
from helpers import wait_until
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from otlp_receiver import OtlpReceiver

import sentrial
from sentrial.server import LocalServer

LLM_APP = """
import os
import anthropic

client = anthropic.Anthropic(base_url=os.environ["FAKE_URL"], api_key="test-key", max_retries=0)
answer = client.messages.create(
    model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "Weather in Paris?"}]
)
print(answer.content[0].text)
"""


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic().start()
    yield server
    server.stop()


def run(
    script: str, tmp_path: Path, env: dict[str, str], instrument: bool = False
) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(script))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SENTRIAL_"))}
    command = [sys.executable, str(app)]
    if instrument:
        launcher = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
        assert launcher is not None, "opentelemetry-instrument is installed with the SDK"
        command = [launcher, *command]
    result = subprocess.run(
        command, env={**clean, **env}, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result


def to_sentrial_and_otlp(fake: FakeAnthropic, server: LocalServer, receiver: OtlpReceiver) -> dict[str, str]:
    """The environment of an app that opentelemetry-instrument runs with Sentrial and OTLP exporters."""
    return {
        "FAKE_URL": fake.url,
        "SENTRIAL_API_KEY": "k",
        "SENTRIAL_API_URL": server.url,
        "OTEL_TRACES_EXPORTER": "sentrial,otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{receiver.url}/v1/traces",
        "OTEL_PYTHON_DISTRO": "sentrial",
        "OTEL_PYTHON_CONFIGURATOR": "sentrial",
    }


def llm_spans_received(receiver: OtlpReceiver) -> list[dict[str, Any]]:
    """The LLM spans the OTLP receiver got, once there is one."""
    spans: list[dict[str, Any]] = wait_until(
        lambda: [s for s in receiver.spans() if s["attributes"].get("sentrial.span.kind") == "llm"],
        what="the LLM span at the OTLP receiver",
    )
    return spans


def test_opentelemetry_instrument_sends_to_sentrial_and_otlp(
    fake: FakeAnthropic, local_server: LocalServer, otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    result = run(
        LLM_APP,
        tmp_path,
        {**to_sentrial_and_otlp(fake, local_server, otlp_receiver), "OTEL_SERVICE_NAME": "weather-bot"},
        instrument=True,
    )
    assert "Hello there, friend." in result.stdout

    (session,) = local_server.sessions()
    assert (session["agentName"], session["status"]) == ("weather-bot", "completed")
    (event,) = local_server.session(session["id"])["events"]  # type: ignore[index]
    assert event["toolName"] == "llm:anthropic:claude-haiku-4-5"
    assert event["toolOutput"]["tokens"] == {"prompt": 12, "completion": 7, "total": 19}
    assert event["estimatedCost"] > 0

    (llm,) = llm_spans_received(otlp_receiver)
    assert llm["attributes"]["gen_ai.provider.name"] == "anthropic"
    assert llm["attributes"]["gen_ai.request.model"] == "claude-haiku-4-5"
    assert int(llm["attributes"]["gen_ai.usage.output_tokens"]) == 7


def test_under_opentelemetry_instrument_the_apps_own_configure_keeps_the_named_exporters(
    fake: FakeAnthropic, local_server: LocalServer, otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    # The quick start's first line, in an app run with OTEL_TRACES_EXPORTER=sentrial,otlp.
    result = run(
        "import sentrial\nsentrial.configure()\n" + textwrap.dedent(LLM_APP),
        tmp_path,
        to_sentrial_and_otlp(fake, local_server, otlp_receiver),
        instrument=True,
    )
    assert "Hello there, friend." in result.stdout
    (session,) = local_server.sessions()
    assert session["status"] == "completed"
    assert len(llm_spans_received(otlp_receiver)) == 1


APP_WITH_METRICS_AND_LOGS = """
from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger
import sentrial

metrics.get_meter("shop").create_counter("orders.placed").add(3, {"shop.city": "paris"})
get_logger("shop").emit(body="order placed")
with sentrial.begin(user_id="u", event="checkout") as interaction:
    with trace.get_tracer("shop").start_as_current_span("charge card"):
        pass
"""


def console_records(stdout: str) -> list[dict[str, Any]]:
    """The JSON objects the console exporters printed, in order."""
    decoder, records, at = json.JSONDecoder(), [], 0
    while (at := stdout.find("{", at)) >= 0:
        record, at = decoder.raw_decode(stdout, at)
        records.append(record)
    return records


def test_opentelemetry_instrument_sets_up_metrics_and_logs_as_the_stock_configurator_does(
    local_server: LocalServer, tmp_path: Path
) -> None:
    result = run(
        APP_WITH_METRICS_AND_LOGS,
        tmp_path,
        {
            "SENTRIAL_API_KEY": "k",
            "SENTRIAL_API_URL": local_server.url,
            "OTEL_SERVICE_NAME": "shop",
            "OTEL_TRACES_EXPORTER": "sentrial,console",
            "OTEL_METRICS_EXPORTER": "console",
            "OTEL_LOGS_EXPORTER": "console",
            "OTEL_PYTHON_DISTRO": "sentrial",
            "OTEL_PYTHON_CONFIGURATOR": "sentrial",
        },
        instrument=True,
    )
    records = console_records(result.stdout)
    (exported_metrics,) = [r for r in records if "resource_metrics" in r]
    (resource_metrics,) = exported_metrics["resource_metrics"]
    assert resource_metrics["resource"]["attributes"]["service.name"] == "shop"
    (scope,) = [s for s in resource_metrics["scope_metrics"] if s["scope"]["name"] == "shop"]
    (counter,) = scope["metrics"]
    (point,) = counter["data"]["data_points"]
    assert (counter["name"], point["value"], point["attributes"]) == (
        "orders.placed",
        3,
        {"shop.city": "paris"},
    )
    (log,) = [r for r in records if r.get("body") == "order placed"]
    assert log["resource"]["attributes"]["service.name"] == "shop"
    # Traces: Sentrial's pipeline, each span once at the console exporter and the session at Sentrial
    spans = sorted(r["name"] for r in records if "span_id" in r.get("context", {}))
    assert spans == ["charge card", "invoke_agent checkout"]
    (session,) = local_server.sessions()
    assert (session["agentName"], session["status"]) == ("checkout", "completed")


APP_WITH_TWO_CLIENTS = """
import os
from opentelemetry import trace
import sentrial

tracer = trace.get_tracer("shop")
second = sentrial.SentrialClient(api_key="k2", api_url=os.environ["SENTRIAL_API_URL"])
with sentrial.begin(user_id="u1", event="first") as interaction:
    with tracer.start_as_current_span("first work"):
        interaction.track_tool_call(tool_name="a", tool_input={}, tool_output={})
with second.begin(user_id="u2", event="second") as interaction:
    with tracer.start_as_current_span("second work"):
        interaction.track_tool_call(tool_name="b", tool_input={}, tool_output={})
with tracer.start_as_current_span("outside"):
    pass
second.shutdown()
"""


def test_the_exporters_otel_traces_exporter_names_get_every_clients_spans_once(
    local_server: LocalServer, otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    env = {
        "SENTRIAL_API_KEY": "k",
        "SENTRIAL_API_URL": local_server.url,
        "OTEL_TRACES_EXPORTER": "sentrial,otlp",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{otlp_receiver.url}/v1/traces",
        "OTEL_PYTHON_DISTRO": "sentrial",
        "OTEL_PYTHON_CONFIGURATOR": "sentrial",
    }
    run(APP_WITH_TWO_CLIENTS, tmp_path, env, instrument=True)
    expected = [
        "execute_tool a",
        "execute_tool b",
        "first work",
        "invoke_agent first",
        "invoke_agent second",
        "outside",
        "second work",
    ]
    wait_until(lambda: len(otlp_receiver.spans()) >= len(expected), what="the spans at the OTLP receiver")
    assert sorted(span["name"] for span in otlp_receiver.spans()) == expected
    assert sorted(session["agentName"] for session in local_server.sessions()) == ["first", "second"]


def test_configure_twice_with_the_same_exporter_keeps_it_working(local_server: LocalServer) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    options: dict[str, Any] = {
        "tracer_provider": provider,
        "additional_exporters": [exporter],
        "instrument": False,
    }
    try:
        sentrial.configure(api_key="k", api_url=local_server.url, **options)
        sentrial.configure(api_key="k", api_url=local_server.url, **options)
        with sentrial.begin(user_id="u", event="twice") as interaction:
            interaction.track_tool_call(tool_name="t", tool_input={}, tool_output={})
        assert sentrial.flush(timeout=5)
    finally:
        sentrial.shutdown(timeout=5)
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["execute_tool t", "invoke_agent twice"]


APP_WITH_ITS_OWN_OTEL = """
import os
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=os.environ["OTLP_URL"])))
trace.set_tracer_provider(provider)

import sentrial

sentrial.configure(api_key="k", api_url=os.environ["SENTRIAL_URL"])
sentrial.configure(api_key="k", api_url=os.environ["SENTRIAL_URL"])
tracer = trace.get_tracer("shop")
with tracer.start_as_current_span("GET /health"):
    pass
with tracer.start_as_current_span("POST /chat") as request:
    with tracer.start_as_current_span("SELECT user"):
        pass
    with sentrial.begin(user_id="u1", event="chat", input="hi") as interaction:
        interaction.track_tool_call(tool_name="lookup", tool_input={"q": 1}, tool_output={"a": 2})
        interaction.set_output("hello")
print(format(request.get_span_context().trace_id, "032x"))
sentrial.flush(timeout=5)
provider.shutdown()
"""


def test_an_app_with_its_own_provider_and_otlp_exporter(
    local_server: LocalServer, otlp_receiver: OtlpReceiver, tmp_path: Path
) -> None:
    result = run(
        APP_WITH_ITS_OWN_OTEL,
        tmp_path,
        {"OTLP_URL": f"{otlp_receiver.url}/v1/traces", "SENTRIAL_URL": local_server.url},
    )
    trace_id = result.stdout.strip().splitlines()[-1]

    names = sorted(span["name"] for span in otlp_receiver.spans())
    assert names == ["GET /health", "POST /chat", "SELECT user", "execute_tool lookup", "invoke_agent chat"]
    session_span = next(s for s in otlp_receiver.spans() if s["name"] == "invoke_agent chat")
    assert bytes.fromhex(trace_id) == base64.b64decode(session_span["traceId"])

    assert [(r["method"], r["path"].split("/")[3]) for r in local_server.requests] == [
        ("POST", "sessions"),
        ("POST", "events"),
        ("PATCH", "sessions"),
    ]
    (session,) = local_server.sessions()
    assert (session["agentName"], session["assistantOutput"]) == ("chat", "hello")


QUIET_APP = """
import os, sentrial
from opentelemetry import trace
sentrial.configure(api_url=os.environ.get("SENTRIAL_URL"))
with sentrial.begin(user_id="u", event="chat") as interaction:
    interaction.track_tool_call(tool_name="t", tool_input={}, tool_output={})
print(sentrial.flush(timeout=2), type(trace.get_tracer_provider()).__name__)
"""


@pytest.mark.parametrize("switch", ["SENTRIAL_DISABLED", "OTEL_SDK_DISABLED"])
def test_disabled_is_a_no_op(local_server: LocalServer, tmp_path: Path, switch: str) -> None:
    result = run(QUIET_APP, tmp_path, {"SENTRIAL_URL": local_server.url, switch: "true"})
    assert result.stdout.split() == ["True", "ProxyTracerProvider"]
    assert local_server.requests == []


def test_no_key_and_no_url_sends_nothing_and_says_so_once(tmp_path: Path) -> None:
    script = QUIET_APP + "\nsentrial.configure()\nsentrial.begin(user_id='u', event='e').finish()\n"
    result = run(script, tmp_path, {})
    assert result.stderr.count("no API key and no API URL") == 1


FOREIGN_PROVIDER_APP = """
import os
from opentelemetry import trace

class VendorProvider(trace.NoOpTracerProvider):
    pass

trace.set_tracer_provider(VendorProvider())
import sentrial
sentrial.configure(api_url=os.environ["SENTRIAL_URL"])
with sentrial.begin(user_id="u", event="vendor") as interaction:
    interaction.set_output("ok")
print(sentrial.flush(timeout=5))
"""


def test_a_foreign_global_provider_gets_a_warning_and_sentrial_runs_on_its_own(
    local_server: LocalServer, tmp_path: Path
) -> None:
    result = run(FOREIGN_PROVIDER_APP, tmp_path, {"SENTRIAL_URL": local_server.url})
    assert "not the OpenTelemetry SDK's" in result.stderr
    assert result.stdout.strip() == "True"
    (session,) = local_server.sessions()
    assert (session["agentName"], session["status"]) == ("vendor", "completed")


class _RecordToolsOnly(Sampler):
    """Samples every span but the tool calls', which it records without sampling."""

    def should_sample(
        self, parent_context: Any, trace_id: int, name: str, kind: Any = None, attributes: Any = None, *_: Any
    ) -> SamplingResult:
        decision = Decision.RECORD_ONLY if name.startswith("execute_tool") else Decision.RECORD_AND_SAMPLE
        return SamplingResult(decision, attributes)

    def get_description(self) -> str:
        return "record tools only"


def test_a_span_recorded_but_not_sampled_is_not_sent(local_server: LocalServer) -> None:
    exporter = InMemorySpanExporter()
    client = sentrial.SentrialClient(
        api_key="k",
        api_url=local_server.url,
        tracer_provider=TracerProvider(sampler=_RecordToolsOnly()),
        additional_exporters=[exporter],
    )
    with client.begin(user_id="u", event="sampled") as interaction:
        interaction.track_tool_call(tool_name="t", tool_input={}, tool_output={})
        interaction.track_decision(reasoning="enough")
    assert client.flush(timeout=5)
    client.shutdown()
    session = local_server.session(interaction.session_id or "")
    assert session is not None and session["status"] == "completed"
    assert [event["eventType"] for event in session["events"]] == ["llm_decision"]
    assert sorted(span.name for span in exporter.get_finished_spans()) == ["invoke_agent sampled", "plan"]
