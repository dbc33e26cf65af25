"""``pii=True``: fetch the organisation's redaction settings from the server, off the app thread,
and read them.

Until the answer arrives, and when it never does, the full default redaction stays in force
(fail closed); so it does when the settings cannot be applied as a whole.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

import requests
from opentelemetry import context as otel_context

from sentrial._config import Settings
from sentrial.redact import (
    PiiBuiltinPatterns,
    PiiConfig,
    PiiCustomPattern,
    PiiMode,
    Redactor,
    normalise_field,
)

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


_SERVER_BUILTINS = {
    "emails": "emails",
    "phones": "phones",
    "ssns": "ssns",
    "creditCards": "credit_cards",
    "ipAddresses": "ip_addresses",
}


def config_from_server(payload: Any) -> PiiConfig | None:
    """The PiiConfig in a ``GET /api/sdk/pii-config`` answer; None when it holds no config.

    The settings apply as a whole or not at all: a config with any part the SDK cannot apply as
    meant (a field name it does not know, a value of the wrong type, a pattern that does not
    compile) gives the full default redaction, with one warning that names every such part. Taking
    the rest would fail open: a misspelt field would leave its content unredacted.
    """
    config = payload.get("config") if isinstance(payload, dict) else None
    if not isinstance(config, dict):
        return None
    problems: list[str] = []

    def flag(name: str, default: bool) -> bool:
        value = config.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            problems.append(f"{name} is not true or false: {value!r}")
            return default
        return value

    mode: PiiMode = "label"
    given_mode = config.get("mode")
    if given_mode in ("label", "hash", "remove"):
        mode = given_mode
    elif given_mode is not None:
        problems.append(f"mode {given_mode!r} is not 'label', 'hash' or 'remove'")
    fields = _server_fields(config.get("fields"), problems)
    builtins = _server_builtins(config.get("builtinPatterns"), problems)
    custom = _server_custom_patterns(config.get("customPatterns"), problems)
    enabled = flag("enabled", True)
    enhanced = flag("enhancedDetection", False)
    secret = config.get("hashSecret")
    if secret is not None and (not isinstance(secret, str) or not secret):
        problems.append("hashSecret is not a non-empty string")  # never the value: it is a secret
    if problems:
        logger.warning(
            "sentrial: the server's PII settings cannot be applied as they are (%s); "
            "using the full default redaction instead",
            "; ".join(problems),
        )
        return PiiConfig()
    return PiiConfig(
        enabled=enabled,
        mode=mode,
        fields=fields,
        enhanced_detection=enhanced,
        builtin_patterns=builtins,
        custom_patterns=custom,
        hash_secret=secret,
    )


def _server_fields(fields: Any, problems: list[str]) -> list[str] | None:
    if fields is None:
        return None
    if not isinstance(fields, list):
        problems.append(f"fields is not a list: {fields!r}")
        return None
    for name in fields:
        if not isinstance(name, str):
            problems.append(f"fields holds {name!r}, not a field name")
            continue
        try:
            normalise_field(name)
        except ValueError:
            problems.append(f"fields names {name!r}, which is not a known field")
    return list(fields)


def _server_builtins(builtins: Any, problems: list[str]) -> PiiBuiltinPatterns:
    if builtins is None:
        return PiiBuiltinPatterns()
    if not isinstance(builtins, dict):
        problems.append(f"builtinPatterns is not an object: {builtins!r}")
        return PiiBuiltinPatterns()
    chosen: dict[str, bool] = {}
    for name, value in builtins.items():
        if name not in _SERVER_BUILTINS:
            problems.append(f"builtinPatterns names {name!r}, which is not a known pattern")
        elif value is not None and not isinstance(value, bool):
            problems.append(f"builtinPatterns.{name} is not true or false: {value!r}")
        elif value is not None:
            chosen[_SERVER_BUILTINS[name]] = value
    return PiiBuiltinPatterns(**chosen)


def _server_custom_patterns(customs: Any, problems: list[str]) -> list[PiiCustomPattern]:
    if customs is None:
        return []
    if not isinstance(customs, list):
        problems.append(f"customPatterns is not a list: {customs!r}")
        return []
    patterns_found: list[PiiCustomPattern] = []
    for item in customs:
        pattern = item.get("pattern") if isinstance(item, dict) else None
        label = item.get("label", "CUSTOM") if isinstance(item, dict) else None
        if not isinstance(pattern, str) or not pattern or not isinstance(label, str) or not label:
            problems.append(f"customPatterns holds {item!r}, not a pattern with a label")
            continue
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            problems.append(f"custom pattern {pattern!r} does not compile: {error}")
            continue
        if compiled.search(""):
            problems.append(f"custom pattern {pattern!r} matches empty text")
            continue
        patterns_found.append(PiiCustomPattern(label=label, pattern=pattern))
    return patterns_found
