"""``opentelemetry-instrument`` support: the Sentrial distro and configurator.

With only ``SENTRIAL_API_KEY`` set, ``opentelemetry-instrument python app.py`` sends the app's LLM
calls to Sentrial. ``OTEL_TRACES_EXPORTER`` names the exporters (default ``sentrial``); each one
named besides ``sentrial`` (``otlp``, ``console``, ...) receives every span of every client once,
behind the same redaction as Sentrial. Everything else (metrics, logs, the resource, sampler and
id generator) is set up exactly as the stock OpenTelemetry configurator does it
(``OTEL_METRICS_EXPORTER``, ``OTEL_LOGS_EXPORTER``, ``OTEL_RESOURCE_ATTRIBUTES``, ...). When
``opentelemetry-distro`` is installed as well, choose this one with ``OTEL_PYTHON_DISTRO=sentrial``
and ``OTEL_PYTHON_CONFIGURATOR=sentrial``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from sentrial import _config

logger = logging.getLogger("sentrial")

SENTRIAL_EXPORTER = "sentrial"
ENV_TRACES_EXPORTER = "OTEL_TRACES_EXPORTER"
ENV_PII = "SENTRIAL_PII"
_EXPORTER_GROUP = "opentelemetry_traces_exporter"
_OTLP_BY_PROTOCOL = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}


class SentrialDistro(BaseDistro):  # type: ignore[misc]
    """Defaults that make ``opentelemetry-instrument`` send traces to Sentrial and nothing else."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault(ENV_TRACES_EXPORTER, SENTRIAL_EXPORTER)
        os.environ.setdefault("OTEL_METRICS_EXPORTER", "none")
        os.environ.setdefault("OTEL_LOGS_EXPORTER", "none")
        os.environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")


class SentrialConfigurator(_OTelSDKConfigurator):
    """The stock configurator with Sentrial's traces pipeline in place of the stock one.

    The stock configuration runs with no trace exporter named (it still makes the TracerProvider,
    with the sampler, id generator and resource the environment asks for, and the metrics and logs
    pipelines); then ``sentrial.configure()`` on that provider feeds the exporters of
    ``OTEL_TRACES_EXPORTER``, behind its redaction.
    """

    def _configure(self, **kwargs: Any) -> None:
        names = exporter_names()
        with _traces_exporters_unnamed():
            super()._configure(**kwargs)  # type: ignore[no-untyped-call]
        if _config.disabled():  # traces too: the exporters named would get spans Sentrial did not redact
            logger.info("sentrial: disabled by SENTRIAL_DISABLED / OTEL_SDK_DISABLED")
            return
        from sentrial.api import configure  # the SDK proper, only once configuration is wanted
        from sentrial.tracing import resolve_provider, share_exporters

        global_provider = trace.get_tracer_provider()
        provider = resolve_provider(global_provider if isinstance(global_provider, TracerProvider) else None)
        # Every client on this provider feeds them (a second SentrialClient too), not the default one only.
        share_exporters(provider, [load_exporter(name)() for name in names if name != SENTRIAL_EXPORTER])
        client = configure(
            pii=True if _config.env_flag(ENV_PII) else None,
            tracer_provider=provider,
            export_to_sentrial=SENTRIAL_EXPORTER in names,
            instrument=False,  # opentelemetry-instrument loads the instrumentors itself
        )
        client._distro_setup = True  # the app's own configure() keeps this provider


@contextmanager
def _traces_exporters_unnamed() -> Iterator[None]:
    """``OTEL_TRACES_EXPORTER=none`` for the stock configuration: Sentrial adds the exporters itself."""
    named = os.environ.get(ENV_TRACES_EXPORTER)
    os.environ[ENV_TRACES_EXPORTER] = "none"
    try:
        yield
    finally:
        if named is None:
            del os.environ[ENV_TRACES_EXPORTER]
        else:
            os.environ[ENV_TRACES_EXPORTER] = named


def exporter_names() -> list[str]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names (default: sentrial), ``otlp`` resolved by protocol."""
    raw = os.environ.get(ENV_TRACES_EXPORTER, SENTRIAL_EXPORTER)
    names = [name.strip() for name in raw.split(",") if name.strip() and name.strip().lower() != "none"]
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    return [_OTLP_BY_PROTOCOL.get(protocol.strip(), name) if name == "otlp" else name for name in names]


def load_exporter(name: str) -> type[SpanExporter]:
    """The exporter class registered under ``name`` by any installed package."""
    for entry_point in entry_points(group=_EXPORTER_GROUP):
        if entry_point.name == name:
            exporter: type[SpanExporter] = entry_point.load()
            return exporter
    raise RuntimeError(f"no trace exporter named {name!r} is installed (OTEL_TRACES_EXPORTER)")
