"""Attributes put on a running SDK span in one step, when OpenTelemetry's cleaning would keep them as
they are; and Sentrial's own spans started that way.

``Span.set_attributes`` passes every value through ``_clean_attribute_value`` and stores it with a
Python call of its own (together several thousand CPU instructions per attribute): an LLM call's
dozen result attributes cost more than the rest of its description. Values that are already what
the cleaning makes of them (``str``, ``bool``, ``int``, ``float``, a tuple of ``str``), on a span
whose limits none of them reaches, are stored directly in the plain dict inside the span's
``BoundedAttributes``, under the span's lock, exactly as the cleaning would have stored them. In
every other case (a value of another type, an attribute value length limit, a span that is full,
ended, not the SDK's, or an SDK whose internals differ) the public ``set_attributes`` does it.

A span Sentrial starts for itself (a session's, a tracked event's, an LLM call's inside a session)
carries such values from its start: :class:`OwnSpans` starts it bare and stores them at once, where
nothing reads them while the span starts (see :meth:`OwnSpans.unwatched`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import SynchronousMultiSpanProcessor
from opentelemetry.sdk.trace import sampling as samplers
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import Span, SpanKind, Tracer

from sentrial.tracing import KNOWN_KEY, SessionRouter

_SCALARS = frozenset((str, bool, int, float))
_TEXT = frozenset((str,))


def _kept_as_is(values: Mapping[str, Any]) -> bool:
    """Whether OTel's cleaning returns each of ``values`` unchanged (a tuple of text: an equal tuple)."""
    if _SCALARS.issuperset(map(type, values.values())):  # one pass in C: most results
        return True
    for value in values.values():
        kind = type(value)
        if kind not in _SCALARS and not (kind is tuple and _TEXT.issuperset(map(type, value))):
            return False
    return True


def set_span_attributes(span: Span, values: dict[str, Any]) -> None:
    """``span.set_attributes(values)``, in one step when nothing in it needs OpenTelemetry's cleaning
    (see the module's docstring). ``values`` keys are non-empty ``str``s."""
    stored = getattr(span, "_attributes", None)
    inner, lock = getattr(stored, "_dict", None), getattr(span, "_lock", None)
    maxlen = getattr(stored, "maxlen", 0)
    if (
        type(stored) is BoundedAttributes
        and type(inner) is dict
        and lock is not None
        and getattr(stored, "max_value_len", 0) is None
        and getattr(stored, "_immutable", True) is False
        and (maxlen is None or len(inner) + len(values) <= maxlen)
        and _kept_as_is(values)
    ):
        with lock:
            if getattr(span, "_end_time", 0) is None:  # running: else set_attributes warns as usual
                inner.update(values)
                return
    span.set_attributes(values)


_INTERNAL = SpanKind.INTERNAL


def _sdk_classes(*names: str) -> list[type]:
    """The classes of these names in the SDK's sampling module (some are private, or newer than the
    oldest SDK supported: those missing are left out)."""
    return [found for name in names if isinstance(found := getattr(samplers, name, None), type)]


# Samplers of the OTel SDK that decide without reading the attributes and pass them on unchanged.
_BLIND_SAMPLERS = frozenset(_sdk_classes("StaticSampler", "_AlwaysOn", "_AlwaysOff", "TraceIdRatioBased"))
_PARENT_BASED_FIELDS = (
    "_root",
    "_remote_parent_sampled",
    "_remote_parent_not_sampled",
    "_local_parent_sampled",
    "_local_parent_not_sampled",
)
# Those that only delegate, with the fields that hold their delegates.
_DELEGATING_SAMPLERS: dict[type, tuple[str, ...]] = {
    **dict.fromkeys(
        _sdk_classes(
            "ParentBased", "ParentBasedTraceIdRatio", "_ParentBasedAlwaysOn", "_ParentBasedAlwaysOff"
        ),
        _PARENT_BASED_FIELDS,
    ),
    **dict.fromkeys(_sdk_classes("AlwaysRecordSampler"), ("_root",)),
}
# Span processors whose on_start reads nothing of a span Sentrial starts for itself in a context that
# says so: OTel's own exporting processors (their on_start does nothing) and the router (it knows such
# a span by that context).
_BLIND_PROCESSORS = frozenset((BatchSpanProcessor, SimpleSpanProcessor, SessionRouter))


def _ignores_attributes(sampler: object) -> bool:
    """Whether ``sampler`` decides without the attributes (an unknown one may read them)."""
    kind = type(sampler)
    if kind in _BLIND_SAMPLERS:
        return True
    fields = _DELEGATING_SAMPLERS.get(kind)
    if fields is None:
        return False
    return all(hasattr(sampler, name) and _ignores_attributes(getattr(sampler, name)) for name in fields)


class OwnSpans:
    """Starts the spans Sentrial makes for itself on ``tracer``, their attributes given as plain values.

    Passed to ``start_span``, each attribute would cost OpenTelemetry's cleaning (which keeps
    Sentrial's values as they are). Where nothing reads the attributes while the span starts, the
    span is started without them and they are stored at once with :func:`set_span_attributes`; the
    span is the same. Elsewhere (a sampler or a span processor that is not known to ignore them), they
    are passed to ``start_span`` as usual.
    """

    def __init__(self, tracer: Tracer) -> None:
        self._tracer = tracer
        self._blind_sampler = _ignores_attributes(getattr(tracer, "sampler", None))
        multi = getattr(tracer, "span_processor", None)
        self._multi = multi if type(multi) is SynchronousMultiSpanProcessor else None
        self._seen: object = None  # the provider's processors when last looked at
        self._blind_processors = False

    def unwatched(self) -> bool:
        """Whether nothing reads a span's attributes while it starts: the tracer's sampler, and every
        span processor of its provider, are OTel SDK ones (or the router) known to ignore them."""
        if not self._blind_sampler or self._multi is None:
            return False
        processors = getattr(self._multi, "_span_processors", None)
        if processors is not self._seen:  # a processor was added since the last look (or the first look)
            self._seen = processors
            self._blind_processors = type(processors) is tuple and all(
                type(each) in _BLIND_PROCESSORS for each in processors
            )
        return self._blind_processors

    def start(
        self,
        name: str,
        context: otel_context.Context | None,
        attributes: dict[str, Any],
        start_time: int | None = None,
        kind: SpanKind = _INTERNAL,
    ) -> Span:
        """``tracer.start_span(name, context, kind, attributes, start_time=start_time)``, cheaper when
        ``context`` is one in which the router knows the span without its attributes (see
        :func:`~sentrial.tracing.for_events` and :func:`~sentrial.tracing.for_own_span`).

        ``attributes`` keys are non-empty ``str``s."""
        # By position (name, context, kind, attributes, links, start_time): cheaper than by keyword.
        if context is not None and context.get(KNOWN_KEY) is not None and self.unwatched():
            span = self._tracer.start_span(name, context, kind, None, (), start_time)
            set_span_attributes(span, attributes)
            return span
        return self._tracer.start_span(name, context, kind, attributes, (), start_time)


_by_tracer: dict[int, OwnSpans] = {}
_MOST_TRACERS = 64  # past this many, forget them all (tracers made per call would pile up)


def own_spans(tracer: Tracer) -> OwnSpans:
    """The :class:`OwnSpans` of ``tracer`` (one per tracer object, made at its first use)."""
    found = _by_tracer.get(id(tracer))
    if found is None or found._tracer is not tracer:
        if len(_by_tracer) >= _MOST_TRACERS:
            _by_tracer.clear()
        found = _by_tracer[id(tracer)] = OwnSpans(tracer)
    return found
