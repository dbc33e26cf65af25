"""A CrewAI crew with the published API's handler: the crew's task, steps and token usage in a
session the app opened.

Needs ``pip install 'sentrial[crewai]'`` and ``OPENAI_API_KEY``. Sends to ``SENTRIAL_API_URL``
(``sentrial serve`` runs a local server).
"""

from crewai import LLM, Agent, Crew, Task

from sentrial import SentrialClient
from sentrial.crewai import SentrialCrewHandler

client = SentrialClient()  # SENTRIAL_API_KEY and SENTRIAL_API_URL
session_id = client.create_session(name="Forecast", agent_name="forecast-crew", user_id="user_123")
handler = SentrialCrewHandler(client, session_id)

forecaster = Agent(
    role="forecaster", goal="tell the weather", backstory="a meteorologist", llm=LLM(model="gpt-4o")
)
task = Task(description="Describe the weather in {city}.", expected_output="one sentence", agent=forecaster)
crew = handler.wrap_crew(Crew(agents=[forecaster], tasks=[task]))

result = crew.kickoff(inputs={"city": "Paris"})
print(result.raw)
handler.finish(success=True)
print(handler.get_usage_summary()["total_tokens"], "tokens")
client.shutdown()
