"""LangChain with the published API's handler: a session opened by the app, the handler passed to
the runs, ``finish()`` with the totals.

Needs ``pip install 'sentrial[langchain]' langchain-openai`` and ``OPENAI_API_KEY``. Sends to
``SENTRIAL_API_URL`` (``sentrial serve`` runs a local server).
"""

from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from sentrial import SentrialClient
from sentrial.langchain import SentrialCallbackHandler


@tool
def get_weather(city: str) -> str:
    """The weather of a city."""
    return f"Sunny in {city}"


client = SentrialClient()  # SENTRIAL_API_KEY and SENTRIAL_API_URL
question = "What's the weather in Paris?"
session_id = client.create_session(name="Weather question", agent_name="weather-agent", user_id="user_123")
handler = SentrialCallbackHandler(client, session_id)
handler.set_input(question)

model = ChatOpenAI(model="gpt-4o-mini").bind_tools([get_weather])
messages = [HumanMessage(question)]
answer = model.invoke(messages, config={"callbacks": [handler]})
messages.append(answer)
for call in answer.tool_calls:
    messages.append(get_weather.invoke(call, config={"callbacks": [handler]}))
final = model.invoke(messages, config={"callbacks": [handler]})
print(final.content)

handler.finish(success=True)
print(f"{handler.total_tokens} tokens, ${handler.total_cost:.6f}")
client.shutdown()
