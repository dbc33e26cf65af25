"""The published LangChain handler, ``sentrial.langchain.SentrialCallbackHandler``, used the
published way: the app opens a session, passes the handler to a LangChain run (a chat model from
langchain-openai against the fake OpenAI endpoint, and a tool), then calls ``finish()``."""

from __future__ import annotations

import os
from collections.abc import Callable

from sentrial import SentrialClient

API_URL = os.environ["SENTRIAL_API_URL"]
API_KEY = os.environ.get("SENTRIAL_API_KEY", "sentrial_live_wire")


def langchain_handler() -> None:
    """A model call, a tool call and a second model call in one run, then finish()."""
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    from sentrial.langchain import SentrialCallbackHandler

    @tool
    def get_weather(city: str) -> str:
        """The weather of a city."""
        return f"Sunny in {city}"

    client = SentrialClient(API_URL, API_KEY)
    session_id = client.create_session(name="w-langchain", agent_name="w-langchain", user_id="user-12")
    handler = SentrialCallbackHandler(client, session_id)
    config = {"callbacks": [handler]}
    model = ChatOpenAI(model="gpt-4o", base_url=os.environ["FAKE_OPENAI_URL"], api_key="k", max_retries=0)
    question = HumanMessage("Weather in Paris?")
    first = model.invoke([question], config=config)
    weather = get_weather.invoke({"city": "Paris"}, config=config)
    model.invoke([question, first, ToolMessage(weather, tool_call_id="call_1")], config=config)
    handler.finish(success=True, custom_metrics={"quality": 4})
    client.close()


SECTIONS: list[Callable[[], None]] = [langchain_handler]
