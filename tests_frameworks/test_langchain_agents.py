"""``sentrial.langchain``'s agent helpers with the real LangGraph agent and langchain-openai against
the fake OpenAI endpoint, delivering to the local Sessions API server."""

from __future__ import annotations

import pytest
from fake_openai import FakeOpenAI, Reply
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from sentrial import SentrialClient
from sentrial.langchain import LANGCHAIN_MAJOR_VERSION, create_agent_with_sentrial, get_react_agent
from sentrial.server import LocalServer


@tool
def get_weather(city: str) -> str:
    """The weather of a city."""
    return f"Sunny in {city}"


def test_each_question_to_the_agent_is_a_session(local_server: LocalServer, fake: FakeOpenAI) -> None:
    client = SentrialClient(api_key="k", api_url=local_server.url)
    assert get_react_agent() is not None and LANGCHAIN_MAJOR_VERSION >= 1
    model = ChatOpenAI(model="gpt-4o", base_url=fake.url, api_key="test-key", max_retries=0)
    agent = create_agent_with_sentrial(model, [get_weather], client, "weather-agent", user_id="u4")
    fake.queued = [
        Reply(text="", tool_calls=[("call_1", "get_weather", '{"city": "Paris"}')]),
        Reply(text="Sunny in Paris.", prompt_tokens=40, completion_tokens=8),
    ]
    assert agent("Weather in Paris?") == "Sunny in Paris."
    fake.queued = [Reply(text="No such city.")]
    assert agent("Weather in Atlantis?") == "No such city."
    assert client.flush(timeout=5)

    by_name = {s["name"]: local_server.session(s["id"]) for s in local_server.sessions()}
    session = by_name["weather-agent: Weather in Paris?"]
    assert session is not None
    assert (session["agentName"], session["userId"], session["status"]) == (
        "weather-agent",
        "u4",
        "completed",
    )
    assert (session["userInput"], session["assistantOutput"]) == ("Weather in Paris?", "Sunny in Paris.")
    names = [e.get("toolName") for e in session["events"]]
    assert names == ["llm:openai:gpt-4o", "get_weather", "llm:openai:gpt-4o"]
    assert session["totalTokens"] > 0
    other = by_name["weather-agent: Weather in Atlantis?"]
    assert other is not None and other["assistantOutput"] == "No such city."
    client.shutdown(timeout=5)


def test_the_pre_1_0_helpers_name_what_to_install() -> None:
    from sentrial.langchain import get_agent_executor

    with pytest.raises(ImportError, match="get_react_agent"):
        get_agent_executor()
