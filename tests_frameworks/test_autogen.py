"""``sentrial.autogen`` with the real autogen-agentchat and autogen-ext's OpenAI client against the
fake OpenAI endpoint, delivering to the local Sessions API server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_ext.models.openai import OpenAIChatCompletionClient
from fake_openai import FakeOpenAI, Reply

import sentrial
from sentrial import SentrialClient, pricing
from sentrial.autogen import SentrialAutogenHandler
from sentrial.server import LocalServer

CALL = ("call_1", "get_weather", '{"city": "Paris"}')


async def get_weather(city: str) -> str:
    """The weather of a city."""
    if city == "Atlantis":
        raise ValueError("no such city")
    return f"Sunny in {city}"


def team(fake: FakeOpenAI) -> RoundRobinGroupChat:
    model = OpenAIChatCompletionClient(model="gpt-4o", base_url=fake.url, api_key="test-key")
    agent = AssistantAgent("forecaster", model_client=model, tools=[get_weather], reflect_on_tool_use=True)
    return RoundRobinGroupChat([agent], termination_condition=MaxMessageTermination(2))


def weather_replies(call: tuple[str, str, str] = CALL) -> list[Reply]:
    return [
        Reply(text="", tool_calls=[call], prompt_tokens=12, completion_tokens=5),
        Reply(text="Sunny.", prompt_tokens=40, completion_tokens=8),
    ]


def opened(server: LocalServer) -> tuple[SentrialClient, str, SentrialAutogenHandler]:
    """A client of the server, a session it opened, and a handler of that session."""
    client = SentrialClient(api_key="k", api_url=server.url)
    session_id = client.create_session(name="Weather team", agent_name="autogen-team", user_id="u1")
    return client, session_id, SentrialAutogenHandler(client, session_id)


def stored(server: LocalServer, client: SentrialClient, session_id: str) -> dict[str, Any]:
    assert client.flush(timeout=5)
    session = server.session(session_id)
    assert session is not None
    return session


@pytest.mark.filterwarnings("ignore:Resolved model mismatch")
def test_a_team_run_records_its_tool_calls_messages_and_usage(
    local_server: LocalServer, fake: FakeOpenAI
) -> None:
    client, session_id, handler = opened(local_server)
    fake.queued = weather_replies()
    result = asyncio.run(handler.run_team(team(fake), task="Weather in Paris?"))
    assert result.messages[-1].content == "Sunny."
    summary = handler.get_usage_summary()
    assert (summary["messages"], summary["tool_calls"], summary["total_tokens"]) == (2, 1, 65)
    assert summary["model"] == "gpt-4o"
    expected_cost = pricing.calculate_cost("openai", "gpt-4o", 52, 13)
    assert handler.total_cost == pytest.approx(expected_cost)
    handler.finish(success=True, custom_metrics={"rating": 5})

    session = stored(local_server, client, session_id)
    weather = next(e for e in session["events"] if e.get("toolName") == "get_weather")
    assert (weather["toolName"], weather["toolInput"], weather["toolOutput"]) == (
        "get_weather",
        {"city": "Paris"},
        {"result": "Sunny in Paris"},
    )
    decisions = [e["reasoning"] for e in session["events"] if e["eventType"] == "llm_decision"]
    assert decisions == ["[user] Weather in Paris?", "[forecaster] Sunny."]
    assert (session["userInput"], session["assistantOutput"], session["status"]) == (
        "Weather in Paris?",
        "Sunny.",
        "completed",
    )
    assert (session["promptTokens"], session["completionTokens"]) == (52, 13)
    assert session["customMetrics"] == {
        "rating": 5,
        "autogen_messages": 2,
        "autogen_tool_calls": 1,
    }
    client.shutdown(timeout=5)


@pytest.mark.filterwarnings("ignore:Resolved model mismatch")
def test_with_configure_the_teams_model_calls_are_llm_calls_of_the_session(
    local_server: LocalServer, fake: FakeOpenAI
) -> None:
    client = sentrial.configure(api_key="k", api_url=local_server.url)  # instruments openai
    try:
        session_id = client.create_session(name="Weather team", agent_name="autogen-team", user_id="u1")
        handler = SentrialAutogenHandler(client, session_id)
        fake.queued = weather_replies(("call_2", "get_weather", '{"city": "Atlantis"}'))
        asyncio.run(handler.run_team(team(fake), task="Weather in Atlantis?"))
        handler.finish()
        session = stored(local_server, client, session_id)
        assert len(local_server.sessions()) == 1
        # AutoGen's own agent spans do not hide the openai library's calls (LLM calls show as tool
        # calls named llm:<provider>:<model> on the wire).
        names = [e.get("toolName") for e in session["events"]]
        assert names.count("llm:openai:gpt-4o") == 2
        (weather,) = [e for e in session["events"] if e.get("toolName") == "get_weather"]
        assert weather["toolError"]["message"].startswith("no such city")
    finally:
        sentrial.shutdown(timeout=5)


def test_a_team_whose_model_fails_raises_and_its_session_completes_as_failed(
    local_server: LocalServer, fake: FakeOpenAI
) -> None:
    client, session_id, handler = opened(local_server)
    fake.reply = Reply(status=500)
    model = OpenAIChatCompletionClient(model="gpt-4o", base_url=fake.url, api_key="test-key", max_retries=0)
    agent = AssistantAgent("forecaster", model_client=model, tools=[get_weather])
    failing = RoundRobinGroupChat([agent], termination_condition=MaxMessageTermination(2))
    with pytest.raises(Exception) as raised:
        asyncio.run(handler.run_team(failing, task="Weather in Paris?"))
    assert handler.finish(success=False, failure_reason=str(raised.value))["status"] == "failed"
    session = stored(local_server, client, session_id)
    assert (session["status"], session["userInput"]) == ("failed", "Weather in Paris?")
    assert session["durationMs"] >= 0
    client.shutdown(timeout=5)
