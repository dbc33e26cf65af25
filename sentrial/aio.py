"""The async API: ``AsyncSentrialClient``, ``AsyncInteraction`` and ``begin_async``.

Tracking never touches the network on the caller's thread, so the async methods do the same work as
the sync ones without blocking the event loop; only ``flush`` and ``shutdown`` wait, and they wait
in a thread of their own, started at the call: awaited, they give its result; not awaited (as the
reference writes ``client.flush()``), they still run to the end.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any

from sentrial._config import BatcherConfig
from sentrial.api import get_client
from sentrial.client import Interaction, SentrialClient

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


class AsyncInteraction:
    """An interaction with awaitable methods; ``async with`` finishes it, and ``await`` gives it back."""

    def __init__(self, interaction: Interaction) -> None:
        self._interaction = interaction

    @property
    def session_id(self) -> str | None:
        """The id of the session behind this interaction."""
        return self._interaction.session_id

    @property
    def event_id(self) -> str:
        """The interaction's event id."""
        return self._interaction.event_id

    @property
    def finished(self) -> bool:
        """Whether ``finish()`` was called."""
        return self._interaction.finished

    def set_output(self, output: str) -> None:
        """Remember the output, sent when the interaction finishes."""
        self._interaction.set_output(output)

    async def finish(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """Finish the interaction; the arguments of :meth:`Interaction.finish`."""
        return self._interaction.finish(*args, **kwargs)

    async def track_tool_call(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """Record a tool call; the arguments of :meth:`Interaction.track_tool_call`."""
        return self._interaction.track_tool_call(*args, **kwargs)

    async def track_decision(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """Record a decision; the arguments of :meth:`Interaction.track_decision`."""
        return self._interaction.track_decision(*args, **kwargs)

    async def track_error(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """Record an error; the arguments of :meth:`Interaction.track_error`."""
        return self._interaction.track_error(*args, **kwargs)

    def __await__(self) -> Generator[Any, None, AsyncInteraction]:
        # Lets `interaction = await client.begin(...)` work as well as `async with client.begin(...)`.
        yield from ()
        return self

    async def __aenter__(self) -> AsyncInteraction:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._interaction.__exit__(exc_type, exc, tb)


class AsyncSentrialClient:
    """:class:`SentrialClient` for asyncio: every method awaitable, ``begin()`` usable with ``async with``."""

    def __init__(
        self,
        api_key: str | None = None,
        api_url: str | None = None,
        fail_silently: bool = True,
        pii: Any = None,
        batching: bool | BatcherConfig | None = None,
        **options: Any,
    ) -> None:
        self._client = SentrialClient(
            api_key=api_key,
            api_url=api_url,
            fail_silently=fail_silently,
            pii=pii,
            batching=batching,
            **options,
        )

    @property
    def sync_client(self) -> SentrialClient:
        """The synchronous client underneath (same delivery)."""
        return self._client

    async def create_session(self, *args: Any, **kwargs: Any) -> str:
        """Open a session; the arguments of :meth:`SentrialClient.create_session`."""
        return self._client.create_session(*args, **kwargs)

    async def track_tool_call(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """Record a tool call; the arguments of :meth:`SentrialClient.track_tool_call`."""
        return self._client.track_tool_call(*args, **kwargs)

    async def track_decision(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """Record a decision; the arguments of :meth:`SentrialClient.track_decision`."""
        return self._client.track_decision(*args, **kwargs)

    async def track_error(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """Record an error; the arguments of :meth:`SentrialClient.track_error`."""
        return self._client.track_error(*args, **kwargs)

    async def complete_session(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        """Complete a session; the arguments of :meth:`SentrialClient.complete_session`."""
        return self._client.complete_session(*args, **kwargs)

    def begin(self, *args: Any, **kwargs: Any) -> AsyncInteraction:
        """Begin an interaction: ``async with client.begin(...) as it`` or ``await client.begin(...)``."""
        return AsyncInteraction(self._client.begin(*args, **kwargs))

    def flush(self, timeout: float | None = 10.0) -> BackgroundCall:
        """Deliver everything recorded so far, in a thread started now; ``await`` it for
        :meth:`SentrialClient.flush`'s result, or don't."""
        return BackgroundCall(lambda: self._client.flush(timeout), "flush")

    def shutdown(self, timeout: float | None = 10.0) -> BackgroundCall:
        """Finish this client in a thread started now (see :meth:`SentrialClient.shutdown`); ``await``
        it for the result, or don't: the exit hook waits for it before the process ends."""
        return BackgroundCall(lambda: self._client.shutdown(timeout), "shutdown")

    calculate_openai_cost = staticmethod(SentrialClient.calculate_openai_cost)
    calculate_anthropic_cost = staticmethod(SentrialClient.calculate_anthropic_cost)
    calculate_google_cost = staticmethod(SentrialClient.calculate_google_cost)


async def begin_async(
    user_id: str,
    event: str,
    input: str | None = None,
    event_id: str | None = None,
    convo_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> AsyncInteraction:
    """Begin an interaction on the default client (the one of ``sentrial.configure()``)."""
    interaction = get_client().begin(
        user_id=user_id, event=event, input=input, event_id=event_id, convo_id=convo_id, metadata=metadata
    )
    return AsyncInteraction(interaction)
