"""``sentrial.claude_code``, the published API's Claude Code wrappers, with the real claude-agent-sdk
and the Claude Code CLI it bundles, talking to the fake Anthropic API, delivering to the local
Sessions API server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from claude_agent_sdk import ClaudeSDKClient, ResultMessage, query
from claude_agent_sdk._errors import ResultError
from fake_anthropic import FakeAnthropic
from test_integration_claude_agent import MODEL, TOOL, cost_of, result_of, run, weather_turn
from test_integration_claude_agent import Setup as InstrumentedSetup

import sentrial
from sentrial import AsyncSentrialClient, SentrialClient
from sentrial.claude_code import wrap_claude_agent, wrap_claude_client
from sentrial.server import LocalServer


class Setup:
    def __init__(self, server: LocalServer, fake: FakeAnthropic, home: Path) -> None:
        self.server = server
        self.fake = fake
        self.home = home
        self.client = SentrialClient(api_key="k", api_url=server.url)

    options = InstrumentedSetup.options  # the same CLI settings (it reads .fake and .home only)

    def sessions(self) -> list[dict[str, Any]]:
        assert self.client.flush(timeout=10)
        found = [self.server.session(listed["id"]) for listed in self.server.sessions()]
        return [s for s in found if s is not None]


@pytest.fixture
def setup(local_server: LocalServer, tmp_path: Path) -> Iterator[Setup]:
    fake = FakeAnthropic().start()
    made = Setup(local_server, fake, tmp_path)
    try:
        yield made
    finally:
        made.client.shutdown(timeout=5)
        fake.stop()


def test_a_wrapped_query_is_a_session_with_the_runs_name_metadata_and_result(setup: Setup) -> None:
    setup.fake.queued = weather_turn("Paris", "Paris is sunny, 22C.", "a")
    tracked = wrap_claude_agent(
        query,
        client=setup.client,
        default_agent="weather-agent",
        user_id="user_3",
        convo_id="convo_1",
        extra_metadata={"team": "support"},
    )

    async def collect() -> list[Any]:
        return [m async for m in tracked(prompt="Weather in Paris?", options=setup.options())]

    result = result_of(run(collect()))
    (session,) = setup.sessions()
    assert session["name"] == "weather-agent: Weather in Paris?"
    assert (session["agentName"], session["userId"], session["convoId"]) == (
        "weather-agent",
        "user_3",
        "convo_1",
    )
    metadata = session["metadata"]
    assert (metadata["model"], metadata["cwd"], metadata["team"]) == (MODEL, str(setup.home), "support")
    assert TOOL in metadata["tools"] and metadata["sdk_session_id"] == result.session_id
    assert metadata["mcp_servers"][0]["name"] == "weather"
    assert (session["status"], session["userInput"], session["assistantOutput"]) == (
        "completed",
        "Weather in Paris?",
        "Paris is sunny, 22C.",
    )
    assert session["customMetrics"] == {
        "num_turns": result.num_turns,
        "duration_api_ms": result.duration_api_ms,
    }
    assert session["durationMs"] == result.duration_ms
    assert session["estimatedCost"] == pytest.approx(cost_of(result))
    assert (session["promptTokens"], session["completionTokens"]) == (250, 30)
    weather, llm = session["events"]
    assert (weather["toolName"], weather["toolInput"]) == (TOOL, {"city": "Paris"})
    assert llm["toolName"] == f"llm:anthropic:{MODEL}"


def test_with_configure_on_too_a_wrapped_run_is_recorded_once(setup: Setup) -> None:
    sentrial.configure(api_key="k", api_url=setup.server.url)  # instruments the SDK as well
    try:
        setup.fake.queued = weather_turn("Paris", "Paris is sunny, 22C.", "a")
        tracked = wrap_claude_agent(query, client=setup.client)

        async def collect() -> None:
            async for _ in tracked(prompt="Weather in Paris?", options=setup.options()):
                pass

        run(collect())
        assert sentrial.flush(timeout=10)
        (session,) = setup.sessions()
        assert (session["agentName"], len(session["events"])) == ("claude-agent", 2)
    finally:
        sentrial.shutdown(timeout=5)


def test_each_prompt_of_a_wrapped_client_is_a_session_of_the_async_client(setup: Setup) -> None:
    setup.fake.queued = [
        *weather_turn("Paris", "Paris is sunny, 22C.", "a"),
        *weather_turn("Rome", "Rome is sunny too.", "b"),
    ]
    async_client = AsyncSentrialClient(api_key="k", api_url=setup.server.url)

    async def converse() -> list[ResultMessage]:
        results = []
        raw = ClaudeSDKClient(options=setup.options())
        async with wrap_claude_client(
            raw, sentrial_client=async_client, user_id="u5", convo_id="c9"
        ) as client:
            await client.query("Weather in Paris?")
            results.append(result_of([m async for m in client.receive_response()]))
            # A prompt may name its own user and metadata (not passed on to the SDK).
            await client.query("And in Rome?", user_id="u6", metadata={"topic": "rome"})
            results.append(result_of([m async for m in client.receive_response()]))
        return results

    first_result, second_result = run(converse())
    assert async_client.sync_client.flush(timeout=10)
    by_input = {s["userInput"]: s for s in setup.sessions()}
    first, second = by_input["Weather in Paris?"], by_input["And in Rome?"]
    for number, session in enumerate((first, second), start=1):
        assert (session["convoId"], session["status"]) == ("c9", "completed")
        assert (session["metadata"]["client_mode"], session["metadata"]["turn"]) == (
            "ClaudeSDKClient",
            number,
        )
    assert (first["userId"], second["userId"], second["metadata"]["topic"]) == ("u5", "u6", "rome")
    assert "topic" not in first["metadata"]
    assert second["name"] == "claude-agent: And in Rome?"
    # Claude Code sums the cost over the conversation: each session gets its prompt's share.
    assert second["estimatedCost"] == pytest.approx(cost_of(second_result) - cost_of(first_result))


def test_a_run_that_fails_completes_its_session_as_failed(setup: Setup) -> None:
    setup.fake.queued = weather_turn("Atlantis", "unused", "a")
    tracked = wrap_claude_agent(query, client=setup.client)

    async def until_the_error() -> None:
        with pytest.raises(ResultError):
            options = setup.options(max_turns=1)
            async for _ in tracked(prompt="Weather in Atlantis?", options=options, convo_id="c-77"):
                pass

    run(until_the_error())
    (session,) = setup.sessions()
    assert (session["status"], session["convoId"]) == ("failed", "c-77")
    assert session["events"][0]["toolName"] == TOOL


def test_a_run_that_cannot_start_is_a_failed_session_not_a_lost_one(setup: Setup, tmp_path: Path) -> None:
    tracked = wrap_claude_agent(query, client=setup.client, default_agent="broken")
    missing_cli = str(tmp_path / "no-such-claude")

    async def start() -> None:
        async for _ in tracked(prompt="Hi", options=setup.options(cli_path=missing_cli)):
            pass

    with pytest.raises(Exception, match=r"not found|No such file"):
        run(start())
    (session,) = setup.sessions()
    assert (session["name"], session["status"]) == ("broken: Hi", "failed")
    assert "NotFound" in session["failureReason"] or "not found" in session["failureReason"]


def test_importing_the_module_imports_no_sdk() -> None:
    code = "import sys, sentrial.claude_code; print('claude_agent_sdk' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
