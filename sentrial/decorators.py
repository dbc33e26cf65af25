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


def get_current_client() -> SentrialClient | None:
    """The client of the interaction current here, else the default client."""
    interaction = current_interaction()
    return interaction.client if interaction is not None else get_client()


# Every function decorated with @session, in the order decorated (for tools that look for agents).
_entry_points: list[Callable[..., Any]] = []


def get_session_entry_points() -> list[Callable[..., Any]]:
    """The functions decorated with ``@session`` so far (the registry itself, as published)."""
    return _entry_points


def clear_session_entry_points() -> None:
    """Forget the functions decorated with ``@session`` so far."""
    _entry_points.clear()


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
        return ToolRun(name, _bound_arguments(function, args, kwargs), failure_as_error=True)
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
def tool(name_or_func: _F) -> _F: ...
@overload
def tool(name_or_func: str | None = None, *, name: str | None = None) -> Callable[[_F], _F]: ...
def tool(name_or_func: Any = None, *, name: str | None = None) -> Any:
    """Track every call of a function as a tool call: ``@tool``, ``@tool("name")``, ``@tool(name=...)``.

    Works on functions, methods, coroutines and (async) generators. Inputs are the bound arguments
    (``self``/``cls`` left out), the output is the return value (a dict as it is, anything else under
    ``"result"``), errors are recorded and re-raised unchanged.
    """
    if callable(name_or_func):
        return _decorate_tool(name_or_func, _name_or(name, name_or_func))
    chosen = name if name is not None else name_or_func

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
    """A tracked interaction as a context manager (``with`` or ``async with``); enters as itself.

    It begins on entry and finishes on exit: successfully with the output given to
    ``set_output()``, or failed with ``"Type: message"`` when an exception (also cancellation or
    Ctrl-C) leaves the block; the exception propagates. Inside, ``interaction`` is the begun
    interaction, and the context also answers its methods (``track_tool_call()`` and the rest).
    ``agent_name`` is another name for ``agent``.
    """

    def __init__(
        self,
        user_id: str,
        agent: str | None = None,
        input: str | None = None,
        client: SentrialClient | None = None,
        *,
        agent_name: str | None = None,
        convo_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.user_id = user_id
        self.agent = agent if agent is not None else agent_name
        self.input = input
        self._arguments: dict[str, Any] = {"convo_id": convo_id, "metadata": metadata}
        self._client = client
        self._interaction: Interaction | None = None

    @property
    def interaction(self) -> Interaction | None:
        """The interaction begun on entry (None before)."""
        return self._interaction

    @property
    def session_id(self) -> str | None:
        """The id of the interaction's session (None before entry)."""
        return self._interaction.session_id if self._interaction is not None else None

    def set_output(self, output: str) -> None:
        """The output the interaction finishes with."""
        if self._interaction is not None:
            self._interaction.set_output(output)

    def __getattr__(self, name: str) -> Any:
        interaction = self.__dict__.get("_interaction")
        if interaction is None or name.startswith("_"):
            raise AttributeError(name)
        return getattr(interaction, name)

    def __enter__(self) -> SessionContext:
        client = self._client if self._client is not None else get_client()
        self._interaction = client.begin(
            user_id=self.user_id,
            event=self.agent,  # type: ignore[arg-type]
            input=self.input,
            **self._arguments,
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if self._interaction is not None:
            self._interaction.__exit__(exc_type, exc_val, exc_tb)

    async def __aenter__(self) -> SessionContext:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc_val, exc_tb)


# Where @session looks for the input after its input_param and message_param, as published.
_INPUT_PARAMS = ("query", "prompt", "text")


def _session_arguments(
    function: Callable[..., Any], args: Any, kwargs: Any, user_id_param: str, input_params: tuple[str, ...]
) -> tuple[str, str | None]:
    """The user id and the input of a call of a ``@session`` function.

    The input is the first of ``input_params`` given a string (or a non-empty list, as JSON), else
    the first string argument that is not the user id.
    """
    arguments = _bound_arguments(function, args, kwargs)
    user_id = arguments.get(user_id_param)
    user = ANONYMOUS_USER if user_id is None else safe_text(user_id)
    for name in input_params:
        value = arguments.get(name)
        if isinstance(value, str):
            return user, value
        if isinstance(value, list) and value:
            return user, as_text(value)
    first = next((v for k, v in arguments.items() if k != user_id_param and isinstance(v, str)), None)
    return user, first


def _session_output(result: Any) -> str | None:
    """What a ``@session`` function's result records as output: a dict's ``response`` or ``output``."""
    if isinstance(result, dict):
        for key in ("response", "output"):
            if key in result:
                return as_text(result[key])
    return as_text(result)


@overload
def session(name_or_func: _F) -> _F: ...
@overload
def session(
    name_or_func: str | None = None,
    *,
    agent_name: str | None = None,
    user_id_param: str = "user_id",
    input_param: str = "input",
    message_param: str = "message",
    client: SentrialClient | None = None,
) -> Callable[[_F], _F]: ...
def session(
    name_or_func: Any = None,
    *,
    agent_name: str | None = None,
    user_id_param: str = "user_id",
    input_param: str = "input",
    message_param: str = "message",
    client: SentrialClient | None = None,
) -> Any:
    """Track every call of a function as an interaction of the agent ``name_or_func`` (or ``agent_name``).

    The user id comes from the argument named ``user_id_param``; the input from the one named
    ``input_param``, ``message_param``, ``query``, ``prompt`` or ``text`` (else the first string
    argument); the output from the return value (a dict's ``response`` or ``output``). An
    exception, including cancellation and KeyboardInterrupt, finishes the interaction as failed
    and propagates. Decorated functions are listed by ``get_session_entry_points()``.
    """
    if callable(name_or_func):
        return session(
            agent_name=agent_name,
            user_id_param=user_id_param,
            input_param=input_param,
            message_param=message_param,
            client=client,
        )(name_or_func)
    chosen = name_or_func if name_or_func is not None else agent_name
    input_params = (input_param, message_param, *_INPUT_PARAMS)

    def decorate(function: _F) -> _F:
        name = _name_or(chosen, function)

        def begin(args: Any, kwargs: Any) -> Interaction:
            try:
                user_id, value = _session_arguments(function, args, kwargs, user_id_param, input_params)
            except Exception:  # e.g. a user_id_param that is no parameter name: tracked without them
                logger.exception("sentrial: could not read the arguments of %s()", name)
                user_id, value = ANONYMOUS_USER, None
            target = client if client is not None else get_client()
            return target.begin(user_id=user_id, event=name, input=value)

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with begin(args, kwargs) as interaction:
                    result = await function(*args, **kwargs)
                    interaction.set_output(_session_output(result))  # type: ignore[arg-type]
                return result

            _entry_points.append(async_wrapper)
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with begin(args, kwargs) as interaction:
                result = function(*args, **kwargs)
                interaction.set_output(_session_output(result))  # type: ignore[arg-type]
            return result

        _entry_points.append(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate
