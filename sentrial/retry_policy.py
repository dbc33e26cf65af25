"""The delivery's retry figures under the names the published package's client modules give them.

Calls are retried until the client's ``retry_timeout`` has passed rather than a number of times,
so there is no ``MAX_RETRIES`` (see docs/migrating.md).
"""

from __future__ import annotations

from sentrial_otel_exporter import retries

INITIAL_BACKOFF_SECONDS = retries.INITIAL_BACKOFF_S
MAX_BACKOFF_SECONDS = retries.MAX_BACKOFF_S
BACKOFF_MULTIPLIER = retries.BACKOFF_MULTIPLIER
RETRYABLE_STATUS_CODES = frozenset(retries.RETRYABLE_STATUSES)

__all__ = ["BACKOFF_MULTIPLIER", "INITIAL_BACKOFF_SECONDS", "MAX_BACKOFF_SECONDS", "RETRYABLE_STATUS_CODES"]
