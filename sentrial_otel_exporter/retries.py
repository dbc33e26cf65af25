"""The retry policy: which answers are worth a retry, how long to wait before it, and what a drop says.

A retry waits an exponential backoff with jitter, or what the server asked for with ``Retry-After``
(seconds or an HTTP date), whichever is longer, up to a cap (sessions-api.md, "Errors and retries").
"""

from __future__ import annotations

import email.utils
import random
import time

from sentrial_otel_exporter.calls import ApiCall
from sentrial_otel_exporter.connection import Response

# Statuses after which the same request may succeed later (sessions-api.md, "Errors and retries").
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# The longest wait a server's Retry-After is honoured for; a longer one is cut to this. A call the
# server asked to retry later is kept for it past its retry time, by at most this much.
MAX_RETRY_AFTER_S = 300.0
# The backoff before the first retry, its growth per retry and its cap, before jitter (seconds).
INITIAL_BACKOFF_S = 0.2
BACKOFF_MULTIPLIER = 2.0
MAX_BACKOFF_S = 5.0


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header (seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(when.timestamp()) - time.time())


def backoff_seconds(attempt: int, base: float = INITIAL_BACKOFF_S, cap: float = MAX_BACKOFF_S) -> float:
    """Exponential backoff with jitter for the given attempt number (1 = first retry)."""
    ceiling: float = min(cap, base * BACKOFF_MULTIPLIER ** max(0, attempt - 1))
    return ceiling * (0.5 + random.random() / 2)


def after_refusal(
    call: ApiCall, response: Response, max_retry_after: float
) -> tuple[float | None, str, float | None]:
    """What follows a non-2xx ``response`` to ``call``: (seconds to wait before retrying, or None
    to drop the call; the failure's reason; the wait the server asked for with Retry-After, cut to
    ``max_retry_after``, or None)."""
    status = response.status
    reason = f"HTTP {status} on {call.method} {call.path}"
    if status in RETRYABLE_STATUSES or (status == 404 and call.session_opened_elsewhere):
        asked = retry_after_seconds(response.headers.get("retry-after"))
        if asked is None:
            return backoff_seconds(call.attempts), reason, None
        wait = min(asked, max_retry_after)
        reason += f" (the server asked to wait {asked:g} s)"
        return max(wait, backoff_seconds(call.attempts)), reason, wait
    if status in (401, 403):
        reason += " (check the API key)"
    else:
        reason += _error_detail(response)
    return None, reason, None


def _error_detail(response: Response) -> str:
    """The server's error message, short, for a drop warning."""
    try:
        message = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return f": {str(message)[:200]}" if message else ""
