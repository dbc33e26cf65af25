"""``sentrial.crewai`` with the real crewai (its OpenAI provider) against the fake OpenAI endpoint,
delivering to the local Sessions API server."""

from __future__ import annotations

from typing import Any

import pytest
from crewai import LLM, Agent, Crew, Task
from crewai.agents.parser import AgentAction
from crewai.tools import tool
from fake_openai import FakeOpenAI, Reply

import sentrial
from sentrial import SentrialClient, pricing
from sentrial.crewai import SentrialCrewHandler, track_crew
from sentrial.server import LocalServer

CALL = ("call_1", "get_weather", '{"city": "Paris"}')


@tool("get_weather")
def get_weather(city: str) -> str:
    """The weather of a city."""
    return f"Sunny in {city}"


def crew(fake: FakeOpenAI, **options: Any) -> Crew:
    llm = LLM(model="gpt-4o", base_url=fake.url, api_key="test-key")
    agent = Agent(
        role="forecaster", goal="tell the weather", backstory="a meteorologist", llm=llm, tools=[get_weather]
    )
    task = Task(description="Weather in {city}?", expected_output="one sentence", agent=agent)
    fake.queued = [
        Reply(text="", tool_calls=[CALL], prompt_tokens=12, completion_tokens=5),
        Reply(text="Sunny in Paris.", prompt_tokens=40, completion_tokens=8),
    ]
    return Crew(agents=[agent], tasks=[task], **options)


def stored(server: LocalServer, client: SentrialClient, session_id: str) -> dict[str, Any]:
    assert client.flush(timeout=5)
    session = server.session(session_id)
    assert session is not None
    return session


@pytest.fixture
def client(local_server: LocalServer) -> Any:
    made = sentrial.configure(api_key="k", api_url=local_server.url)  # instruments openai
    yield made
    sentrial.shutdown(timeout=5)


def test_a_wrapped_crew_records_its_task_steps_model_calls_and_usage(
    local_server: LocalServer, fake: FakeOpenAI, client: SentrialClient
) -> None:
    session_id = client.create_session(name="Forecast", agent_name="forecast-crew", user_id="u1")
    handler = SentrialCrewHandler(client, session_id)
    result = handler.wrap_crew(crew(fake)).kickoff(inputs={"city": "Paris"})
    assert result.raw == "Sunny in Paris."
    assert (handler.step_count, handler.task_count) == (1, 1)
    assert handler.total_tokens == 65
    assert handler.total_cost == pytest.approx(pricing.calculate_cost("openai", "gpt-4o", 52, 13))
    assert handler.get_usage_summary()["task_outputs"] == [
        {"task": "Weather in Paris?", "agent": "forecaster", "output": "Sunny in Paris."}
    ]
    handler.finish(success=True)

    session = stored(local_server, client, session_id)
    assert len(local_server.sessions()) == 1
    names = [e.get("toolName") for e in session["events"]]
    assert names.count("llm:openai:gpt-4o") == 2  # the crew ran in the session
    task = next(e for e in session["events"] if e.get("toolName") == "task_1")
    assert task["toolInput"] == {"description": "Weather in Paris?", "agent": "forecaster"}
    assert (task["toolOutput"], task["reasoning"]) == (
        {"result": "Sunny in Paris."},
        "Task completed by forecaster",
    )
    decisions = [e["reasoning"] for e in session["events"] if e["eventType"] == "llm_decision"]
    assert decisions == ["Agent output: Sunny in Paris."]
    assert (session["userInput"], session["assistantOutput"]) == ('{"city":"Paris"}', "Sunny in Paris.")
    assert (session["promptTokens"], session["completionTokens"]) == (52, 13)
    weather = next(e for e in session["events"] if e.get("toolName") == "get_weather")
    assert (weather["toolInput"], weather["toolOutput"]) == ({"city": "Paris"}, {"output": "Sunny in Paris"})
    assert session["customMetrics"] == {"crewai_steps": 1, "crewai_tasks": 1, "crewai_tool_calls": 1}


def test_a_tool_step_is_a_tool_call_with_the_agents_thought(
    local_server: LocalServer, client: SentrialClient
) -> None:
    # A ReAct-style agent hands its tool use to the step callback (the native tool calling above
    # does not): CrewAI's own AgentAction, as it passes it.
    session_id = client.create_session(name="Steps", agent_name="crew", user_id="u1")
    handler = SentrialCrewHandler(client, session_id)
    step = AgentAction(
        thought="I need the weather", tool="get_weather", tool_input='{"city": "Rome"}', text=""
    )
    step.result = "Sunny in Rome"
    handler.on_step(step)
    handler.add_token_usage(100, 20, model="gpt-4o")
    handler.finish(output="Done.")

    session = stored(local_server, client, session_id)
    (call,) = session["events"]
    assert (call["toolName"], call["toolInput"], call["reasoning"]) == (
        "get_weather",
        {"city": "Rome"},
        "I need the weather",
    )
    assert call["toolOutput"] == {"output": "Sunny in Rome"}
    assert (session["assistantOutput"], session["totalTokens"]) == ("Done.", 120)


def test_track_crew_makes_each_call_a_session(
    local_server: LocalServer, fake: FakeOpenAI, client: SentrialClient
) -> None:
    @track_crew(client, agent_name="forecast-crew", user_id="u2")
    def forecast(city: str) -> Any:
        return crew(fake).kickoff(inputs={"city": city})

    assert forecast("Paris").raw == "Sunny in Paris."

    @track_crew(client)
    def broken(city: str) -> Any:
        raise RuntimeError(f"no crew for {city}")

    with pytest.raises(RuntimeError):
        broken("Rome")
    assert client.flush(timeout=5)
    by_name = {s["name"]: local_server.session(s["id"]) for s in local_server.sessions()}
    good, bad = by_name["forecast-crew: forecast"], by_name["crewai: broken"]
    assert good is not None and bad is not None
    assert (good["userId"], good["status"], good["assistantOutput"]) == ("u2", "completed", "Sunny in Paris.")
    assert [e.get("toolName") for e in good["events"]].count("llm:openai:gpt-4o") == 2
    assert (bad["userId"], bad["status"], bad["failureReason"]) == ("anonymous", "failed", "no crew for Rome")
