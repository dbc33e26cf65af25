"""Span and trace ids for Sentrial's own spans that the app's use of ``random`` cannot repeat.

OpenTelemetry's default id generator draws from the ``random`` module's shared generator, so an app
that calls ``random.seed(42)`` between two tracking calls (common in ML code) gets the same span id
twice. The Sessions API de-duplicates events by ``spanId``, so distinct events would collapse into
one. Sentrial's tracers therefore draw from a generator of their own, seeded from the OS and seeded
anew in a forked child. Only Sentrial's tracer objects get it: the app's provider, and the tracers
the app and other instrumentations get from it, keep their generator.
"""

from __future__ import annotations

import random

from opentelemetry import trace
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import INVALID_SPAN_ID, INVALID_TRACE_ID, Tracer, TracerProvider

from sentrial._version import VERSION
from sentrial_otel_exporter.forks import after_fork_in_child
from sentrial_otel_exporter.semconv import GEN_AI_SCHEMA_URL


class PrivateIdGenerator(RandomIdGenerator):
    """Random ids from a generator no one else seeds (still random ids, as the W3C flag says)."""

    def __init__(self) -> None:
        self._random = random.Random()  # seeded from os.urandom
        after_fork_in_child(self.reseed)

    def reseed(self) -> None:
        """Seed anew from the OS: a forked child must not repeat its parent's ids."""
        self._random.seed()

    def generate_span_id(self) -> int:
        span_id = self._random.getrandbits(64)
        while span_id == INVALID_SPAN_ID:
            span_id = self._random.getrandbits(64)
        return span_id

    def generate_trace_id(self) -> int:
        trace_id = self._random.getrandbits(128)
        while trace_id == INVALID_TRACE_ID:
            trace_id = self._random.getrandbits(128)
        return trace_id


PRIVATE_IDS = PrivateIdGenerator()

# A version 4 UUID is 128 random bits but six (RFC 9562): the version, 0100, in bits 76-79, and the
# variant, 10, in bits 62-63. Cleared with the mask and set with the bits, in one or two at once.
_UUID_MASK = ((1 << 128) - 1) & ~(0xF << 76) & ~(0x3 << 62)
_UUID_BITS = (0x4 << 76) | (0x2 << 62)
_TWO_UUIDS_MASK = _UUID_MASK << 128 | _UUID_MASK
_TWO_UUIDS_BITS = _UUID_BITS << 128 | _UUID_BITS


def _uuid_text(data: bytes) -> str:
    """A UUID's 16 bytes as its text: 8 hex digits, three groups of 4, then 12 (``bytes.hex`` with a
    separator writes the middle groups: cheaper than slicing one hex text into five)."""
    return f"{data[:4].hex()}-{data[4:10].hex('-', 2)}-{data[10:].hex()}"


def new_uuid() -> str:
    """A random (version 4) UUID as text, like ``str(uuid.uuid4())``, drawn from the private
    generator: it makes the ids of every session begun, and a third of what ``uuid4`` costs."""
    return _uuid_text((PRIVATE_IDS._random.getrandbits(128) & _UUID_MASK | _UUID_BITS).to_bytes(16, "big"))


def new_uuids() -> tuple[str, str]:
    """Two such UUIDs (a session's id and its event id), drawn at once: cheaper than two calls."""
    data = (PRIVATE_IDS._random.getrandbits(256) & _TWO_UUIDS_MASK | _TWO_UUIDS_BITS).to_bytes(32, "big")
    return _uuid_text(data[:16]), _uuid_text(data[16:])


def with_private_ids(tracer: Tracer) -> Tracer:
    """``tracer`` drawing its ids from :data:`PRIVATE_IDS` when it is an SDK tracer (the tracer object
    is Sentrial's own: a provider makes a new one for every ``get_tracer`` call)."""
    if isinstance(tracer, SdkTracer):
        tracer.id_generator = PRIVATE_IDS
    return tracer


def sentrial_tracer(provider: TracerProvider, name: str) -> Tracer:
    """``provider``'s tracer of scope ``name`` with the package version and the GenAI schema URL,
    drawing Sentrial's private ids."""
    return with_private_ids(provider.get_tracer(name, VERSION, schema_url=GEN_AI_SCHEMA_URL))


class TracerSource:
    """Sentrial's tracer of one provider (default: the global one), made when first needed.

    Until the global provider is set, OpenTelemetry hands out a proxy whose spans would get the
    provider's own ids; so only an SDK tracer is kept, and the source asks again until there is one.
    """

    def __init__(self, name: str, provider: TracerProvider | None = None) -> None:
        self._name = name
        self._provider = provider
        self._tracer: Tracer | None = None

    def __call__(self) -> Tracer:
        tracer = self._tracer
        if tracer is not None:
            return tracer
        tracer = trace.get_tracer(
            self._name, VERSION, tracer_provider=self._provider, schema_url=GEN_AI_SCHEMA_URL
        )
        if isinstance(tracer, SdkTracer):  # two threads may both get here: either tracer serves
            self._tracer = with_private_ids(tracer)
        return tracer
