"""The GenAI client metrics of LLM calls, on the app's MeterProvider.

``gen_ai.client.token.usage`` and ``gen_ai.client.operation.duration`` (and, for streams,
``gen_ai.client.operation.time_to_first_chunk``) as the GenAI conventions define them, with their
bucket boundaries, plus a counter of what the calls cost (``sentrial.gen_ai.client.cost``, USD).
They go to the provider given to ``instrument(meter_provider=...)``, else to the global one; with
neither set nothing is recorded, and a call pays one look-up for finding that out.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from opentelemetry import metrics
from opentelemetry.environment_variables import OTEL_PYTHON_METER_PROVIDER
from opentelemetry.metrics import Counter, Histogram, MeterProvider, NoOpMeterProvider

from sentrial import semconv as sc
from sentrial._version import VERSION

try:  # what the global provider is until the app sets one
    from opentelemetry.metrics import _internal as _global_metrics
    from opentelemetry.metrics._internal import _ProxyMeterProvider

    _UNSET: tuple[type, ...] = (_ProxyMeterProvider, NoOpMeterProvider)
except ImportError:  # pragma: no cover - an API version that moved them
    _global_metrics = None  # type: ignore[assignment]
    _UNSET = (NoOpMeterProvider,)

METER_NAME = "sentrial.instrumentation"
# The conventions' advice for the two histograms (and the first-chunk one, in seconds like duration).
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
SECONDS_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
# The request attributes every metric of a call carries, when the span has them.
_SERVER_KEYS = (sc.SERVER_ADDRESS, sc.SERVER_PORT)


class CallIdentity(Protocol):
    """What the metrics read of an LLM call's request (an ``LlmRequest``)."""

    operation: str
    provider: str
    model: str | None
    parameters: dict[str, Any]


@dataclass(frozen=True)
class _Instruments:
    provider: MeterProvider
    token_usage: Histogram
    duration: Histogram
    time_to_first_chunk: Histogram
    cost: Counter


# Whether the environment names a global provider, which the API loads when first asked for it.
_FROM_ENV = bool(os.environ.get(OTEL_PYTHON_METER_PROVIDER))
_given: MeterProvider | None = None
_instruments: _Instruments | None = None  # of the provider they were made from
_lock = threading.Lock()


def use_meter_provider(provider: MeterProvider | None) -> None:
    """Record on ``provider`` from now on; None goes back to the global one."""
    global _given
    _given = provider


def current_instruments() -> _Instruments | None:
    """The instruments of the provider in use, made at its first use; None when no provider is set."""
    if _given is not None:
        provider = _given
    elif _global_metrics is not None and _global_metrics._METER_PROVIDER is None and not _FROM_ENV:
        return None  # the common case of an app without metrics, found without asking the API
    else:
        provider = metrics.get_meter_provider()
    instruments = _instruments
    if instruments is not None and instruments.provider is provider:
        return instruments
    if isinstance(provider, _UNSET):
        return None
    return _make_instruments(provider)


def _make_instruments(provider: MeterProvider) -> _Instruments:
    global _instruments
    with _lock:
        if _instruments is not None and _instruments.provider is provider:
            return _instruments
        meter = provider.get_meter(METER_NAME, VERSION, schema_url=sc.GEN_AI_SCHEMA_URL)

        def histogram(name: str, unit: str, description: str, buckets: tuple[float, ...]) -> Histogram:
            return meter.create_histogram(
                name, unit=unit, description=description, explicit_bucket_boundaries_advisory=buckets
            )

        _instruments = _Instruments(
            provider=provider,
            token_usage=histogram(
                sc.GEN_AI_CLIENT_TOKEN_USAGE,
                "{token}",
                "Number of input and output tokens used",
                TOKEN_BUCKETS,
            ),
            duration=histogram(
                sc.GEN_AI_CLIENT_OPERATION_DURATION, "s", "GenAI operation duration", SECONDS_BUCKETS
            ),
            time_to_first_chunk=histogram(
                sc.GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK,
                "s",
                "Time to the first chunk of a stream",
                SECONDS_BUCKETS,
            ),
            cost=meter.create_counter(sc.COST_METRIC, unit="USD", description="What LLM calls cost"),
        )
        return _instruments


def _call_attributes(call: CallIdentity) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: call.operation,
        sc.GEN_AI_PROVIDER_NAME: call.provider,
    }
    if call.model:
        attributes[sc.GEN_AI_REQUEST_MODEL] = call.model
    parameters = call.parameters
    for key in _SERVER_KEYS:
        value = parameters.get(key)
        if value is not None:
            attributes[key] = value
    return attributes


def record_call(
    call: CallIdentity,
    result: Mapping[str, Any],
    started: float,
    error_type: str | None,
    instruments: _Instruments | None = None,
) -> None:
    """Record one LLM call that just ended: ``call`` its request, ``result`` its span's result
    attributes, ``started`` when it began (``time.monotonic()``), on ``instruments`` (default: the
    current ones)."""
    instruments = instruments or current_instruments()
    if instruments is None:
        return
    duration_s = time.monotonic() - started
    attributes = _call_attributes(call)
    response_model = result.get(sc.GEN_AI_RESPONSE_MODEL)
    if response_model is not None:
        attributes[sc.GEN_AI_RESPONSE_MODEL] = response_model
    timed = {**attributes, sc.ERROR_TYPE_ATTRIBUTE: error_type} if error_type else attributes
    instruments.duration.record(duration_s, timed)
    for token_type, key in (
        ("input", sc.GEN_AI_USAGE_INPUT_TOKENS),
        ("output", sc.GEN_AI_USAGE_OUTPUT_TOKENS),
    ):
        tokens = result.get(key)
        if type(tokens) is int:
            instruments.token_usage.record(tokens, {**attributes, sc.GEN_AI_TOKEN_TYPE: token_type})
    cost = result.get(sc.COST_USD)
    if isinstance(cost, (int, float)) and cost > 0:
        instruments.cost.add(cost, attributes)


def record_time_to_first_chunk(call: CallIdentity, seconds: float) -> None:
    """Record how long a streamed call waited for its first chunk."""
    instruments = current_instruments()
    if instruments is not None:
        instruments.time_to_first_chunk.record(seconds, _call_attributes(call))
