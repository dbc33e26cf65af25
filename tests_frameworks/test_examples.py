"""The AutoGen and CrewAI examples in examples/ run as scripts against the local Sessions API
server, their model calls going to the fake OpenAI endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply
from helpers import run_script

from sentrial.server import LocalServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, server: LocalServer, fake: FakeOpenAI) -> str:
    env = {
        "SENTRIAL_API_KEY": "k",
        "SENTRIAL_API_URL": server.url,
        "OPENAI_BASE_URL": fake.url,
        "OPENAI_API_KEY": "test-key",
    }
    return run_script(EXAMPLES / name, env)


def only_session(server: LocalServer) -> dict[str, Any]:
    (listed,) = server.sessions()
    session = server.session(listed["id"])
    assert session is not None
    return session


@pytest.mark.parametrize(
    ("example", "agent"),
    [("integration_autogen.py", "weather-team"), ("integration_crewai.py", "forecast-crew")],
)
def test_the_example(example: str, agent: str, local_server: LocalServer, fake: FakeOpenAI) -> None:
    if example == "integration_autogen.py":  # its agent has a tool; the crew's has none
        fake.queued = [Reply(text="", tool_calls=[("call_1", "get_weather", '{"city": "Paris"}')])]
    fake.reply = Reply(text="Sunny in Paris.", prompt_tokens=40, completion_tokens=8)
    assert "Sunny in Paris." in run_example(example, local_server, fake)
    session = only_session(local_server)
    assert (session["agentName"], session["status"], session["assistantOutput"]) == (
        agent,
        "completed",
        "Sunny in Paris.",
    )
    assert session["totalTokens"] > 0
