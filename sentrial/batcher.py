"""``BatcherConfig`` and ``EventBatcher``, at the import path the published package gives them.

The clients batch through their span pipeline (``SentrialClient(batching=...)``); ``EventBatcher`` is
the stand-alone queue of the published package for code that drives one itself: it hands queued
calls to a send function from a daemon thread, every ``flush_interval`` seconds or as soon as
``flush_threshold`` calls wait.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

from sentrial._config import BatcherConfig

__all__ = ["BatcherConfig", "EventBatcher"]

logger = logging.getLogger("sentrial")

_QueuedCall = tuple[str, str, dict[str, Any]]


class EventBatcher:
    """Queues ``send_fn(method, url, **kwargs)`` calls and makes them in batches from a daemon thread.

    Past ``max_queue_size`` waiting calls the oldest is dropped, with a warning. ``flush()`` makes
    every waiting call at once in the caller's thread; ``shutdown()`` stops the thread and flushes;
    the interpreter's exit flushes too. A failing call is logged and does not stop the others.
    """

    def __init__(self, send_fn: Callable[..., Any], config: BatcherConfig | None = None) -> None:
        config = config or BatcherConfig()
        self._send_fn = send_fn
        self._interval = config.flush_interval
        self._threshold = config.flush_threshold
        self._capacity = config.max_queue_size
        self._queue: deque[_QueuedCall] = deque()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sentrial-event-batcher", daemon=True)
        self._thread.start()
        # A weak reference: the exit hook must not keep a dropped batcher (and its thread) alive.
        ref = weakref.ref(self)

        def shut_down_at_exit() -> None:
            batcher = ref()
            if batcher is not None:
                batcher.shutdown()

        self._exit_hook = shut_down_at_exit
        atexit.register(shut_down_at_exit)

    def enqueue(self, method: str, url: str, **kwargs: Any) -> None:
        """Queue one call; flushes at once when ``flush_threshold`` calls wait. Ignored after shutdown."""
        if self._stopped.is_set():
            return
        with self._lock:
            if len(self._queue) >= self._capacity:
                self._queue.popleft()
                logger.warning("sentrial: event queue full (%d); dropped the oldest event", self._capacity)
            self._queue.append((method, url, kwargs))
            full = len(self._queue) >= self._threshold
        if full:
            self.flush()

    def flush(self) -> None:
        """Make every waiting call now, in this thread, in the order they were queued."""
        with self._lock:
            batch = list(self._queue)
            self._queue.clear()
        for method, url, kwargs in batch:
            try:
                self._send_fn(method, url, **kwargs)
            except Exception:
                logger.warning("sentrial: a batched event could not be sent", exc_info=True)

    def shutdown(self) -> None:
        """Stop the flush thread and make the calls still waiting; later calls are ignored."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        atexit.unregister(self._exit_hook)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self.flush()

    @property
    def size(self) -> int:
        """How many calls are waiting."""
        return len(self._queue)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            self.flush()
