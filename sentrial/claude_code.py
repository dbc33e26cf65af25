"""The Claude Agent SDK (Claude Code) at the published package's import path.

``wrap_claude_agent(query, client=...)`` gives a ``query()`` whose every run is a session, and
``wrap_claude_client(ClaudeSDKClient(...), sentrial_client=...)`` a client whose every prompt's run
is one: named ``"<agent>: <prompt>"``, for ``user_id`` and ``convo_id``, with the model, tools,
working directory and MCP servers of the run (and ``extra_metadata``) as metadata; its tool calls
and model usage as events; completed with the result's outcome, tokens, cost, ``num_turns`` and
``duration_api_ms``. ``client`` is a :class:`~sentrial.SentrialClient` or an ``AsyncSentrialClient``.

Without a change to the app's code, ``sentrial.configure()`` records every run anyway (see
:mod:`sentrial.integrations.claude_agent`); a wrapped run is recorded by its wrapper only.

Importing this module imports nothing of the SDK: wrapping does (``pip install
'sentrial[claude-agent]'``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentrial.integrations._claude_sessions import SessionConversation, Wrapping

__all__ = ["TrackedClaudeClient", "wrap_claude_agent", "wrap_claude_client"]

QueryFunction = Callable[..., AsyncIterator[Any]]
"""The shape of the SDK's ``query()``: called with the prompt and options, iterated for messages."""

_DEFAULT_AGENT = "claude-agent"
_ANONYMOUS = "anonymous"


def _wrapping(
    client: Any,
    argument: str,
    default_agent: str,
    user_id: str,
    convo_id: str | None,
    extra_metadata: dict[str, Any] | None,
    client_mode: bool,
) -> Wrapping:
    try:
        from sentrial.integrations._claude_sessions import Wrapping
        from sentrial.integrations._sessions import sync_client
    except ImportError as error:
        raise ImportError(f"the Claude Code wrappers need claude-agent-sdk: {_EXTRA}") from error
    return Wrapping(
        sync_client(client, argument),
        str(default_agent),
        str(user_id),
        None if convo_id is None else str(convo_id),
        dict(extra_metadata) if isinstance(extra_metadata, dict) else None,
        client_mode,
    )


_EXTRA = "pip install 'sentrial[claude-agent]'"


def wrap_claude_agent(
    query_fn: QueryFunction,
    *,
    client: Any,
    default_agent: str = _DEFAULT_AGENT,
    user_id: str = _ANONYMOUS,
    convo_id: str | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> QueryFunction:
    """``query_fn`` (the SDK's ``query``) with each run recorded as a session of ``client`` (see
    the module). The wrapped function takes the same arguments and yields the same messages; a
    call may also name its own ``user_id``, ``convo_id`` and ``metadata`` (added to
    ``extra_metadata``), which are not passed on."""
    wrapping = _wrapping(client, "client", default_agent, user_id, convo_id, extra_metadata, False)

    def tracked_query(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        from sentrial.integrations._claude_sessions import SessionConversation, unfollowed
        from sentrial.integrations.claude_agent import _follow, _sending

        conversation = SessionConversation(wrapping.for_call(kwargs))
        args, kwargs = _sending(conversation, args, kwargs)
        return _follow(unfollowed(query_fn(*args, **kwargs)), conversation, end_on_close=True)

    return tracked_query


def wrap_claude_client(
    client: Any,
    *,
    sentrial_client: Any,
    default_agent: str = _DEFAULT_AGENT,
    user_id: str = _ANONYMOUS,
    convo_id: str | None = None,
    extra_metadata: dict[str, Any] | None = None,
) -> TrackedClaudeClient:
    """``client`` (a ``ClaudeSDKClient``) with each prompt's run recorded as a session of
    ``sentrial_client`` (see the module)."""
    return TrackedClaudeClient(
        client,
        sentrial_client=sentrial_client,
        default_agent=default_agent,
        user_id=user_id,
        convo_id=convo_id,
        extra_metadata=extra_metadata,
    )


class TrackedClaudeClient:
    """A ``ClaudeSDKClient`` whose prompts' runs are sessions (see the module); every other method
    and attribute is the client's own."""

    def __init__(
        self,
        client: Any,
        *,
        sentrial_client: Any,
        default_agent: str,
        user_id: str,
        convo_id: str | None,
        extra_metadata: dict[str, Any] | None,
    ) -> None:
        from sentrial.integrations._claude_sessions import SessionConversation

        self._client = client
        wrapping = _wrapping(
            sentrial_client, "sentrial_client", default_agent, user_id, convo_id, extra_metadata, True
        )
        self._wrapping = wrapping
        self._conversation: SessionConversation = SessionConversation(wrapping)

    async def query(self, prompt: Any = None, **kwargs: Any) -> Any:
        """Send a prompt (its run begins a session when its first message arrives); ``user_id``,
        ``convo_id`` and ``metadata`` given here are this prompt's session's, not passed on."""
        from sentrial.integrations._claude_sessions import instrumentor_aside
        from sentrial.integrations.claude_agent import _sending

        self._conversation.wrapping = self._wrapping.for_call(kwargs)
        _, kwargs = _sending(self._conversation, (), {**kwargs, "prompt": prompt})
        try:
            with instrumentor_aside():
                return await self._client.query(**kwargs)
        except BaseException as error:  # not sent: its run will not come
            self._conversation.end_last(error)
            raise

    def receive_response(self) -> AsyncIterator[Any]:
        """The messages up to the prompt's result, recorded."""
        return self._followed(self._client.receive_response())

    def receive_messages(self) -> AsyncIterator[Any]:
        """Every message the client receives, recorded."""
        return self._followed(self._client.receive_messages())

    def _followed(self, messages: AsyncIterator[Any]) -> AsyncIterator[Any]:
        from sentrial.integrations._claude_sessions import unfollowed
        from sentrial.integrations.claude_agent import _follow

        return _follow(unfollowed(messages), self._conversation, end_on_close=False)

    async def __aenter__(self) -> TrackedClaudeClient:
        await self._client.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.disconnect()

    async def connect(self, *args: Any, **kwargs: Any) -> Any:
        """Connect the client."""
        return await self._client.connect(*args, **kwargs)

    async def disconnect(self) -> Any:
        """Disconnect the client; a run still without its result ends as failed."""
        self._conversation.end("disconnected before the result")
        return await self._client.disconnect()

    async def interrupt(self) -> Any:
        """Interrupt the current run."""
        return await self._client.interrupt()

    async def set_permission_mode(self, *args: Any, **kwargs: Any) -> Any:
        """The client's ``set_permission_mode``."""
        return await self._client.set_permission_mode(*args, **kwargs)

    async def set_model(self, *args: Any, **kwargs: Any) -> Any:
        """The client's ``set_model``."""
        return await self._client.set_model(*args, **kwargs)

    async def rewind_files(self, *args: Any, **kwargs: Any) -> Any:
        """The client's ``rewind_files``."""
        return await self._client.rewind_files(*args, **kwargs)

    async def get_mcp_status(self) -> Any:
        """The client's ``get_mcp_status``."""
        return await self._client.get_mcp_status()

    async def get_server_info(self) -> Any:
        """The client's ``get_server_info``."""
        return await self._client.get_server_info()

    def __getattr__(self, name: str) -> Any:
        if name == "_client":  # not set yet (a failed __init__): no lookup in itself
            raise AttributeError(name)
        return getattr(self._client, name)
