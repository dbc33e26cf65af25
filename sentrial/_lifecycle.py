"""The process around the clients: delivering at exit, and starting over in a forked child.

Every live client is known here (weakly). At interpreter exit each is shut down within a bound, so
that open sessions are completed and what waits is delivered. In a child made by ``os.fork()``
each starts over (see ``SentrialClient._start_over_in_child``); multiprocessing's children, which
skip atexit, deliver from one of its exit finalizers instead.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from sentrial_otel_exporter.forks import renew_in_child

if TYPE_CHECKING:
    from sentrial.client import SentrialClient

logger = logging.getLogger("sentrial")

EXIT_FLUSH_SECONDS = 5.0
"""How long the exit hook waits for all clients together."""
_JOIN_GRACE_S = 0.5  # past the deadline, for a client's shutdown to log what it dropped

live_clients: weakref.WeakSet[SentrialClient] = weakref.WeakSet()
"""Every client not shut down yet."""
_exit_hook = threading.Lock()
renew_in_child(globals(), "_exit_hook")
_exit_hook_registered = False


def register_exit_hook() -> None:
    """Register the exit hook after the provider exists: atexit runs hooks last-in first-out, so
    open sessions are completed and delivered before OpenTelemetry shuts the provider down."""
    global _exit_hook_registered
    with _exit_hook:
        if not _exit_hook_registered:
            atexit.register(shutdown_at_exit)
            _exit_hook_registered = True


def shutdown_at_exit(seconds: float = EXIT_FLUSH_SECONDS, *, keep_running: bool = False) -> None:
    """Deliver what every live client still holds before the interpreter exits (within ``seconds``).

    The clients deliver side by side, each until the one deadline: one with a backlog or an
    unreachable server does not eat the time of the others. What a client could not deliver in
    time it drops and reports in one warning (how many requests, and why each was still waiting).

    With ``keep_running`` the clients are only flushed: the process may go on (a signal the app
    handles itself), so they stay open and their sessions stay the app's to finish."""
    deadline = time.monotonic() + seconds
    clients = list(live_clients)
    helpers: list[threading.Thread] = []
    for client in clients[1:]:
        helper = threading.Thread(
            target=_deliver_at_exit, args=(client, deadline, keep_running), name="sentrial-exit", daemon=True
        )
        try:
            helper.start()
        except RuntimeError:  # no new threads this late in the interpreter's shutdown: one by one
            _deliver_at_exit(client, deadline, keep_running)
            continue
        helpers.append(helper)
    if clients:
        _deliver_at_exit(clients[0], deadline, keep_running)
    for helper in helpers:
        helper.join(max(0.0, deadline - time.monotonic()) + _JOIN_GRACE_S)


def _deliver_at_exit(client: SentrialClient, deadline: float, keep_running: bool) -> None:
    remaining = max(0.1, deadline - time.monotonic())
    try:
        if keep_running:
            client.flush(timeout=remaining)
        else:
            client.shutdown(timeout=remaining)
    except Exception:  # at exit, a failed delivery must not turn into a traceback
        logger.debug("sentrial: delivery at exit failed", exc_info=True)


def _in_forked_child() -> None:
    """Each live client starts over where it must (see ``SentrialClient._start_over_in_child``).

    multiprocessing ends the children it forks with ``os._exit``, which skips atexit; it runs its
    own exit finalizers instead. Its registry of them is cleared after this hook, so the finalizer
    is registered from one of its after-fork callbacks, which run after the clearing."""
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.register_after_fork(shutdown_at_exit, _shutdown_at_child_exit)
    for client in list(live_clients):
        client._start_over_in_child()


def _shutdown_at_child_exit(shutdown: Callable[[], None]) -> None:
    sys.modules["multiprocessing.util"].Finalize(None, shutdown, exitpriority=100)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_forked_child)
