"""What the async classes share: a blocking call run in a thread of its own, and the hand-over of
calls their written-out signatures refuse to the sync twin (see :mod:`sentrial.aio`)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import logging
import threading
from collections.abc import Callable, Generator
from typing import Any, TypeVar

logger = logging.getLogger("sentrial")


class BackgroundCall:
    """A blocking call already running in a thread of its own: ``await`` it for its result, or leave
    it to finish on its own. An error nobody awaited is logged rather than lost."""

    def __init__(self, call: Callable[[], bool], name: str) -> None:
        self._future: concurrent.futures.Future[bool] = concurrent.futures.Future()
        self._name = name
        self._awaited = False
        threading.Thread(target=self._run, args=(call,), name=f"sentrial-{name}", daemon=True).start()

    def _run(self, call: Callable[[], bool]) -> None:
        try:
            self._future.set_result(call())
        except BaseException as exc:  # handed to whoever awaits it
            self._future.set_exception(exc)

    def __await__(self) -> Generator[Any, None, bool]:
        self._awaited = True
        return asyncio.wrap_future(self._future).__await__()

    def done(self) -> bool:
        """Whether the call has returned (or raised)."""
        return self._future.done()

    def result(self, timeout: float | None = None) -> bool:
        """Block until the call returns, at most ``timeout`` seconds, and give its result."""
        self._awaited = True
        return self._future.result(timeout)

    def __del__(self) -> None:
        if self._awaited or not self._future.done() or self._future.cancelled():
            return
        error = self._future.exception()
        if error is not None:
            logger.error("sentrial: %s() failed and was not awaited: %s", self._name, error)


_Method = TypeVar("_Method", bound=Callable[..., Any])


def refusals_to_sync(wrap: Callable[[Any], Any] | None = None) -> Callable[[_Method], _Method]:
    """Hand a call that the method's signature refuses (an argument missing, a misspelt name) to the
    sync method of the same name, whose guard handles it as any sync call: logged and answered with
    its fallback (given to ``wrap``) with ``fail_silently``, raised otherwise; for a coroutine, when
    it is awaited. The signatures are written out for IDEs and type checkers; this keeps the async
    API exactly as forgiving of a wrong call as the sync one."""

    def decorate(method: _Method) -> _Method:
        name, signature = method.__name__, inspect.signature(method)

        def refused(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
            try:
                signature.bind(owner, *args, **kwargs)
            except TypeError:
                return True
            return False

        def by_sync(owner: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            result = getattr(owner._sync, name)(*args, **kwargs)
            return result if wrap is None else wrap(result)

        if inspect.iscoroutinefunction(method):

            @functools.wraps(method)
            async def awaitable(self: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    call = method(self, *args, **kwargs)
                except TypeError:  # nothing ran yet: a coroutine's body starts when awaited
                    return by_sync(self, args, kwargs)
                return await call

            return awaitable  # type: ignore[return-value]

        @functools.wraps(method)
        def immediate(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except TypeError:
                if not refused(self, args, kwargs):  # raised inside, by a strict client: the caller's
                    raise
            return by_sync(self, args, kwargs)

        return immediate  # type: ignore[return-value]

    return decorate
