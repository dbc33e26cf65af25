"""The agent a per-trace session is named after: the session of LLM calls made outside every
Sentrial session. The SDK's router opens such sessions and the exporter used alone does too; both
name the agent here.
"""

from __future__ import annotations

import os

from opentelemetry.sdk.trace import ReadableSpan

from sentrial_otel_exporter import semconv as sc

ENV_AGENT_NAME = "SENTRIAL_AGENT_NAME"
UNKNOWN_AGENT = "unknown_agent"


def trace_session_agent(span: ReadableSpan) -> str:
    """``SENTRIAL_AGENT_NAME``, else the ``service.name`` of the span's resource, else ``unknown_agent``."""
    configured = os.environ.get(ENV_AGENT_NAME)
    if configured:
        return configured
    service = span.resource.attributes.get(sc.SERVICE_NAME) if span.resource is not None else None
    return str(service) if service else UNKNOWN_AGENT
