"""One policy for the SDK's own errors: they never reach the app unless it asked for them.

A failure inside the SDK (a public call, a framework callback, the tracing of an LLM call) is
raised again where the caller is strict (``fail_silently=False``); otherwise it is logged, with its
traceback, as an error the first time it happens at that site and at debug level after that (one
broken callback must not flood the app's log), and the caller carries on.

    with guard("claude-end", "could not end a Claude Agent SDK run"):
        ...

On paths run for every call or chunk, ``try``/``except`` with :func:`failed` does the same without
making a guard object.

    @guarded("%s() failed; the app carries on", fallback=..., strict=lambda self: ...)
    def method(self, ...): ...
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from sentrial_otel_exporter.forks import renew_in_child

logger = logging.getLogger("sentrial")

_F = TypeVar("_F", bound=Callable[..., Any])

_sites_logged: set[str] = set()
_sites_lock = threading.Lock()
renew_in_child(globals(), "_sites_lock")


def failed(site: str, message: str, *args: Any, strict: bool = False) -> None:
    """Handle the SDK error being handled now at ``site``: raise it again when ``strict``, else log
    ``message % args`` with its traceback (an error the first time at ``site``, debug after)."""
    if strict:
        raise  # the exception the caller is handling
    _log(site, message, args, True)


def _log(site: str, message: str, args: tuple[Any, ...], exc_info: Any) -> None:
    with _sites_lock:
        first = site not in _sites_logged
        _sites_logged.add(site)
    logger.log(logging.ERROR if first else logging.DEBUG, "sentrial: " + message, *args, exc_info=exc_info)


class guard:
    """A block whose exceptions (not BaseExceptions such as KeyboardInterrupt) are handled by
    :func:`failed`: re-raised when ``strict``, else logged and swallowed."""

    __slots__ = ("args", "message", "site", "strict")

    def __init__(self, site: str, message: str, *args: Any, strict: bool = False) -> None:
        self.site = site
        self.message = message
        self.args = args
        self.strict = strict

    def __enter__(self) -> guard:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        if error is None or not isinstance(error, Exception) or self.strict:
            return False
        _log(self.site, self.message, self.args, (kind, error, traceback))
        return True


def guarded(
    message: str,
    *,
    fallback: Callable[..., Any] | None = None,
    strict: Callable[..., bool] | None = None,
) -> Callable[[_F], _F]:
    """A function or method whose exceptions are handled by :func:`failed` at a site of its own.

    ``message`` may hold one ``%s``, the function's name. ``fallback`` gives what the call returns
    after a logged failure (default None) and ``strict`` says whether to raise instead; both are
    called with the call's first argument (a method's ``self``, whose client's ``fail_silently``
    decides), or None when it had none.
    """

    def decorate(function: _F) -> _F:
        site = f"{function.__module__}.{function.__qualname__}"
        name = function.__name__
        arguments = (name,) if "%s" in message else ()

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except Exception:
                owner = args[0] if args else None
                failed(site, message, *arguments, strict=strict is not None and strict(owner))
                return fallback(owner) if fallback is not None else None

        return wrapper  # type: ignore[return-value]

    return decorate


_CARRY_ON = "%s() failed; the app carries on"


def _strict(owner: Any) -> bool:
    return not owner._fail_silently


def public_call(fallback: Callable[[Any], Any] | None = None) -> Callable[[_F], _F]:
    """A public method of the clients and interactions under this policy, strict as its owner's
    ``_fail_silently`` says. Wrong arguments are found by the argument checks first, which name
    them; this is the net for the rest (a call with arguments missing, an SDK bug)."""
    return guarded(_CARRY_ON, fallback=fallback, strict=_strict)


def public_call_failed(owner: Any, name: str) -> None:
    """:func:`failed` for a public method ``name`` of ``owner``, inside the method itself."""
    failed(name, _CARRY_ON, name, strict=_strict(owner))
