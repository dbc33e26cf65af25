"""The async API's signatures: written out, the sync API's own, checked by type checkers.

This file is type-checked with the packages (see ``[tool.mypy]``): the misspelt keywords below
carry ``# type: ignore[call-arg]``, and with ``warn_unused_ignores`` mypy fails if it stops
refusing them, i.e. if an async signature goes back to ``*args, **kwargs``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

import sentrial
import sentrial.api
from sentrial import AsyncInteraction, AsyncSentrialClient, Interaction, SentrialClient
from sentrial.server import LocalServer

PAIRS = [(AsyncSentrialClient, SentrialClient), (AsyncInteraction, Interaction)]


def public_methods(cls: type) -> dict[str, Any]:
    """The public methods of ``cls`` (properties left out), by name."""
    return {
        name: getattr(cls, name)
        for name in dir(cls)
        if not name.startswith("_") and callable(getattr(cls, name))
    }


def parameters(function: Any) -> list[inspect.Parameter]:
    return list(inspect.signature(function).parameters.values())


@pytest.mark.parametrize(("async_class", "sync_class"), PAIRS, ids=lambda cls: cls.__name__)
def test_every_async_method_has_the_sync_methods_parameters(async_class: type, sync_class: type) -> None:
    async_methods, sync_methods = public_methods(async_class), public_methods(sync_class)
    assert sorted(async_methods) == sorted(sync_methods)
    for name, method in async_methods.items():
        written = parameters(method)
        kinds = {parameter.kind for parameter in written}
        assert not kinds & {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}, name
        # Names, order, kinds, defaults and annotations alike.
        assert written == parameters(sync_methods[name]), name


def test_an_interactions_events_take_the_clients_arguments_but_the_session() -> None:
    """Interaction forwards its events to the client's methods of the same name, by keyword. As
    published, ``metadata`` follows ``token_count`` there; the ids for distributed tracing, which
    the published interaction lacks, are keyword-only after it."""
    shared = [name for name in public_methods(Interaction) if name.startswith("track_")]
    assert shared  # the events an interaction records
    linked = ("trace_id", "span_id")
    for name in shared:
        on_client = parameters(getattr(SentrialClient, name))
        assert on_client[1].name == "session_id", name
        plain = [p for p in on_client[2:] if p.name not in linked]
        keyword_only = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in on_client if p.name in linked]
        assert parameters(getattr(Interaction, name)) == [on_client[0], *plain, *keyword_only], name


def test_the_async_client_takes_the_sync_clients_settings() -> None:
    assert parameters(AsyncSentrialClient.__init__) == parameters(SentrialClient.__init__)


@pytest.mark.parametrize("function", [sentrial.begin, sentrial.begin_async], ids=lambda f: f.__name__)
def test_the_module_level_begin_has_the_clients_parameters(function: Any) -> None:
    assert parameters(function) == parameters(SentrialClient.begin)[1:]  # without self


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(db=":memory:") as local:
        yield local


def client_of(server: LocalServer, *, strict: bool = False) -> AsyncSentrialClient:
    return AsyncSentrialClient(
        api_key="k", api_url=server.url, fail_silently=not strict, tracer_provider=TracerProvider()
    )


def test_typed_async_calls_record_by_keyword_and_by_position(server: LocalServer) -> None:
    async def main() -> tuple[str, str | None]:
        client = client_of(server)
        session_id: str = await client.create_session(name="n", agent_name="typed", user_id="u")
        by_keyword: dict[str, Any] | None = await client.track_tool_call(
            session_id=session_id, tool_name="by keyword", tool_input={"a": 1}, tool_output={"b": 2}
        )
        by_position = await client.track_tool_call(session_id, "by position", {"a": 3}, {"b": 4}, "why")
        assert by_keyword is not None and by_position is not None
        await client.track_decision(session_id, "chose", ["x", "y"], 0.5)
        await client.track_error(session_id, "broke", "ValueError")
        await client.complete_session(session_id, True, None, 0.25)
        async with client.begin("u", "chat", "hello") as interaction:
            await interaction.track_tool_call("inside", {"q": 1}, {"r": 2})
            interaction.set_output("bye")
        assert await client.flush(5.0)
        await client.shutdown()
        return session_id, interaction.session_id

    session_id, interaction_id = asyncio.run(main())
    stored = server.session(session_id)
    assert stored is not None and stored["status"] == "completed" and stored["estimatedCost"] == 0.25
    events = stored["events"]
    assert [e["toolName"] for e in events if e["eventType"] == "tool_call"] == ["by keyword", "by position"]
    assert [e["toolInput"] for e in events if e["eventType"] == "tool_call"] == [{"a": 1}, {"a": 3}]
    assert {e["eventType"] for e in events} == {"tool_call", "llm_decision", "error"}
    inner = server.session(interaction_id or "")
    assert inner is not None and inner["assistantOutput"] == "bye" and inner["userInput"] == "hello"


def test_a_misspelt_keyword_is_handled_as_the_sync_client_handles_it(
    server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    """fail_silently: logged, and the sync method's fallback result; nothing reaches the app."""

    async def main() -> list[Any]:
        client = client_of(server)
        session_id = await client.create_session(name="n", agent_name="a", user_id="u")
        interaction = await client.begin(user_id="u", event="e")
        interaction.set_output(text="x")  # type: ignore[call-arg]
        return [
            await client.track_tool_call(sesion_id=session_id, tool_name="t", tool_input={}, tool_output={}),  # type: ignore[call-arg]
            await client.complete_session(session=session_id),  # type: ignore[call-arg]
            await client.create_session(nam="n", agent_name="a", user_id="u"),  # type: ignore[call-arg]
            client.begin(user="u", event="e"),  # type: ignore[call-arg]
            await interaction.finish(outptu="x"),  # type: ignore[call-arg]
        ]

    with caplog.at_level(logging.ERROR, logger="sentrial"):
        tool_call, completed, created, begun, finished = asyncio.run(main())
    assert (tool_call, completed, finished) == (None, None, None)
    assert isinstance(created, str)  # create_session's fallback: an id the app can go on with
    assert isinstance(begun, AsyncInteraction) and begun.session_id is None
    failed = [r.getMessage() for r in caplog.records if "the app carries on" in r.getMessage()]
    assert len(failed) == 6, failed


def test_a_misspelt_keyword_raises_when_awaited_on_a_strict_client(server: LocalServer) -> None:
    async def main() -> None:
        client = client_of(server, strict=True)
        call = client.track_decision(sesion_id="s", reasoning="r")  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="sesion_id"):
            await call
        with pytest.raises(TypeError, match="user"):
            client.begin(user="u", event="e")  # type: ignore[call-arg]
        await client.shutdown()

    asyncio.run(main())


def test_the_module_level_begin_refuses_a_misspelt_keyword_before_making_a_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unlike the client's guarded method: a TypeError at once, and no default client made for it."""
    monkeypatch.setattr(sentrial.api, "_default", None)
    with pytest.raises(TypeError, match="usr_id"):
        sentrial.begin(usr_id="u", event="e")  # type: ignore[call-arg]
    assert sentrial.api._default is None
