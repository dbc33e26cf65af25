"""``opentelemetry-instrument`` support: the Sentrial distro and configurator.

With only ``SENTRIAL_API_KEY`` set, ``opentelemetry-instrument python app.py`` sends the app's LLM
calls to Sentrial. ``OTEL_TRACES_EXPORTER`` names the exporters (default ``sentrial``); each one
named besides ``sentrial`` (``otlp``, ``console``, ...) receives every span, behind the same
redaction as Sentrial. When ``opentelemetry-distro`` is installed as well, choose this one with
``OTEL_PYTHON_DISTRO=sentrial`` and ``OTEL_PYTHON_CONFIGURATOR=sentrial``.
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import entry_points
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator
from opentelemetry.sdk.resources import Resource
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


class SentrialConfigurator(_BaseConfigurator):
    """Builds the same pipeline as ``sentrial.configure()`` for the exporters of ``OTEL_TRACES_EXPORTER``."""

    def _configure(self, **kwargs: Any) -> None:
        if _config.disabled():
            logger.info("sentrial: disabled by SENTRIAL_DISABLED / OTEL_SDK_DISABLED")
            return
        names = exporter_names()
        others = [load_exporter(name)() for name in names if name != SENTRIAL_EXPORTER]
        provider = TracerProvider(resource=Resource.create())
        trace.set_tracer_provider(provider)
        from sentrial.api import configure  # the SDK proper, only once configuration is wanted

        client = configure(
            pii=True if _config.env_flag(ENV_PII) else None,
            tracer_provider=provider,
            additional_exporters=others,
            export_to_sentrial=SENTRIAL_EXPORTER in names,
            instrument=False,  # opentelemetry-instrument loads the instrumentors itself
        )
        client._distro_setup = True  # the app's own configure() keeps this provider and these exporters


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
