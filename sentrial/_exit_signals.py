"""Delivering what is queued when the process is ended by a signal (SIGTERM from a container runtime).

Python's default action for SIGTERM ends the process at once: no ``atexit`` hook runs, so whatever
Sentrial still holds is lost. :func:`shutdown_on_signal` installs a handler that first delivers it,
within a bound, and then lets the signal have the effect it would have had.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from sentrial._lifecycle import shutdown_at_exit

logger = logging.getLogger("sentrial")

_previous: dict[int, Any] = {}  # signal number -> the handler ours replaced
_handlers: dict[int, Any] = {}  # signal number -> the handler installed here


def shutdown_on_signal(*signals: int, timeout: float = 5.0) -> bool:
    """On each of ``signals`` (default: SIGTERM), deliver what is queued, waiting at most ``timeout``
    seconds, then act as the handler this one replaced would have.

    Where that was the default action, open sessions are completed first and the process then ends
    by the same signal (exit status 128 + the number). Where the app had a handler of its own, what
    is queued is flushed and that handler is called: it decides whether the process ends (its exit
    then completes open sessions as any exit does). An ignored signal is flushed and stays ignored.
    Call it from the main thread (Python sets signal handlers there only). Returns True when the
    handlers are installed; otherwise logs why and returns False.
    """
    try:
        chosen = signals or (signal.SIGTERM,)
        seconds = float(timeout)
        if threading.current_thread() is not threading.main_thread():
            logger.warning(
                "sentrial: shutdown_on_signal() must be called from the main thread; not installed"
            )
            return False
        for signum in chosen:
            previous = signal.getsignal(signum)
            if previous is not _handlers.get(signum):  # installing twice must not chain to ourselves
                _previous[signum] = previous
            handler = _handler(seconds)
            _handlers[signum] = handler
            signal.signal(signum, handler)
        return True
    except (TypeError, ValueError, OSError) as error:
        logger.warning("sentrial: shutdown_on_signal() not installed: %s", error)
        return False


def _handler(seconds: float) -> Any:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        previous = _previous.get(signum)
        ends_process = not callable(previous) and previous != signal.SIG_IGN
        _deliver_within(seconds, keep_running=not ends_process)
        if callable(previous):
            previous(signum, frame)
        elif ends_process:  # the default action (or one set outside Python): end as it would have
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    return on_signal


def _deliver_within(seconds: float, keep_running: bool) -> None:
    """Deliver on a thread of its own, waited for at most ``seconds``: the signal may have
    interrupted the main thread inside one of Sentrial's locks, which the handler, running on that
    same thread, must never wait for. Where the process goes on (the app's own handler decides, or
    the signal is ignored), the clients are flushed, not shut down."""
    worker = threading.Thread(
        target=shutdown_at_exit,
        args=(seconds,),
        kwargs={"keep_running": keep_running},
        name="sentrial-signal-delivery",
        daemon=True,
    )
    worker.start()
    worker.join(seconds + 0.5)
    if worker.is_alive():
        logger.warning("sentrial: delivery on signal did not finish within %.1f s; the rest is lost", seconds)
