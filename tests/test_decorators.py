"""Decorators, context managers and the async API, over real HTTP, with concurrent tasks and threads."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import warnings
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from helpers import wait_until
from opentelemetry.sdk.trace import TracerProvider

import sentrial
from sentrial import AsyncSentrialClient, SentrialClient, SessionContext, semconv, session, tool
from sentrial.server import LocalServer


@pytest.fixture
def configured(local_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    monkeypatch.setenv("SENTRIAL_API_URL", local_server.url)
    sentrial.configure(api_key="sentrial_live_xxx", instrument=False)
    yield local_server
    sentrial.shutdown(timeout=5)


def by_agent(server: LocalServer, agent: str) -> list[dict[str, Any]]:
    return [server.session(s["id"]) for s in server.sessions() if s["agentName"] == agent]  # type: ignore[misc]


class KnowledgeBase:
    def search(self, query: str) -> dict[str, Any]:
        return {"results": [f"KB for {query}"]}


kb = KnowledgeBase()


def format_response(results: dict[str, Any]) -> str:
    return "; ".join(results["results"])


async def async_search(message: str) -> str:
    await asyncio.sleep(0)
    return f"found {message}"


def test_reference_decorators(configured: LocalServer) -> None:
    @tool("search_kb")
    def search_knowledge_base(query: str) -> dict:  # type: ignore[type-arg]
        """Automatically tracked — inputs, outputs, errors, duration."""
        return kb.search(query)

    @session("support-agent")
    def handle_request(user_id: str, message: str) -> str:
        """Auto-creates session, tracks all @tool calls inside."""
        results = search_knowledge_base(message)
        return format_response(results)

    # Works with async too
    @session("async-agent")
    async def handle_async(user_id: str, message: str) -> str:
        results = await async_search(message)
        return results

    assert handle_request("user_1", "reset password") == "KB for reset password"
    assert asyncio.run(handle_async("user_2", "billing")) == "found billing"
    assert sentrial.flush(timeout=5)

    (support,) = by_agent(configured, "support-agent")
    assert (support["userId"], support["userInput"], support["assistantOutput"]) == (
        "user_1",
        "reset password",
        "KB for reset password",
    )
    (event,) = support["events"]
    assert (event["toolName"], event["toolInput"], event["toolOutput"]) == (
        "search_kb",
        {"query": "reset password"},
        {"results": ["KB for reset password"]},
    )
    assert event["metadata"]["duration_ms"] >= 0
    (async_session,) = by_agent(configured, "async-agent")
    assert (async_session["status"], async_session["assistantOutput"]) == ("completed", "found billing")


def test_tool_forms_methods_errors_and_generators(configured: LocalServer) -> None:
    class Agent:
        @tool
        def lookup(self, key: str, limit: int = 3) -> list[str]:
            return [key] * limit

        @tool(name="explode")
        def explode(self) -> None:
            raise KeyError("missing")

        @tool("stream_words")
        def words(self, text: str) -> Iterator[str]:
            yield from text.split()

    agent = Agent()
    with sentrial.begin(user_id="u", event="tools") as interaction:
        assert agent.lookup("k", limit=2) == ["k", "k"]
        with pytest.raises(KeyError) as raised:
            agent.explode()
        assert list(agent.words("a b c")) == ["a", "b", "c"]
    assert sentrial.flush(timeout=5)
    assert isinstance(raised.value, KeyError)
    lookup, explode, words = configured.session(interaction.session_id)["events"]  # type: ignore[index]
    assert (lookup["toolName"], lookup["toolInput"], lookup["toolOutput"]) == (
        "lookup",
        {"key": "k", "limit": 2},
        {"result": ["k", "k"]},
    )
    assert explode["toolName"] == "explode" and explode["toolError"] == {
        "message": "'missing'",
        "type": "KeyError",
    }
    assert words["toolOutput"] == {"result": ["a", "b", "c"]}


def test_tool_outside_any_session_still_runs(configured: LocalServer) -> None:
    @tool
    def double(x: int) -> int:
        return 2 * x

    assert double(21) == 42
    assert sentrial.flush(timeout=5)
    assert configured.sessions() == []


def test_session_failures_cancellation_and_keyboard_interrupt(configured: LocalServer) -> None:
    @session(agent_name="crashy", user_id_param="who", input_param="question")
    def crash(who: str, question: str) -> str:
        raise RuntimeError("boom")

    @session("interrupted")
    def interrupted(user_id: str) -> None:
        raise KeyboardInterrupt

    @session("cancelled")
    async def cancelled(user_id: str) -> None:
        await asyncio.sleep(60)

    async def cancel_it() -> None:
        task = asyncio.create_task(cancelled("u3"))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with pytest.raises(RuntimeError):
        crash(who="u1", question="why?")
    with pytest.raises(KeyboardInterrupt):
        interrupted("u2")
    asyncio.run(cancel_it())
    assert sentrial.flush(timeout=5)
    (crashed,) = by_agent(configured, "crashy")
    assert (crashed["userId"], crashed["userInput"], crashed["status"], crashed["failureReason"]) == (
        "u1",
        "why?",
        "failed",
        "RuntimeError: boom",
    )
    assert by_agent(configured, "interrupted")[0]["failureReason"] == "KeyboardInterrupt: "
    assert by_agent(configured, "cancelled")[0]["failureReason"].startswith("CancelledError")


def test_session_context_sync_and_async_and_current_helpers(configured: LocalServer) -> None:
    assert sentrial.get_current_session_id() is None
    with SessionContext(user_id="u", agent_name="ctx", input="hi") as interaction:
        assert sentrial.get_current_session_id() == interaction.session_id
        assert sentrial.get_current_interaction() is interaction
        interaction.set_output("bye")
    assert sentrial.get_current_session_id() is None

    async def run() -> str | None:
        async with SessionContext(user_id="u", agent_name="actx") as inner:
            inner.track_decision(reasoning="go")
            return inner.session_id

    async_id = asyncio.run(run())
    assert sentrial.flush(timeout=5)
    assert configured.session(interaction.session_id)["assistantOutput"] == "bye"  # type: ignore[index]
    assert [e["eventType"] for e in configured.session(async_id)["events"]] == ["llm_decision"]  # type: ignore[arg-type, index]


def test_reference_context_managers(local_server: LocalServer) -> None:
    class EchoAgent:
        def run(self, text: str) -> str:
            return f"echo {text}"

    class AsyncEchoAgent:
        async def run(self, text: str) -> str:
            return f"async echo {text}"

    agent = EchoAgent()
    client = SentrialClient(api_key="sentrial_live_xxx", api_url=local_server.url)
    # Auto-finishes on exit, tracks success/failure
    with client.begin(user_id="user_123", event="chat", input="Hello") as interaction:
        response = agent.run("Hello")
        interaction.set_output(response)

    async def main() -> str | None:
        agent = AsyncEchoAgent()
        async_client = AsyncSentrialClient(api_key="sentrial_live_xxx", api_url=local_server.url)
        async with async_client.begin(user_id="user_123", event="chat") as interaction:
            response = await agent.run("Hello")
            interaction.set_output(response)
        assert await async_client.flush()
        await async_client.shutdown()
        return interaction.session_id

    async_id = asyncio.run(main())
    assert client.flush(timeout=5)
    client.shutdown()
    assert local_server.session(interaction.session_id)["assistantOutput"] == "echo Hello"  # type: ignore[index]
    assert local_server.session(async_id)["assistantOutput"] == "async echo Hello"  # type: ignore[arg-type, index]


def test_reference_async_api(configured: LocalServer) -> None:
    async def agent_run(text: str) -> str:
        return f"answer to {text}"

    async def main() -> tuple[str | None, str]:
        user_input = "User's question"
        interaction = await sentrial.begin_async(
            user_id="user_123", event="chat_message", input="User's question"
        )
        response = await agent_run(user_input)
        await interaction.finish(output=response)

        client = AsyncSentrialClient(api_key="sentrial_live_xxx", api_url=configured.url)
        session_id = await client.create_session(
            name="Async session", agent_name="my-agent", user_id="user_123"
        )
        await client.track_tool_call(
            session_id=session_id,
            tool_name="search",
            tool_input={"query": "test"},
            tool_output={"results": []},
        )
        await client.complete_session(session_id=session_id, success=True)
        client.flush()  # as the reference writes them: not awaited
        client.shutdown()
        return interaction.session_id, session_id

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # e.g. "coroutine ... was never awaited"
        first, second = asyncio.run(main())
        gc.collect()
    assert sentrial.flush(timeout=5)
    assert configured.session(first)["assistantOutput"] == "answer to User's question"  # type: ignore[arg-type, index]
    # The un-awaited shutdown delivers in the background: open, the event, then the completion.
    manual = wait_until(
        lambda: (stored := configured.session(second)) and stored["status"] == "completed" and stored,
        what="the async client's session, completed",
    )
    assert [e["toolName"] for e in manual["events"]] == ["search"]


def test_async_flush_and_shutdown_run_whether_awaited_or_not(local_server: LocalServer) -> None:
    """With batching, only a flush sends before the interval: one left un-awaited still sends, and
    an un-awaited shutdown still completes what is open; awaited, both give their result."""
    slow = sentrial.BatcherConfig(enabled=True, flush_interval=600.0)

    async def main() -> tuple[str, str, bool, bool]:
        client = AsyncSentrialClient(api_key="k", api_url=local_server.url, batching=slow)
        flushed = AsyncSentrialClient(api_key="k", api_url=local_server.url, batching=slow)
        async with flushed.begin(user_id="u", event="awaited") as awaited:
            awaited.set_output("sent by an awaited flush")
        delivered = await flushed.flush()
        closed = await flushed.shutdown()
        async with client.begin(user_id="u", event="left") as left:
            left.set_output("sent by a flush nobody awaited")
        client.flush()
        still_open = client.begin(user_id="u", event="never finished")
        await asyncio.sleep(0)
        session = wait_until(
            lambda: (
                (stored := local_server.session(left.session_id or ""))
                and stored["status"] == "completed"
                and stored
            ),
            what="the un-awaited flush",
        )
        assert session["assistantOutput"] == "sent by a flush nobody awaited"
        client.shutdown()
        return awaited.session_id or "", still_open.session_id or "", delivered, closed

    awaited_id, open_id, delivered, closed = asyncio.run(main())

    assert (delivered, closed) == (True, True)
    assert (local_server.session(awaited_id) or {}).get("status") == "completed"
    completed = wait_until(
        lambda: (
            (local_server.session(open_id) or {}).get("status") == "failed" and local_server.session(open_id)
        ),
        what="the un-awaited shutdown",
    )
    assert completed["failureReason"] == semconv.NOT_FINISHED_REASON


def test_async_flush_failures_reach_whoever_awaits_and_are_logged_otherwise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:  # a port where nothing listens
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"

    async def main() -> None:
        client = AsyncSentrialClient(
            api_key="k", api_url=dead, fail_silently=False, timeout=0.2, retry_timeout=0.5
        )
        await client.create_session(name="n", agent_name="a", user_id="u")
        with pytest.raises(sentrial.DeliveryError):
            await client.flush(timeout=2)
        await client.create_session(name="n", agent_name="a", user_id="u")
        left = client.flush(timeout=2)
        wait_until(left.done, what="the un-awaited flush to give up")
        del left
        gc.collect()
        with contextlib.suppress(sentrial.DeliveryError):
            await client.shutdown(timeout=1)

    with caplog.at_level(logging.ERROR, logger="sentrial"):
        asyncio.run(main())
    assert any("flush() failed and was not awaited" in r.getMessage() for r in caplog.records)


def test_nested_sessions_get_their_parent(configured: LocalServer) -> None:
    @session("inner-agent")
    def inner(user_id: str, task: str) -> str:
        return task.upper()

    @session("outer-agent")
    def outer(user_id: str, task: str) -> str:
        return inner(user_id, task) + "!"

    assert outer("u", "plan") == "PLAN!"
    assert sentrial.flush(timeout=5)
    (parent,) = by_agent(configured, "outer-agent")
    (child,) = by_agent(configured, "inner-agent")
    assert child["parentSessionId"] == parent["id"] and parent["parentSessionId"] is None


def test_async_generator_tool(configured: LocalServer) -> None:
    @tool
    async def countdown(n: int) -> AsyncIterator[int]:
        for i in range(n, 0, -1):
            yield i

    async def main() -> str | None:
        async with SessionContext(user_id="u", agent_name="gen") as interaction:
            assert [i async for i in countdown(3)] == [3, 2, 1]
            return interaction.session_id

    sid = asyncio.run(main())
    assert sentrial.flush(timeout=5)
    (event,) = configured.session(sid)["events"]  # type: ignore[arg-type, index]
    assert (event["toolInput"], event["toolOutput"]) == ({"n": 3}, {"result": [3, 2, 1]})


def test_an_interaction_finished_in_another_task_logs_no_error(
    configured: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)

    async def main() -> str | None:
        interaction = await sentrial.begin_async(user_id="u", event="elsewhere", input="x")
        await asyncio.create_task(interaction.finish(output="done"))  # type: ignore[arg-type]
        return interaction.session_id

    sid = asyncio.run(main())
    assert sentrial.flush(timeout=5)
    session = configured.session(sid)  # type: ignore[arg-type]
    assert session is not None and session["status"] == "completed"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_generator_tool_left_early_succeeds_with_what_was_taken(configured: LocalServer) -> None:
    @tool
    def rows(n: int) -> Iterator[int]:
        yield from range(n)

    @tool
    async def async_rows(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    async def take_two_async() -> list[int]:
        taken = []
        stream = async_rows(5)
        async for row in stream:
            taken.append(row)
            if row == 1:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return taken

    with SessionContext(user_id="u", agent_name="early") as interaction:
        for row in rows(5):
            if row == 1:
                break  # the generator is closed here: the consumer needed no more
        assert asyncio.run(take_two_async()) == [0, 1]
    assert sentrial.flush(timeout=5)
    events = configured.session(interaction.session_id)["events"]  # type: ignore[arg-type, index]
    assert [(e["toolName"], e["toolOutput"], e.get("toolError")) for e in events] == [
        ("rows", {"result": [0, 1]}, None),
        ("async_rows", {"result": [0, 1]}, None),
    ]


@pytest.mark.parametrize("round_number", range(20))
def test_concurrent_tasks_and_threads_never_mix_sessions(
    local_server: LocalServer, round_number: int
) -> None:
    client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=TracerProvider())

    @tool
    def step(owner: str, n: int) -> dict[str, Any]:
        return {"owner": owner, "n": n}

    @tool
    async def async_step(owner: str, n: int) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"owner": owner, "n": n}

    @session("async-worker", client=client)
    async def async_worker(user_id: str, task: str) -> str:
        for n in range(3):
            await async_step(user_id, n)
        return task

    @session("thread-worker", client=client)
    def thread_worker(user_id: str, task: str) -> str:
        for n in range(3):
            step(user_id, n)
        return task

    async def many_tasks() -> None:
        await asyncio.gather(*(async_worker(f"task-{i}", f"job {i}") for i in range(50)))

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(thread_worker, f"thread-{i}", f"job {i}") for i in range(8)]
        asyncio.run(many_tasks())
        for future in futures:
            future.result()
    assert client.flush(timeout=10)
    client.shutdown()

    sessions = [local_server.session(s["id"]) for s in local_server.sessions()]
    assert len(sessions) == 58
    for recorded in sessions:
        assert recorded is not None and recorded["parentSessionId"] is None
        owner = recorded["userId"]
        assert [(e["toolInput"]["owner"], e["toolInput"]["n"]) for e in recorded["events"]] == [
            (owner, n) for n in range(3)
        ], f"round {round_number}: {owner} got foreign events"


def test_bind_context_carries_the_session_into_a_thread_pool(configured: LocalServer) -> None:
    seen: list[str | None] = []

    @tool
    def work(n: int) -> int:
        seen.append(sentrial.get_current_session_id())
        return n

    with sentrial.begin(user_id="u", event="pool") as interaction, ThreadPoolExecutor(2) as pool:
        list(pool.map(sentrial.bind_context(work), range(4)))
        plain = pool.submit(sentrial.get_current_session_id).result()
    assert sentrial.flush(timeout=5)
    assert seen == [interaction.session_id] * 4 and plain is None
    assert len(configured.session(interaction.session_id)["events"]) == 4  # type: ignore[index]


class StrRaisesError(Exception):
    """An exception whose message cannot be read."""

    def __str__(self) -> str:
        raise RuntimeError("no str")


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_a_tool_raising_an_exception_whose_str_raises_still_raises_its_own(configured: LocalServer) -> None:
    @tool
    def fragile() -> None:
        raise StrRaisesError

    @session("fragile-agent")
    def agent(user_id: Any, question: Any) -> Any:
        with contextlib.suppress(StrRaisesError):
            fragile()
        return Unprintable()

    assert isinstance(agent(Unprintable(), 10**5000), Unprintable)
    assert sentrial.flush(timeout=5)
    (recorded,) = by_agent(configured, "fragile-agent")
    assert recorded["status"] == "completed"
    assert recorded["userId"] == "<Unprintable: unrepresentable>"
    assert recorded["assistantOutput"] == '"<Unprintable: unrepresentable>"'
    (event,) = recorded["events"]
    assert event["toolName"] == "fragile" and event["toolError"]["type"] == "StrRaisesError"


class Ambiguous:
    """Like a DataFrame: its truth value raises."""

    def __bool__(self) -> bool:
        raise ValueError("ambiguous")

    def __str__(self) -> str:
        return "ambiguous-name"


def test_session_and_tool_given_unusable_names_still_run_the_function(configured: LocalServer) -> None:
    @tool(name=Ambiguous())  # type: ignore[arg-type]
    def lookup() -> str:
        return "found"

    @session("agent", user_id_param=["not", "a", "name"])  # type: ignore[arg-type]
    def agent(user_id: str) -> str:
        return lookup()

    @session(Ambiguous())  # type: ignore[arg-type]
    def other(user_id: str) -> str:
        return "ran"

    assert (agent("u"), other("u")) == ("found", "ran")
    assert sentrial.flush(timeout=5)
    (recorded,) = by_agent(configured, "agent")
    assert (recorded["userId"], recorded["status"]) == ("anonymous", "completed")
    assert [e["toolName"] for e in recorded["events"]] == ["ambiguous-name"]
    assert [s["status"] for s in by_agent(configured, "ambiguous-name")] == ["completed"]


def test_events_carry_their_start_duration_and_parent_span(configured: LocalServer) -> None:
    @tool("inner")
    def inner(x: int) -> int:
        return x + 1

    @tool("outer")
    def outer(x: int) -> int:
        return inner(x) * 2

    @session("nesting-agent")
    def run(message: str) -> str:
        return str(outer(1))

    run("go")
    assert sentrial.flush(timeout=5)
    (stored,) = by_agent(configured, "nesting-agent")
    # The inner tool ends first, so it arrives first; its metadata says where it belongs.
    first, second = stored["events"]
    assert (first["toolName"], second["toolName"]) == ("inner", "outer")
    assert first["metadata"]["parent_span_id"] == second["spanId"]
    assert second["metadata"]["started_at"] <= first["metadata"]["started_at"]
    assert second["metadata"]["duration_ms"] >= first["metadata"]["duration_ms"] >= 0
