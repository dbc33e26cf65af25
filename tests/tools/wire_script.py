"""One script of the published API's calls, run against a Sessions API server.

It uses only names and forms the published package (0.6.0) documents, so it runs unchanged on that
package and on this SDK; tests/tools/capture_published_wire.py runs it on the published package and
stores what the server received, tests/test_published_wire.py runs it on ours and compares.

Settings come from the environment: SENTRIAL_API_URL and SENTRIAL_API_KEY (the server),
FAKE_OPENAI_URL, FAKE_ANTHROPIC_URL, FAKE_GOOGLE_URL (fake provider endpoints). Each section
records under agent names of its own (``w-<section>...``), so the sessions of a section can be
matched between two runs whatever order they reach the server in. Sections that other modules add
(integrations) live in ``wire_sections_*.py`` next to this file, each with a ``SECTIONS`` list of
functions taking no argument; they run after these.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sentrial
from sentrial import SentrialClient

API_URL = os.environ["SENTRIAL_API_URL"]
API_KEY = os.environ.get("SENTRIAL_API_KEY", "sentrial_live_wire")
EVENT_IDS = iter(f"00000000-0000-4000-8000-{n:012d}" for n in range(1, 1000))


def event_id() -> str:
    """A fixed event id, so that session names (``event:first 8 chars``) match between runs."""
    return next(EVENT_IDS)


def client_api() -> None:
    """Every SentrialClient method with every optional argument."""
    client = SentrialClient(API_URL, API_KEY, True)
    parent = client.create_session("w-parent", "w-client", "user-1")
    sid = client.create_session(
        name="w-client-session",
        agent_name="w-client",
        user_id="user-1",
        parent_session_id=parent,
        convo_id="convo-1",
        metadata={"channel": "web", "attempt": 2},
    )
    client.update_state("cart", {"items": 2})
    client.track_tool_call(
        session_id=sid,
        tool_name="search",
        tool_input={"q": "shoes"},
        tool_output={"hits": 3},
        reasoning="the user asked for shoes",
        estimated_cost=0.002,
        tool_error=None,
        token_count=120,
        trace_id=None,
        span_id=None,
        metadata={"source": "kb", "rank": 1},
    )
    client.track_tool_call(sid, "lookup", {"id": 7}, {"found": False}, None, 0.0, {"message": "no row"}, 5)
    client.track_decision(
        session_id=sid,
        reasoning="answer from the knowledge base",
        alternatives=["escalate", "ask again"],
        confidence=0.8,
        estimated_cost=0.001,
        token_count=40,
        trace_id=None,
        span_id=None,
        metadata={"policy": "v2"},
    )
    client.track_error(
        session_id=sid,
        error_message="rate limited",
        error_type="RateLimitError",
        tool_name="search",
        stack_trace="Traceback (most recent call last):\n  ...\nRateLimitError: rate limited",
        trace_id=None,
        span_id=None,
        metadata={"retry": True},
    )
    client.complete_session(
        session_id=sid,
        success=True,
        failure_reason=None,
        estimated_cost=0.01,
        custom_metrics={"satisfaction": 4.5, "turns": 3},
        duration_ms=1234,
        prompt_tokens=100,
        completion_tokens=50,
        total_tokens=150,
        user_input="find shoes",
        assistant_output="3 pairs found",
    )
    client.close_session(parent, duration_ms=2000, success=False, failure_reason="abandoned")
    assert client.current_state is not None
    client.flush()
    client.close()


def interactions() -> None:
    """begin() and Interaction: every method, every argument, and the context manager."""
    client = SentrialClient(api_url=API_URL, api_key=API_KEY)
    interaction = client.begin(
        user_id="user-2",
        event="w-interaction",
        input="reset my password",
        event_id=event_id(),
        convo_id="convo-2",
        metadata={"channel": "chat"},
    )
    assert interaction.user_id == "user-2"
    interaction.track_tool_call(
        tool_name="lookup_user",
        tool_input={"email": "someone"},
        tool_output={"found": True},
        reasoning="need the account",
        estimated_cost=0.0005,
        tool_error=None,
        token_count=10,
        metadata={"db": "users"},
    )
    interaction.track_decision(
        reasoning="send a reset link",
        alternatives=["call support"],
        confidence=0.9,
        estimated_cost=0.0002,
        token_count=12,
        metadata={"rule": "r1"},
    )
    interaction.finish(
        output="link sent",
        success=True,
        failure_reason=None,
        estimated_cost=0.003,
        custom_metrics={"satisfaction": 5, "latency_score": 0.5},
        duration_ms=900,
        prompt_tokens=30,
        completion_tokens=20,
        total_tokens=50,
    )

    failing = client.begin("user-2", "w-interaction-error", "crash please", event_id())
    failing.track_error(
        error_message="tool broke",
        error_type="ValueError",
        tool_name="lookup_user",
        stack_trace="Traceback ...",
        metadata={"where": "lookup"},
    )
    failing.finish(output="sorry")

    with client.begin(user_id="user-3", event="w-interaction-cm", input="hi", event_id=event_id()) as cm:
        cm.set_output("hello")
    try:
        with client.begin(user_id="user-3", event="w-interaction-cm-fail", input="boom", event_id=event_id()):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with client.begin(
        user_id="user-3", event="w-interaction-cm-error", input="x", event_id=event_id()
    ) as errs:
        errs.track_error("went wrong", "ValueError")  # the block then finishes the interaction as failed
    with SentrialClient(API_URL, API_KEY) as scoped:
        scoped.begin("user-4", "w-client-cm", "scoped", event_id()).finish(output="done")
    client.flush()
    client.close()


def module_level() -> None:
    """sentrial.configure() and sentrial.begin(), the decorators and SessionContext."""
    sentrial.configure(api_key=API_KEY, api_url=API_URL)
    sentrial.begin(user_id="user-5", event="w-module", input="module level", event_id=event_id()).finish(
        output="ok", custom_metrics={"turns": 1}
    )

    @sentrial.tool("w_search")
    def search(query: str, limit: int = 3) -> dict[str, Any]:
        return {"results": [query] * limit}

    @sentrial.tool
    def divide(a: int, b: int) -> float:
        return a / b

    @sentrial.session("w-decorated")
    def agent(user_id: str, message: str) -> dict[str, Any]:
        found = search(message, limit=2)
        with contextlib.suppress(ZeroDivisionError):
            divide(1, 0)
        return {"response": f"{len(found['results'])} results"}

    @sentrial.session(agent_name="w-decorated-query", message_param="msg")
    async def async_agent(user_id: str, msg: str) -> str:
        return f"async {msg}"

    agent("user-6", "shoes")
    asyncio.run(async_agent("user-6", "hello"))
    with sentrial.SessionContext(user_id="user-7", agent="w-session-context", input="ctx in") as ctx:
        search("ctx")
        ctx.set_output("ctx out")


def async_api() -> None:
    """AsyncSentrialClient, AsyncInteraction (add_tokens too), configure_async and begin_async."""
    from sentrial.async_client import AsyncSentrialClient, begin_async, configure_async

    async def main() -> None:
        client = AsyncSentrialClient(API_URL, API_KEY, True)
        interaction = await client.begin(
            user_id="user-8",
            event="w-async",
            input="async hello",
            event_id=event_id(),
            convo_id="convo-8",
            metadata={"mode": "async"},
        )
        await interaction.track_tool_call("fetch", {"url": "x"}, {"status": 200}, "need data", 0.001, None, 7)
        await interaction.track_decision("done", ["retry"], 0.7, 0.0, 3, metadata={"k": "v"})
        await interaction.track_error("late", "TimeoutError", "fetch", "Traceback ...", metadata={"n": 1})
        interaction.add_tokens(prompt_tokens=10, completion_tokens=5, cost=0.0001)
        interaction.add_tokens(prompt_tokens=1, completion_tokens=1)
        await interaction.finish(output="async bye", custom_metrics={"turns": 2})
        sid = await client.create_session("w-async-direct", "w-async-direct", "user-8")
        await client.track_tool_call(sid, "t", {"a": 1}, {"b": 2}, metadata={"m": 1})
        await client.complete_session(sid, success=False, failure_reason="gave up", duration_ms=10)
        await client.close()
        await configure_async(api_key=API_KEY, api_url=API_URL)
        module = await begin_async(user_id="user-9", event="w-async-module", input="m", event_id=event_id())
        await module.finish(output="m done")

    asyncio.run(main())


def batching() -> None:
    """A client with batching on: events queued, then flushed."""
    client = SentrialClient(
        API_URL, API_KEY, batching=sentrial.BatcherConfig(enabled=True, flush_interval=60.0)
    )
    interaction = client.begin("user-10", "w-batched", "batch me", event_id())
    for n in range(3):
        interaction.track_tool_call(f"step{n}", {"n": n}, {"ok": True})
    client.flush()
    interaction.finish(output="batched")
    client.flush()
    client.close()


def wrappers() -> None:
    """wrap_openai, wrap_anthropic, wrap_google and wrap_llm against the fake providers."""
    import warnings

    import anthropic
    import openai

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the package announces its own end of support
        import google.generativeai as generativeai

    gpt = sentrial.wrap_openai(
        openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="k", max_retries=0)
    )
    claude = sentrial.wrap_anthropic(
        anthropic.Anthropic(base_url=os.environ["FAKE_ANTHROPIC_URL"], api_key="k", max_retries=0)
    )
    # The published wrap_google takes google-generativeai's GenerativeModel.
    generativeai.configure(
        api_key="k", transport="rest", client_options={"api_endpoint": os.environ["FAKE_GOOGLE_URL"]}
    )
    gemini = sentrial.wrap_google(generativeai.GenerativeModel("gemini-2.0-flash"))
    llm = sentrial.wrap_llm(openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="k", max_retries=0))

    interaction = sentrial.begin(
        user_id="user-11", event="w-wrapped", input="ask the models", event_id=event_id()
    )
    gpt.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Capital of France?"}])
    stream = gpt.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Stream it"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    for _ in stream:
        pass
    claude.messages.create(
        model="claude-sonnet-4-20250514",
        max_tokens=100,
        system="Be brief.",
        messages=[{"role": "user", "content": "Capital of Italy?"}],
    )
    gemini.generate_content("Capital of Spain?")
    llm.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Via wrap_llm"}])
    interaction.finish(output="answers")


SECTIONS: list[Callable[[], None]] = [client_api, interactions, module_level, async_api, batching, wrappers]


def extra_sections() -> list[Callable[[], None]]:
    """The sections of the ``wire_sections_*.py`` modules next to this file, in file-name order."""
    found: list[Callable[[], None]] = []
    for path in sorted(Path(__file__).parent.glob("wire_sections_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.extend(module.SECTIONS)
    return found


def main() -> None:
    """Run every section (or those named on the command line), then flush the default client."""
    wanted = set(sys.argv[1:])
    for section in SECTIONS + extra_sections():
        if not wanted or section.__name__ in wanted:
            section()
    flush = getattr(sentrial, "flush", None)  # ours delivers in the background; the published does not
    if flush is not None:
        flush()


if __name__ == "__main__":
    main()
