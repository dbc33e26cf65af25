"""Starting over in a child process made by ``os.fork()`` (gunicorn, Celery and multiprocessing workers).

A child inherits the parent's objects but none of its threads: a queue the parent's worker threads
were draining would never drain, and a lock one of them held at that instant would stay held for
good. Objects that run background threads reset themselves in the child through this hook.
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

# One fork hook for all objects (os.register_at_fork cannot take a hook back, so one per object
# would pile up in a process that makes many clients); an object's entry goes when the object does.
_resets: dict[int, weakref.WeakMethod[Callable[[], None]]] = {}
_keys = itertools.count()
_module_locks: list[tuple[dict[str, Any], str, Callable[[], Any]]] = []


def renew_in_child(namespace: dict[str, Any], name: str, factory: Callable[[], Any] = threading.Lock) -> None:
    """Make the module-level lock ``namespace[name]`` (pass the module's ``globals()``) anew in every
    child forked from now on: a parent thread may hold it at the fork, and would for good in the
    child. Code must look the lock up by its name when it takes it, as ``with _lock:`` does."""
    _module_locks.append((namespace, name, factory))


def after_fork_in_child(reset: Callable[[], None]) -> None:
    """Call the bound method ``reset`` in every child process forked from now on, while its object lives.

    The resets run in the order they were registered, and before any hook registered after this
    module was imported (OpenTelemetry's batch processors restart their worker threads in one).
    """
    key = next(_keys)
    _resets[key] = weakref.WeakMethod(reset)
    owner = reset.__self__  # type: ignore[attr-defined]
    weakref.finalize(owner, _resets.pop, key, None).atexit = False


def _reset_all_in_child() -> None:
    for namespace, name, factory in _module_locks:
        namespace[name] = factory()
    for weak_reset in list(_resets.values()):
        method = weak_reset()
        if method is not None:
            method()


if hasattr(os, "register_at_fork"):  # not on Windows, which never forks
    os.register_at_fork(after_in_child=_reset_all_in_child)
