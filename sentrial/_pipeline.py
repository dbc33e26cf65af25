"""What a client sends through: its tracer provider, its extra exporters and its PII redaction.

Each comes from a constructor argument; a wrong one raises on a strict client and is otherwise
replaced by the safe default (the default provider, no such exporter, full redaction) and logged.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter

from sentrial._args import ArgumentChecker
from sentrial.redact import Redactor, redactor_for
from sentrial.tracing import resolve_provider

logger = logging.getLogger("sentrial")


def provider_for(tracer_provider: Any, *, strict: bool) -> Any:
    """The provider for ``tracer_provider=``; a wrong one is refused (strict) or replaced."""
    try:
        return resolve_provider(tracer_provider)
    except TypeError:
        if strict:
            raise
        logger.exception("sentrial: invalid tracer_provider; the default provider is used instead")
        return resolve_provider(None)


def exporters_of(check: ArgumentChecker, given: Any) -> list[SpanExporter]:
    """The SpanExporters of ``additional_exporters=``; anything else is refused or left out."""
    if isinstance(given, SpanExporter):
        check.wrong_type("additional_exporters", given, "a sequence of SpanExporter")
        return [given]
    items: list[Any] = check.converted("additional_exporters", list, given, [])
    exporters = [item for item in items if isinstance(item, SpanExporter)]
    if len(exporters) < len(items):
        check.wrong_type("additional_exporters", given, "a sequence of SpanExporter (others left out)")
    return exporters


def redactor_of(pii: Any, *, strict: bool, max_chars: int) -> Redactor | None:
    """The redaction for ``pii=``; a wrong value fails closed (full redaction) unless strict."""
    try:
        return redactor_for(pii, strict=strict, max_chars=max_chars)
    except (TypeError, ValueError):
        if strict:
            raise
        logger.exception("sentrial: invalid pii setting; redacting everything by default instead")
        return redactor_for(True, strict=False, max_chars=max_chars)


_nothing_sent_warned = threading.Event()


def warn_nothing_sent() -> None:
    """Say once per process that, without a key or a URL, nothing goes to Sentrial."""
    if not _nothing_sent_warned.is_set():
        _nothing_sent_warned.set()
        logger.warning(
            "sentrial: no API key and no API URL (set SENTRIAL_API_KEY or SENTRIAL_API_URL); "
            "nothing will be sent"
        )
