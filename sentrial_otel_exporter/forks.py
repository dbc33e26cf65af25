"""Starting over in a child process made by ``os.fork()`` (gunicorn, Celery and multiprocessing workers).

A child inherits the parent's objects but none of its threads: a queue the parent's worker threads
were draining would never drain, and a lock one of them held at that instant would stay held for
good. Objects that run background threads reset themselves in the child through this hook.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable


def after_fork_in_child(reset: Callable[[], None]) -> None:
    """Call the bound method ``reset`` in every child process forked from now on, while its object lives.

    Hooks run in the order they were registered, so an object that registers before it makes its
    helpers is reset before they are.
    """
    if not hasattr(os, "register_at_fork"):  # not on Windows, which never forks
        return
    weak_reset = weakref.WeakMethod(reset)

    def in_child() -> None:
        method = weak_reset()
        if method is not None:
            method()

    os.register_at_fork(after_in_child=in_child)
