"""An AutoGen team with the published API's handler: tool calls, messages and token usage in a
session the app opened.

Needs ``pip install 'sentrial[autogen]'`` and ``OPENAI_API_KEY``. Sends to ``SENTRIAL_API_URL``
(``sentrial serve`` runs a local server).
"""

import asyncio

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_ext.models.openai import OpenAIChatCompletionClient

from sentrial import SentrialClient
from sentrial.autogen import SentrialAutogenHandler


async def get_weather(city: str) -> str:
    """The weather of a city."""
    return f"Sunny in {city}"


async def main() -> None:
    client = SentrialClient()  # SENTRIAL_API_KEY and SENTRIAL_API_URL
    session_id = client.create_session(name="Weather team", agent_name="weather-team", user_id="user_123")
    handler = SentrialAutogenHandler(client, session_id)
    model = OpenAIChatCompletionClient(model="gpt-4o")
    agent = AssistantAgent("forecaster", model_client=model, tools=[get_weather], reflect_on_tool_use=True)
    team = RoundRobinGroupChat([agent], termination_condition=MaxMessageTermination(2))
    result = await handler.run_team(team, task="What's the weather in Paris?")
    print(result.messages[-1].to_text())
    handler.finish(success=True)
    print(handler.get_usage_summary())
    client.shutdown()


asyncio.run(main())
