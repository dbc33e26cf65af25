"""Drops made loud but not noisy: one warning sums up the drops since the previous one."""

from __future__ import annotations

import threading
import time

DEFAULT_INTERVAL_S = 10.0


class DropLog:
    """Counts drops by reason until they are taken for a warning, at most once per ``interval``."""

    def __init__(self, interval: float = DEFAULT_INTERVAL_S) -> None:
        self._interval = interval
        self._unreported: dict[str, int] = {}
        self._last_report = 0.0
        self._lock = threading.Lock()

    def add(self, reason: str, count: int = 1) -> None:
        """Count ``count`` drops for ``reason``."""
        with self._lock:
            self._unreported[reason] = self._unreported.get(reason, 0) + count

    def take(self, force: bool = False) -> dict[str, int]:
        """The drops to report now, by reason: none while the previous report is recent, unless forced."""
        if not self._unreported:  # nothing dropped: the common case, without the lock
            return {}
        with self._lock:
            now = time.monotonic()
            if not self._unreported or (not force and now - self._last_report < self._interval):
                return {}
            drops, self._unreported = self._unreported, {}
            self._last_report = now
            return drops
