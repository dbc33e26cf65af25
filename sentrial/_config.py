"""Settings of a Sentrial client: from arguments, then ``SENTRIAL_*`` environment variables, then defaults."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any

from sentrial_otel_exporter.exporter import DEFAULT_API_URL, ENV_API_KEY, ENV_API_URL

logger = logging.getLogger("sentrial")

ENV_DISABLED = "SENTRIAL_DISABLED"
ENV_OTEL_SDK_DISABLED = "OTEL_SDK_DISABLED"

# Without batching spans still leave the app thread at once; the queue is sized like OTel's default.
UNBATCHED_QUEUE_SIZE = 2048
# The most that what waits to be sent (spans and requests together) may hold, in bytes.
DEFAULT_MAX_QUEUE_BYTES = 64 * 1024 * 1024


_LONGEST_WAIT_S = 86_400.0
"""The longest time setting taken (a day): sockets and locks refuse waits of ~1e10 s and beyond."""


def _positive(name: str, value: Any, kind: type, most: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
        raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be greater than 0, got {value!r}")
    if most is not None and value > most:
        raise ValueError(f"{name} must be at most {most:g}, got {value!r}")


@dataclass(frozen=True)
class BatcherConfig:
    """How tracked events are batched before they are sent.

    ``flush_interval`` (seconds) and ``flush_threshold`` (events) decide when a batch goes out,
    whichever comes first; past ``max_queue_size`` waiting events, new ones are dropped (and
    counted, and logged). ``enabled`` is off by default, as in the published package: pass
    ``BatcherConfig(enabled=True, ...)``, or ``batching=True`` for the defaults.
    """

    enabled: bool = False
    flush_interval: float = 1.0
    flush_threshold: int = 10
    max_queue_size: int = 1000

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise TypeError(f"enabled must be a bool, got {type(self.enabled).__name__}")
        _positive("flush_interval", self.flush_interval, float, _LONGEST_WAIT_S)
        _positive("flush_threshold", self.flush_threshold, int)
        _positive("max_queue_size", self.max_queue_size, int)
        if self.flush_threshold > self.max_queue_size:
            raise ValueError("flush_threshold must not exceed max_queue_size")


@dataclass(frozen=True)
class Settings:
    """Everything one client's delivery needs, resolved and validated. Its repr leaves the key out."""

    api_key: str | None = field(repr=False)
    api_url: str
    fail_silently: bool
    batching: BatcherConfig | None
    pii: Any
    timeout: float
    retry_timeout: float
    max_value_chars: int
    # False when neither a key nor a URL was given anywhere (or Sentrial export is off): nothing is sent.
    can_send: bool
    # True under SENTRIAL_DISABLED or OTEL_SDK_DISABLED: no spans, no delivery, every call a no-op.
    disabled: bool = False
    # True when SENTRIAL_API_URL was unusable (and logged as such): nothing is sent.
    url_refused: bool = False
    # Past this many bytes waiting to be sent, new spans and requests are dropped (and counted).
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES

    @property
    def schedule_delay_ms(self) -> float:
        """How long a span may wait in the batch queue."""
        return self.batching.flush_interval * 1000 if self.batching else 1000.0

    @property
    def batch_size(self) -> int:
        """How many spans make a batch; 1 without batching, so each span is handed on at once."""
        return self.batching.flush_threshold if self.batching else 1

    @property
    def queue_size(self) -> int:
        """How many ended spans may wait for the exporter."""
        return self.batching.max_queue_size if self.batching else UNBATCHED_QUEUE_SIZE


def env_flag(name: str) -> bool:
    """True when the environment variable ``name`` is set to a true value (1, true, yes, on)."""
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def resolve_settings(
    *,
    api_key: str | None = None,
    api_url: str | None = None,
    fail_silently: bool = True,
    pii: Any = None,
    batching: bool | BatcherConfig | None = None,
    timeout: float = 10.0,
    retry_timeout: float = 30.0,
    max_value_chars: int = 64 * 1024,
    export_to_sentrial: bool = True,
    max_queue_bytes: int = DEFAULT_MAX_QUEUE_BYTES,
) -> Settings:
    """Validate the arguments and fill the gaps from the environment; raises TypeError/ValueError."""
    if not isinstance(fail_silently, bool):
        raise TypeError(f"fail_silently must be a bool, got {type(fail_silently).__name__}")
    for name, value in (("api_key", api_key), ("api_url", api_url)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    _positive("timeout", timeout, float, _LONGEST_WAIT_S)
    _positive("retry_timeout", retry_timeout, float, _LONGEST_WAIT_S)
    _positive("max_value_chars", max_value_chars, int)
    _positive("max_queue_bytes", max_queue_bytes, int)

    key = api_key or os.environ.get(ENV_API_KEY) or None
    url = api_url or os.environ.get(ENV_API_URL) or None
    url_refused = False
    if url is not None and not url.startswith(("http://", "https://")):
        problem = f"api_url must start with http:// or https://, got {url!r}"
        # A bad argument raises at the call; a bad environment must not crash the first begin() of a
        # silent client (the implicit default client is made there): it sends nothing, and says why.
        if api_url or not fail_silently:
            raise ValueError(problem)
        logger.error("sentrial: %s is not usable (%s); nothing will be sent", ENV_API_URL, problem)
        url, url_refused = None, True

    if batching is None or batching is False:
        batcher = None
    elif batching is True:
        batcher = BatcherConfig(enabled=True)
    elif isinstance(batching, BatcherConfig):
        batcher = batching if batching.enabled else None
    else:
        raise TypeError(f"batching must be a bool or a BatcherConfig, got {type(batching).__name__}")

    return Settings(
        api_key=key,
        api_url=(url or DEFAULT_API_URL).rstrip("/"),
        fail_silently=fail_silently,
        batching=batcher,
        pii=pii,
        timeout=float(timeout),
        retry_timeout=float(retry_timeout),
        max_value_chars=max_value_chars,
        can_send=export_to_sentrial and bool(key or url) and not url_refused and not disabled(),
        disabled=disabled(),
        url_refused=url_refused,
        max_queue_bytes=max_queue_bytes,
    )


def disabled() -> bool:
    """True when SENTRIAL_DISABLED or OTEL_SDK_DISABLED turns the SDK off."""
    return env_flag(ENV_DISABLED) or env_flag(ENV_OTEL_SDK_DISABLED)


# Settings that fall back to their default when refused (fail_silently=True); api_key and api_url
# instead turn sending off, so that a key never goes to a server the caller did not name.
_REPLACEABLE_SETTINGS: dict[str, Any] = {
    "fail_silently": True,
    "pii": None,
    "batching": None,
    "timeout": 10.0,
    "retry_timeout": 30.0,
    "max_value_chars": 64 * 1024,
    "export_to_sentrial": True,
    "max_queue_bytes": DEFAULT_MAX_QUEUE_BYTES,
}


def settings_or_nearest(strict: bool, given: dict[str, Any]) -> tuple[Settings, bool]:
    """The settings for ``given``, and whether sending was turned off for a refused ``api_key`` or
    ``api_url``. With ``strict`` a refused setting raises, else it is logged and replaced."""
    try:
        return resolve_settings(**given), False
    except (TypeError, ValueError):
        if strict:
            raise
    kept: dict[str, Any] = {}
    sending_refused = False
    for name, value in given.items():
        try:
            resolve_settings(**{**kept, name: value})
        except (TypeError, ValueError) as error:
            if name in _REPLACEABLE_SETTINGS:
                logger.error(
                    "sentrial: %s; the default (%r) is used instead", error, _REPLACEABLE_SETTINGS[name]
                )
            else:
                logger.error("sentrial: %s; nothing will be sent", error)
                sending_refused = True
            continue
        kept[name] = value
    if sending_refused:
        kept["export_to_sentrial"] = False
    return resolve_settings(**kept), sending_refused
