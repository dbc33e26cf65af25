"""The GenAI client metrics of traced calls, read from an app's own MeterProvider with an in-memory
reader (given to the instrumentor; the global provider is checked in test_one_span_per_call)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from fake_openai import FakeOpenAI, Reply
from openai_support import USER, Traced, cost
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

import sentrial
from sentrial import semconv as sc
from sentrial.instrumentation import _metrics
from sentrial.instrumentation.openai import OpenAIInstrumentor


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    memory = InMemoryMetricReader()
    meters = MeterProvider(metric_readers=[memory])
    instrumentor = OpenAIInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=Traced().provider, meter_provider=meters)
    try:
        yield memory
    finally:
        instrumentor.uninstrument()
        _metrics.use_meter_provider(None)
        meters.shutdown()


def points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Each metric's data points, by name, with their scope checked."""
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope
            assert (scope.name, scope.version, scope.schema_url) == (
                "sentrial.instrumentation",
                sentrial.__version__,
                sc.GEN_AI_SCHEMA_URL,
            )
            for metric in scope_metrics.metrics:
                found[metric.name] = list(metric.data.data_points)
    return found


def test_a_call_records_token_usage_duration_and_cost(
    fake: FakeOpenAI, client: openai.OpenAI, reader: InMemoryMetricReader
) -> None:
    client.chat.completions.create(model="gpt-4o", messages=USER)

    found = points(reader)
    call = {
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o",
        sc.SERVER_ADDRESS: "127.0.0.1",
        sc.SERVER_PORT: int(fake.url.split(":")[-1].split("/")[0]),
    }
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p for p in found[sc.GEN_AI_CLIENT_TOKEN_USAGE]}
    assert {kind: (dict(p.attributes), p.sum) for kind, p in tokens.items()} == {
        "input": ({**call, sc.GEN_AI_TOKEN_TYPE: "input"}, 12),
        "output": ({**call, sc.GEN_AI_TOKEN_TYPE: "output"}, 5),
    }
    assert tokens["input"].explicit_bounds == _metrics.TOKEN_BUCKETS
    (duration,) = found[sc.GEN_AI_CLIENT_OPERATION_DURATION]
    assert isinstance(duration, HistogramDataPoint)
    assert (dict(duration.attributes), duration.count) == (call, 1)
    assert duration.explicit_bounds == _metrics.SECONDS_BUCKETS
    (spent,) = found[sc.COST_METRIC]
    assert (dict(spent.attributes), spent.value) == (call, pytest.approx(cost("gpt-4o", 12, 5)))
    assert sc.GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK not in found  # not a stream


def test_a_stream_records_its_time_to_first_chunk_and_a_failure_its_error_type(
    fake: FakeOpenAI, client: openai.OpenAI, reader: InMemoryMetricReader
) -> None:
    for _ in client.chat.completions.create(model="gpt-4o", messages=USER, stream=True):
        pass
    fake.reply = Reply(status=500)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=USER)

    found = points(reader)
    (first_chunk,) = found[sc.GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK]
    assert first_chunk.count == 1 and first_chunk.explicit_bounds == _metrics.SECONDS_BUCKETS
    durations = {
        p.attributes.get(sc.ERROR_TYPE_ATTRIBUTE): p.count for p in found[sc.GEN_AI_CLIENT_OPERATION_DURATION]
    }
    assert durations == {None: 1, "500": 1}
