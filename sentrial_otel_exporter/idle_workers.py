"""Worker threads waiting for work, woken the one that went idle last first.

A ``threading.Condition`` wakes its waiters in the order they began to wait: the transport's workers
would then take turns, each over its own connection, and a session sending one call at a time would
spread its calls over every connection of the pool. A connection left idle long is closed by the
server (or a proxy in front of it), and the next call on it pays for a new one, TLS included. Woken
the latest idle first, one worker and its warm connection serve such a session. Each worker waits
on a lock of its own, released by the waker: a few C calls, where a condition's wait and notify run
a few dozen lines of Python each.
"""

from __future__ import annotations

import threading


class IdleWorkers:
    """The waiting workers of one pool, sharing the pool's ``lock`` (held by every caller)."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._waiting: list[threading.Lock] = []  # each waiting worker's wake lock, the latest last

    @staticmethod
    def wake_lock() -> threading.Lock:
        """A worker's own lock to wait on, made by the worker once (held while it is not waiting)."""
        wake = threading.Lock()
        wake.acquire()
        return wake

    def wait(self, wake: threading.Lock, timeout: float | None) -> None:
        """Wait, the pool's lock released meanwhile, until woken or ``timeout`` seconds passed."""
        self._waiting.append(wake)
        self._lock.release()
        try:
            wake.acquire(timeout=-1 if timeout is None else max(0.0, timeout))
        finally:
            self._lock.acquire()
        if wake in self._waiting:  # the wait ran out: nobody took it off the stack
            self._waiting.remove(wake)
        wake.acquire(blocking=False)  # held again, also when released after its wait ran out

    def wake_one(self) -> None:
        """Wake the worker that went idle last, if one waits (one that does not is busy, and looks
        for work before it waits again)."""
        if self._waiting:
            self._waiting.pop().release()

    def wake_all(self) -> None:
        """Wake every waiting worker."""
        while self._waiting:
            self._waiting.pop().release()
