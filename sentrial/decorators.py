"""``@tool``, ``@session`` and ``SessionContext``: tracking by decoration, for sync and async code.

The current session follows the OpenTelemetry context (contextvars), so concurrent threads and
asyncio tasks never see each other's sessions. A tool's span covers its whole call (and, for a
generator, its whole iteration), so LLM calls made inside it nest under it.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar, overload

from sentrial._tool_runs import ToolRun
from sentrial._values import as_text, safe_text
from sentrial.api import get_client
from sentrial.client import Interaction, SentrialClient, current_interaction
from sentrial.semconv import ANONYMOUS_USER
from sentrial.tracing import current_route

logger = logging.getLogger("sentrial")

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")


def get_current_session_id() -> str | None:
    """The id of the Sentrial session current here (this thread or task), if any."""
    route = current_route()
    return route.session_id if route is not None else None


def get_current_interaction() -> Interaction | None:
    """The interaction begun with ``begin()`` (or ``@session``) that is current here, if any."""
    return current_interaction()


def bind_context(function: Callable[..., _T]) -> Callable[..., _T]:
    """``function`` bound to the current context, to run in a thread pool inside the current session.

    ``executor.submit(sentrial.bind_context(work), arg)`` records ``work``'s tool calls in the
    session that was current when it was submitted.
    """
    context = contextvars.copy_context()

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> _T:
        return context.copy().run(function, *args, **kwargs)

    return run


# --- @tool -------------------------------------------------------------------------------------


def _bound_arguments(function: Callable[..., Any], args: Any, kwargs: Any) -> dict[str, Any]:
    """The call's arguments by parameter name, without ``self``/``cls``."""
    try:
        bound = inspect.signature(function).bind_partial(*args, **kwargs)
        bound.apply_defaults()
    except (TypeError, ValueError):
        return {"args": list(args), "kwargs": kwargs}
    arguments = dict(bound.arguments)
    first = next(iter(inspect.signature(function).parameters), None)
    if first in ("self", "cls"):
        arguments.pop(first, None)
    return arguments


def _start_tool(name: str, function: Callable[..., Any], args: Any, kwargs: Any) -> ToolRun | None:
    try:
        return ToolRun(name, _bound_arguments(function, args, kwargs))
    except Exception:  # tracing must never stop the tool from running
        logger.exception("sentrial: could not trace tool %r; it runs untraced", name)
        return None


def _decorate_tool(function: _F, name: str) -> _F:
    # One wrapper per kind of function; the run (a context manager) records the output or the error.
    if inspect.isasyncgenfunction(function):

        @functools.wraps(function)
        async def async_gen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            run = _start_tool(name, function, args, kwargs)
            if run is None:
                async for item in function(*args, **kwargs):
                    yield item
                return
            with run:
                items = run.output = []
                async for item in function(*args, **kwargs):
                    items.append(item)
                    yield item

        return async_gen_wrapper  # type: ignore[return-value]

    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
            run = _start_tool(name, function, args, kwargs)
            if run is None:
                yield from function(*args, **kwargs)
                return None
            with run:
                items = run.output = []
                for item in function(*args, **kwargs):
                    items.append(item)
                    yield item
            return None

        return gen_wrapper  # type: ignore[return-value]

    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            run = _start_tool(name, function, args, kwargs)
            if run is None:
                return await function(*args, **kwargs)
            with run:
                run.output = await function(*args, **kwargs)
            return run.output

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        run = _start_tool(name, function, args, kwargs)
        if run is None:
            return function(*args, **kwargs)
        with run:
            run.output = function(*args, **kwargs)
        return run.output

    return wrapper  # type: ignore[return-value]


@overload
def tool(name_or_function: _F) -> _F: ...
@overload
def tool(name_or_function: str | None = None, *, name: str | None = None) -> Callable[[_F], _F]: ...
def tool(name_or_function: Any = None, *, name: str | None = None) -> Any:
    """Track every call of a function as a tool call: ``@tool``, ``@tool("name")``, ``@tool(name=...)``.

    Works on functions, methods, coroutines and (async) generators. Inputs are the bound arguments
    (``self``/``cls`` left out), the output is the return value (a dict as it is, anything else under
    ``"result"``), errors are recorded and re-raised unchanged.
    """
    if callable(name_or_function):
        return _decorate_tool(name_or_function, _name_or(name, name_or_function))
    chosen = name if name is not None else name_or_function

    def decorate(function: _F) -> _F:
        return _decorate_tool(function, _name_or(chosen, function))

    return decorate


def _name_or(chosen: Any, function: Callable[..., Any]) -> str:
    """The name given to a decorator, as text; the function's own when none (or "") was given."""
    if chosen is None or (isinstance(chosen, str) and not chosen):
        return function.__name__
    return safe_text(chosen)


# --- @session and SessionContext -----------------------------------------------------------------
class SessionContext:
    """A tracked interaction as a context manager (``with`` or ``async with``).

    It begins on entry and finishes on exit: successfully with the output given to
    ``set_output()``, or failed with ``"Type: message"`` when an exception (also cancellation or
    Ctrl-C) leaves the block; the exception propagates.
    """

    def __init__(
        self,
        user_id: str,
        agent_name: str,
        input: str | None = None,
        *,
        convo_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        client: SentrialClient | None = None,
    ) -> None:
        self._arguments: dict[str, Any] = {
            "user_id": user_id,
            "event": agent_name,
            "input": input,
            "convo_id": convo_id,
            "metadata": metadata,
        }
        self._client = client
        self.interaction: Interaction | None = None

    def __enter__(self) -> Interaction:
        client = self._client if self._client is not None else get_client()
        self.interaction = client.begin(**self._arguments)
        return self.interaction

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.interaction is not None:
            self.interaction.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> Interaction:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def _session_arguments(
    function: Callable[..., Any], args: Any, kwargs: Any, user_id_param: str, input_param: str | None
) -> tuple[str, Any]:
    """The user id and the input of a call of a ``@session`` function."""
    arguments = _bound_arguments(function, args, kwargs)
    user_id = arguments.get(user_id_param)
    if input_param is None:  # the first argument that is not the user id
        input_param = next((key for key in arguments if key != user_id_param), None)
    value = arguments.get(input_param) if input_param is not None else None
    return (ANONYMOUS_USER if user_id is None else safe_text(user_id)), value


@overload
def session(agent_name: _F) -> _F: ...
@overload
def session(
    agent_name: str | None = None,
    *,
    user_id_param: str = "user_id",
    input_param: str | None = None,
    client: SentrialClient | None = None,
) -> Callable[[_F], _F]: ...
def session(
    agent_name: Any = None,
    *,
    user_id_param: str = "user_id",
    input_param: str | None = None,
    client: SentrialClient | None = None,
) -> Any:
    """Track every call of a function as an interaction of ``agent_name``.

    The user id comes from the argument named ``user_id_param``, the input from ``input_param``
    (default: the first other argument), the output from the return value. An exception, including
    cancellation and KeyboardInterrupt, finishes the interaction as failed and propagates.
    """
    if callable(agent_name):
        return session()(agent_name)

    def decorate(function: _F) -> _F:
        name = _name_or(agent_name, function)

        def begin(args: Any, kwargs: Any) -> Interaction:
            try:
                user_id, value = _session_arguments(function, args, kwargs, user_id_param, input_param)
            except Exception:  # e.g. a user_id_param that is no parameter name: tracked without them
                logger.exception("sentrial: could not read the arguments of %s()", name)
                user_id, value = ANONYMOUS_USER, None
            target = client if client is not None else get_client()
            return target.begin(user_id=user_id, event=name, input=as_text(value))

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with begin(args, kwargs) as interaction:
                    result = await function(*args, **kwargs)
                    interaction.set_output(as_text(result))  # type: ignore[arg-type]
                return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with begin(args, kwargs) as interaction:
                result = function(*args, **kwargs)
                interaction.set_output(as_text(result))  # type: ignore[arg-type]
            return result

        return wrapper  # type: ignore[return-value]

    return decorate
