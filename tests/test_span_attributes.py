"""``set_span_attributes`` leaves a span exactly as ``Span.set_attributes`` would: the same values of
the same types, the same limits applied, nothing on an ended span, on real SDK spans."""

from __future__ import annotations

from typing import Any

import opentelemetry.attributes
import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from sentrial._span_attributes import set_span_attributes

PLAIN = {
    "gen_ai.response.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 12,
    "sentrial.cost.usd": 8e-05,
    "gen_ai.request.stream": True,
    "gen_ai.response.finish_reasons": ("stop", "length"),
}


def _ended_pair(
    values: dict[str, Any], limits: SpanLimits | None = None, end_first: bool = False
) -> list[Any]:
    """Two spans given ``values``, one each way, ended; their exported forms."""
    provider = TracerProvider(span_limits=limits)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    for put in (set_span_attributes, lambda span, given: span.set_attributes(given)):
        span = tracer.start_span("chat gpt-4o", attributes={"gen_ai.operation.name": "chat"})
        if end_first:
            span.end()
        put(span, dict(values))
        span.end()
    return list(exporter.get_finished_spans())


def _as_set(span: ReadableSpan) -> list[tuple[str, type, Any]]:
    return [(name, type(value), value) for name, value in (span.attributes or {}).items()]


@pytest.mark.parametrize(
    "values",
    [
        PLAIN,
        {**PLAIN, "tags": ["a", "b"]},  # a list: OTel makes it a tuple
        {**PLAIN, "counts": (1, 2)},  # a tuple of ints
        {**PLAIN, "gen_ai.response.finish_reasons": ("stop", None)},
        {**PLAIN, "odd": object()},  # no attribute type: OTel's own handling
        {},
    ],
    ids=["plain", "list", "int-tuple", "none-in-tuple", "object", "empty"],
)
def test_the_span_carries_what_set_attributes_gives_it(values: dict[str, Any]) -> None:
    fast, public = _ended_pair(values)
    assert _as_set(fast) == _as_set(public)
    assert fast.dropped_attributes == public.dropped_attributes


@pytest.mark.parametrize(
    "limits",
    [SpanLimits(max_span_attribute_length=3), SpanLimits(max_span_attributes=3)],
    ids=["value-length", "attribute-count"],
)
def test_limits_apply_as_they_do_through_set_attributes(limits: SpanLimits) -> None:
    fast, public = _ended_pair(PLAIN, limits)
    assert _as_set(fast) == _as_set(public)
    assert fast.dropped_attributes == public.dropped_attributes
    assert dict(public.attributes or {}) != {"gen_ai.operation.name": "chat", **PLAIN}  # the limit bit


def test_an_ended_span_is_left_as_it_was() -> None:
    fast, public = _ended_pair(PLAIN, end_first=True)
    assert _as_set(fast) == _as_set(public) == [("gen_ai.operation.name", str, "chat")]


def test_clean_values_skip_the_cleaning(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of the helper: values OTel would keep as they are are stored without its cleaning."""

    def no_cleaning(*_: Any) -> Any:
        raise AssertionError("cleaned")

    provider = TracerProvider()
    span = provider.get_tracer("test").start_span("chat")
    for name in [name for name in vars(opentelemetry.attributes) if name.startswith("_clean")]:
        monkeypatch.setattr(opentelemetry.attributes, name, no_cleaning)  # its names differ between SDKs
    set_span_attributes(span, dict(PLAIN))
    assert dict(span.attributes or {}) == PLAIN
    with pytest.raises(AssertionError, match="cleaned"):
        set_span_attributes(span, {"tags": ["a"]})


def test_a_span_that_does_not_record_takes_nothing() -> None:
    span = TracerProvider(sampler=ALWAYS_OFF).get_tracer("test").start_span("chat")
    set_span_attributes(span, dict(PLAIN))
    assert not span.is_recording()
