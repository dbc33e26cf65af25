"""The published package's module-level redaction functions (``sentrial.redact.redact_string`` and
the rest), over this SDK's text redactor: the same patterns and modes as the spans get, keyed
hashes included."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sentrial._pii_config import ALL_FIELDS, PiiBuiltinPatterns, PiiConfig, PiiCustomPattern, normalise_field
from sentrial._pii_text import TextRedactor

_MOST_REDACTORS = 64  # redactors kept for the settings most recently asked for
_redactors: OrderedDict[tuple[Any, ...], TextRedactor] = OrderedDict()
_lock = threading.Lock()


def _settings_key(config: PiiConfig) -> tuple[Any, ...]:
    builtin = config.builtin_patterns or PiiBuiltinPatterns()
    custom = tuple((p.pattern, p.label) for p in config.custom_patterns or ())
    fields = tuple(config.fields) if config.fields is not None else None
    return (
        config.mode,
        fields,
        config.enhanced_detection,
        tuple(vars(builtin).items()),
        custom,
        config.hash_secret,
    )


def _redactor(config: PiiConfig) -> TextRedactor:
    """The redactor of these settings (made once per distinct settings, then reused)."""
    key = _settings_key(config)
    with _lock:
        redactor = _redactors.get(key)
        if redactor is not None:
            _redactors.move_to_end(key)
            return redactor
    redactor = TextRedactor(config)
    with _lock:
        _redactors[key] = redactor
        if len(_redactors) > _MOST_REDACTORS:
            _redactors.popitem(last=False)
    return redactor


def _config(
    mode: str, builtin: PiiBuiltinPatterns | None, custom: Sequence[PiiCustomPattern] | None
) -> PiiConfig:
    return PiiConfig(
        enabled=True,
        mode=mode,  # type: ignore[arg-type]
        builtin_patterns=builtin or PiiBuiltinPatterns(),
        custom_patterns=list(custom or ()),
    )


def redact_string(
    value: str, mode: str, builtin: PiiBuiltinPatterns, custom: Sequence[PiiCustomPattern]
) -> str:
    """``value`` with every match of the enabled built-in and the custom patterns replaced per ``mode``."""
    if not isinstance(value, str):
        raise TypeError(f"value must be a str, got {type(value).__name__}")
    return _redactor(_config(mode, builtin, custom)).redact_text(value)


def redact_value(
    value: Any, mode: str, builtin: PiiBuiltinPatterns, custom: Sequence[PiiCustomPattern]
) -> Any:
    """``value`` redacted throughout: strings (dict keys too) in lists and dicts; other values as they are."""
    return _redactor(_config(mode, builtin, custom)).redact_structure(value)


def redact_payload(payload: dict[str, Any], config: PiiConfig) -> dict[str, Any]:
    """A copy of ``payload`` with the fields ``config.fields`` names (snake_case or camelCase; all
    of them when None) redacted; the payload itself when ``config.enabled`` is False."""
    if not config.enabled:
        return payload
    wanted = set(ALL_FIELDS) if config.fields is None else {normalise_field(name) for name in config.fields}
    redactor = _redactor(config)
    result = dict(payload)
    for key, value in payload.items():
        try:
            field = normalise_field(key)
        except ValueError:
            continue  # not a content field
        if field in wanted and value is not None:
            result[key] = redactor.redact_structure(value)
    return result
