"""How a client's ``flush()`` and ``shutdown()`` wait, and what they say when not all was delivered."""

from __future__ import annotations

import threading
from typing import Any

from sentrial._args import ArgumentChecker
from sentrial.delivery import Delivery

LONGEST_WAIT = threading.TIMEOUT_MAX / 2  # room for the deadlines computed from it


class DeliveryError(RuntimeError):
    """Raised by ``flush()``/``shutdown()`` with ``fail_silently=False`` when data was not delivered."""


def wait_seconds(check: ArgumentChecker, timeout: Any) -> float | None:
    """A ``timeout=`` in seconds (None: no limit); a wrong one is refused or becomes 10 s, and
    one longer than the longest wait threads support is that (a longer one overflows there)."""
    if timeout is None:
        return None
    seconds = check.number("timeout", timeout, low=0)
    return 10.0 if seconds is None else min(seconds, LONGEST_WAIT)


def undelivered(delivery: Delivery, api_url: str, what: str) -> str:
    """The message saying that ``what`` (a flush, a shutdown) left spans undelivered, and where."""
    exporter = delivery.exporter
    short = []
    if exporter is not None:
        stats, dropped = exporter.stats, exporter.stats.dropped + delivery.dropped
        short.append(f"to {api_url} ({stats.pending} pending, {dropped} dropped so far)")
    if delivery.others_short:
        failed = ", ".join(delivery.others_short)
        short.append(f"through {failed} (failed, or not done in time)")
    if not short:
        short.append(f"({delivery.dropped} span(s) dropped so far)")
    return f"sentrial: {what} did not deliver everything " + "; ".join(short)
