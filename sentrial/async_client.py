"""The asyncio API at the import path the published package gives it.

``AsyncSentrialClient`` and ``AsyncInteraction`` live in :mod:`sentrial.aio`; ``begin_async()``
begins on the default client and ``configure_async()`` configures it, as ``sentrial.configure()``
does, without blocking the event loop.
"""

from __future__ import annotations

import asyncio

from sentrial.aio import AsyncInteraction, AsyncSentrialClient, begin_async
from sentrial.api import configure
from sentrial.retry_policy import (
    BACKOFF_MULTIPLIER,
    INITIAL_BACKOFF_SECONDS,
    MAX_BACKOFF_SECONDS,
    RETRYABLE_STATUS_CODES,
)

__all__ = [
    "BACKOFF_MULTIPLIER",
    "INITIAL_BACKOFF_SECONDS",
    "MAX_BACKOFF_SECONDS",
    "RETRYABLE_STATUS_CODES",
    "AsyncInteraction",
    "AsyncSentrialClient",
    "begin_async",
    "configure_async",
]


async def configure_async(
    api_key: str | None = None, api_url: str | None = None, fail_silently: bool = True
) -> None:
    """Configure the default client (the one ``begin_async()`` uses), in a worker thread.

    Replacing a configured client waits for its deliveries; the thread keeps that off the loop.
    """
    await asyncio.to_thread(configure, api_key=api_key, api_url=api_url, fail_silently=fail_silently)
