"""The Claude Agent SDK integration, with the real claude-agent-sdk and the Claude Code CLI it bundles,
talking to the fake Anthropic API, delivering to the local Sessions API server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import wrapt
from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKClient,
    ResultMessage,
    create_sdk_mcp_server,
    query,
    tool,
)
from claude_agent_sdk._errors import ResultError
from claude_agent_sdk._internal.client import InternalClient
from fake_anthropic import FakeAnthropic, Reply, ToolCall
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import sentrial
from sentrial.integrations.claude_agent import ClaudeAgentInstrumentor, _Conversation
from sentrial.server import LocalServer

MODEL = "claude-haiku-4-5"
TOOL = "mcp__weather__get_weather"
RUN_TIMEOUT_S = 60.0


@tool("get_weather", "The weather of a city", {"city": str})
async def get_weather(args: dict[str, Any]) -> dict[str, Any]:
    if args["city"] == "Atlantis":
        return {"content": [{"type": "text", "text": "no such city"}], "is_error": True}
    return {"content": [{"type": "text", "text": f"{args['city']}: sunny, 22C"}]}


def weather_turn(city: str, answer: str, message: str) -> list[Reply]:
    """The model asks for the weather of ``city``, then answers ``answer``."""
    ask = ToolCall(id=f"toolu_{message}", name=TOOL, input={"city": city})
    return [
        Reply(text="Let me check.", tool_call=ask, message_id=f"msg_{message}_1", usage=usage(100, 20)),
        Reply(text=answer, message_id=f"msg_{message}_2", usage=usage(150, 10)),
    ]


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {"input_tokens": prompt, "output_tokens": completion}


class Setup:
    """``sentrial.configure()`` against the local server, the CLI against the fake API."""

    def __init__(
        self, server: LocalServer, fake: FakeAnthropic, home: Path, user_id: str | None = None
    ) -> None:
        if user_id is not None:  # instrumented by hand first: configure() leaves it as it is
            ClaudeAgentInstrumentor().instrument(user_id=user_id)
        self.server = server
        self.fake = fake
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        sentrial.configure(api_key="k", api_url=server.url, tracer_provider=self.provider)
        self.home = home
        self.user_id = user_id

    def options(self, **overrides: Any) -> ClaudeAgentOptions:
        env = {
            "ANTHROPIC_BASE_URL": self.fake.url,
            "ANTHROPIC_API_KEY": "test-key",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "HOME": str(self.home),  # the CLI's settings and transcripts stay in the test's folder
        }
        settings: dict[str, Any] = {
            "env": env,
            "cwd": str(self.home),
            "model": MODEL,
            "max_turns": 4,
            "mcp_servers": {"weather": create_sdk_mcp_server("weather", tools=[get_weather])},
            "allowed_tools": [TOOL],
        }
        return ClaudeAgentOptions(**{**settings, **overrides})

    def sessions(self) -> list[dict[str, Any]]:
        assert sentrial.flush(timeout=10)
        found = [self.server.session(listed["id"]) for listed in self.server.sessions()]
        return [s for s in found if s is not None]

    def spans(self) -> dict[str, ReadableSpan]:
        return {span.name: span for span in self.exporter.get_finished_spans()}


@pytest.fixture(params=[None])
def setup(request: pytest.FixtureRequest, local_server: LocalServer, tmp_path: Path) -> Iterator[Setup]:
    fake = FakeAnthropic().start()
    configured = Setup(local_server, fake, tmp_path, user_id=request.param)
    try:
        yield configured
    finally:
        sentrial.shutdown(timeout=5)
        configured.provider.shutdown()
        fake.stop()


def run(coroutine: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, RUN_TIMEOUT_S))


async def collect(prompt: str, options: ClaudeAgentOptions) -> list[Any]:
    return [message async for message in query(prompt=prompt, options=options)]


def result_of(messages: list[Any]) -> ResultMessage:
    (result,) = [m for m in messages if isinstance(m, ResultMessage)]
    return result


def cost_of(result: ResultMessage) -> float:
    """What Claude Code says its run cost, summed over the conversation so far."""
    assert result.model_usage is not None and result.total_cost_usd is not None
    assert result.model_usage[MODEL]["costUSD"] == result.total_cost_usd  # one model
    return result.total_cost_usd


def assert_weather_events(session: dict[str, Any], cost: float, city: str = "Paris") -> None:
    """The session holds the tool call, then the prompt's model usage and cost."""
    weather, llm = session["events"]
    assert (weather["toolName"], weather["toolInput"]) == (TOOL, {"city": city})
    assert weather["toolOutput"] == {"result": f"{city}: sunny, 22C"}
    assert llm["toolName"] == f"llm:anthropic:{MODEL}"
    assert llm["toolOutput"]["tokens"] == {"prompt": 250, "completion": 30, "total": 280}
    assert llm["estimatedCost"] == pytest.approx(cost)
    assert session["estimatedCost"] == pytest.approx(cost)
    assert (session["promptTokens"], session["completionTokens"], session["totalTokens"]) == (250, 30, 280)


@pytest.mark.parametrize("setup", [None, "user_9"], indirect=True)
def test_a_query_becomes_one_session_with_its_tool_call_and_model_usage(setup: Setup) -> None:
    setup.fake.queued = weather_turn("Paris", "Paris is sunny, 22C.", "a")
    result = result_of(run(collect("Weather in Paris?", setup.options())))
    assert (result.is_error, result.result) == (False, "Paris is sunny, 22C.")

    (session,) = setup.sessions()
    assert (session["userInput"], session["assistantOutput"]) == ("Weather in Paris?", "Paris is sunny, 22C.")
    expected = ("completed", setup.user_id or "anonymous", "claude_agent")
    assert (session["status"], session["userId"], session["agentName"]) == expected
    assert session["customMetrics"] == {"num_turns": result.num_turns}
    assert_weather_events(session, cost_of(result))

    spans = setup.spans()
    session_span, tool_span = spans["invoke_agent claude_agent"], spans[f"execute_tool {TOOL}"]
    llm_span = spans[f"chat {MODEL}"]
    for child in (tool_span, llm_span):
        assert child.parent is not None and child.parent.span_id == session_span.context.span_id
    assert llm_span.start_time is not None and session_span.start_time is not None
    assert llm_span.start_time >= session_span.start_time  # it spans the run, from the prompt on


def test_each_prompt_of_a_client_conversation_is_a_session_of_its_own(setup: Setup) -> None:
    setup.fake.queued = [
        *weather_turn("Paris", "Paris is sunny, 22C.", "a"),
        *weather_turn("Rome", "Rome is sunny too.", "b"),
    ]

    async def converse() -> list[ResultMessage]:
        results = []
        async with ClaudeSDKClient(options=setup.options()) as client:
            for prompt in ("Weather in Paris?", "And in Rome?"):
                await client.query(prompt)
                results.append(result_of([m async for m in client.receive_response()]))
        return results

    first_result, second_result = run(converse())
    by_input = {s["userInput"]: s for s in setup.sessions()}
    first, second = by_input["Weather in Paris?"], by_input["And in Rome?"]
    assert [(s["userInput"], s["assistantOutput"], s["status"]) for s in (first, second)] == [
        ("Weather in Paris?", "Paris is sunny, 22C.", "completed"),
        ("And in Rome?", "Rome is sunny too.", "completed"),
    ]
    # Claude Code sums the cost over the conversation: each session gets its prompt's share.
    assert_weather_events(first, cost_of(first_result))
    assert_weather_events(second, cost_of(second_result) - cost_of(first_result), city="Rome")


def test_a_query_inside_an_interaction_records_into_it(setup: Setup) -> None:
    setup.fake.queued = weather_turn("Paris", "Paris is sunny, 22C.", "a")

    async def main() -> tuple[str, ResultMessage]:
        with sentrial.begin(user_id="u1", event="support", input="Weather in Paris?") as interaction:
            result = result_of(await collect("Weather in Paris?", setup.options()))
            interaction.set_output(result.result)
        return interaction.session_id, result

    session_id, result = run(main())
    (session,) = setup.sessions()
    assert (session["id"], session["userId"], session["status"]) == (session_id, "u1", "completed")
    # finish() got no totals: they are summed from the events, the LLM call's among them.
    assert_weather_events(session, cost_of(result))


def test_a_failing_tool_and_a_run_out_of_turns_are_recorded_as_failed(setup: Setup) -> None:
    setup.fake.queued = weather_turn("Atlantis", "unused", "a")
    messages: list[Any] = []

    async def until_the_error() -> None:
        with pytest.raises(ResultError):  # the SDK raises after the error result
            async for message in query(prompt="Weather in Atlantis?", options=setup.options(max_turns=1)):
                messages.append(message)

    run(until_the_error())
    result = result_of(messages)
    assert result.is_error

    (session,) = setup.sessions()
    assert session["status"] == "failed"
    assert session["failureReason"] == "; ".join(result.errors or []) or result.subtype
    weather = session["events"][0]
    assert weather["toolName"] == TOOL
    assert weather["toolError"]["type"] == "ToolError"
    assert weather["toolError"]["message"].startswith("no such city")  # Claude Code may add a hint


def test_a_query_left_early_ends_its_session_with_what_had_arrived(setup: Setup) -> None:
    setup.fake.reply = Reply(text="Paris is sunny.", usage=usage(100, 5))

    async def read_until_the_answer() -> None:
        messages = query(prompt="Weather in Paris?", options=setup.options())
        async for message in messages:
            if isinstance(message, AssistantMessage):
                break
        await messages.aclose()  # type: ignore[attr-defined]

    run(read_until_the_answer())
    (session,) = setup.sessions()
    assert (session["status"], session["assistantOutput"]) == ("completed", "Paris is sunny.")


def test_uninstrument_restores_the_sdk() -> None:
    def wrapped() -> list[bool]:
        methods = [InternalClient.__dict__["process_query"]]
        methods += [ClaudeSDKClient.__dict__[name] for name in ("query", "receive_messages", "disconnect")]
        return [isinstance(method, wrapt.FunctionWrapper) for method in methods]

    instrumentor = ClaudeAgentInstrumentor()
    instrumentor.instrument()
    try:
        assert wrapped() == [True] * 4
    finally:
        instrumentor.uninstrument()
    assert wrapped() == [False] * 4


def test_malformed_messages_never_break_the_run(setup: Setup) -> None:
    conversation = _Conversation(user_id="u2")
    conversation.begin("Weather?")
    conversation.see(SimpleNamespace(content=[object(), SimpleNamespace(tool_use_id=None, content=3)]))
    conversation.see(SimpleNamespace(content="not a list", model=None))
    garbage = {"claude-x": {"inputTokens": "many", "outputTokens": -3, "costUSD": float("nan")}, 7: None}
    conversation.see(
        SimpleNamespace(total_cost_usd="free", is_error=False, model_usage=garbage, usage=[1], result=42)
    )
    conversation.begin("And now?")  # the next prompt still gets its own session
    conversation.see(SimpleNamespace(total_cost_usd=0.5, is_error=True, errors=["boom"], result=None))

    by_input = {s["userInput"]: s for s in setup.sessions()}
    first, second = by_input["Weather?"], by_input["And now?"]
    assert (first["status"], first["estimatedCost"]) == ("completed", 0)
    assert first["events"] == []  # no model with a usable figure, no tool with an id
    assert (second["status"], second["failureReason"], second["estimatedCost"]) == ("failed", "boom", 0.5)


def test_queries_run_side_by_side_each_get_their_own_session(setup: Setup) -> None:
    setup.fake.reply = Reply(text="Sunny.", usage=usage(100, 5))

    async def side_by_side() -> None:
        prompts = [f"Weather in city {n}?" for n in range(3)]
        await asyncio.gather(*(collect(prompt, setup.options()) for prompt in prompts))

    run(side_by_side())
    sessions = setup.sessions()
    assert sorted(s["userInput"] for s in sessions) == [f"Weather in city {n}?" for n in range(3)]
    for session in sessions:
        assert (session["assistantOutput"], session["status"], session["promptTokens"]) == (
            "Sunny.",
            "completed",
            100,
        )
        (llm,) = session["events"]
        assert llm["toolOutput"]["tokens"] == {"prompt": 100, "completion": 5, "total": 105}
