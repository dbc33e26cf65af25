"""``pii=True``: fetch the organisation's redaction settings from the server, off the app thread.

Until the answer arrives, and when it never does, the full default redaction stays in force
(fail closed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import requests
from opentelemetry import context as otel_context

from sentrial._config import Settings
from sentrial.redact import Redactor, config_from_server

logger = logging.getLogger("sentrial")

PII_CONFIG_PATH = "/api/sdk/pii-config"
_ATTEMPTS = 3


def fetch_in_background(settings: Settings, apply: Callable[[Redactor], None]) -> threading.Thread:
    """Start a daemon thread that fetches the server's settings and calls ``apply`` with them."""
    thread = threading.Thread(target=_fetch, args=(settings, apply), name="sentrial-pii-config", daemon=True)
    thread.start()
    return thread


def _fetch(settings: Settings, apply: Callable[[Redactor], None]) -> None:
    # The SDK's own request must not become a span of an HTTP instrumentation.
    otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
    headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
    failure = ""
    stop = threading.Event()
    for attempt in range(_ATTEMPTS):
        try:
            response = requests.get(
                settings.api_url + PII_CONFIG_PATH, headers=headers, timeout=settings.timeout
            )
            if response.status_code == 200:
                config = config_from_server(response.json())
                if config is None:
                    logger.info(
                        "sentrial: the server has no PII settings; keeping the full default redaction"
                    )
                    return
                apply(Redactor(config, strict=False, max_chars=settings.max_value_chars))
                return
            failure = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code not in (408, 429):
                break
        except (requests.RequestException, ValueError) as exc:
            failure = type(exc).__name__
        stop.wait(0.5 * 2**attempt)
    logger.warning(
        "sentrial: could not fetch the PII settings from the server (%s); keeping the full default redaction",
        failure,
    )
