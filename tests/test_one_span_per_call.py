"""One LLM span per LLM call, whatever else traces the library (issue: the anthropic SDK's own
spans doubled every call's tokens in any OTel backend); one exception event per failure; our
scopes' version and schema URL.

The app runs in a process of its own (its global tracer provider can be set only once): its own
TracerProvider with an in-memory exporter, Sentrial configured on top, the real SDKs over HTTP to
the fake providers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_anthropic import FakeAnthropic
from fake_openai import FakeOpenAI

import sentrial
from sentrial import semconv as sc
from sentrial.server import LocalServer

APP = textwrap.dedent(
    """
    import json, os, sys
    import anthropic, openai
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import sentrial

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    sentrial.configure(api_key="k", api_url=os.environ["SENTRIAL_URL"])
    from sentrial.instrumentation._metrics import current_instruments

    assert current_instruments() is None  # no MeterProvider set: nothing to record on
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

    claude = anthropic.Anthropic(base_url=os.environ["ANTHROPIC_URL"], api_key="k", max_retries=0)
    gpt = openai.OpenAI(base_url=os.environ["OPENAI_URL"], api_key="k", max_retries=0)
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    claude.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ask)
    for _ in claude.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ask, stream=True):
        pass
    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=50, messages=ask) as stream:
        stream.until_done()
    claude.with_options(timeout=5).messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ask)
    gpt.chat.completions.create(model="gpt-4o", messages=ask)
    gpt.with_options(timeout=5).chat.completions.create(model="gpt-4o", messages=ask)

    @sentrial.tool
    def lookup(city):
        raise ValueError("no such city")

    try:
        with sentrial.begin(user_id="u", event="weather"):
            lookup("Atlantis")
    except ValueError:
        pass
    nowhere = anthropic.Anthropic(base_url="http://127.0.0.1:9", api_key="k", max_retries=0)
    try:
        nowhere.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ask)
    except anthropic.APIConnectionError:
        pass
    sentrial.flush(timeout=5)
    counts = {
        metric.name: sum(point.count for point in metric.data.data_points)
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name.startswith("gen_ai.")
    }
    print(json.dumps(counts))
    print(json.dumps([
        {
            "name": span.name,
            "scope": span.instrumentation_scope.name,
            "scope_version": span.instrumentation_scope.version,
            "schema_url": span.instrumentation_scope.schema_url,
            "attributes": dict(span.attributes),
            "events": [event.name for event in span.events],
        }
        for span in memory.get_finished_spans()
    ]))
    """
)


@pytest.fixture
def fakes() -> Iterator[tuple[FakeAnthropic, FakeOpenAI]]:
    claude, gpt = FakeAnthropic().start(), FakeOpenAI().start()
    try:
        yield claude, gpt
    finally:
        claude.stop()
        gpt.stop()


def test_each_call_has_one_span_with_its_tokens_and_each_failure_one_exception_event(
    fakes: tuple[FakeAnthropic, FakeOpenAI], local_server: LocalServer, tmp_path: Path
) -> None:
    claude, gpt = fakes
    app = tmp_path / "app.py"
    app.write_text(APP)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SENTRIAL_", "ANTHROPIC_"))}
    env = {
        **clean,
        "SENTRIAL_URL": local_server.url,
        "ANTHROPIC_URL": claude.url,
        "OPENAI_URL": gpt.url,
    }
    result = subprocess.run(
        [sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    *_, metric_counts, span_lines = result.stdout.strip().splitlines()
    spans = json.loads(span_lines)

    with_tokens = [s for s in spans if "gen_ai.usage.output_tokens" in s["attributes"]]
    assert [(s["name"], s["scope"]) for s in with_tokens] == [
        ("chat claude-haiku-4-5", "sentrial.instrumentation"),
    ] * 4 + [("chat gpt-4o", "sentrial.instrumentation")] * 2
    assert not [s for s in spans if s["name"].startswith("anthropic.")]  # the SDK's own spans
    ours = {
        (s["scope"], s["scope_version"], s["schema_url"]) for s in spans if s["scope"].startswith("sentrial")
    }
    assert ours == {
        ("sentrial.instrumentation", sentrial.__version__, sc.GEN_AI_SCHEMA_URL),  # LLM calls
        ("sentrial", sentrial.__version__, sc.GEN_AI_SCHEMA_URL),  # sessions and tool calls
    }

    # on the global MeterProvider: input and output tokens of the six calls, seven durations
    # (the failed call too), and the first chunks of the two streams
    assert json.loads(metric_counts) == {
        "gen_ai.client.token.usage": 12,
        "gen_ai.client.operation.duration": 7,
        "gen_ai.client.operation.time_to_first_chunk": 2,
    }

    failed = {s["name"]: s["events"] for s in spans if s["events"]}
    assert failed == {
        "execute_tool lookup": ["exception"],
        "invoke_agent weather": ["exception"],
        "chat claude-haiku-4-5": ["exception"],
    }
