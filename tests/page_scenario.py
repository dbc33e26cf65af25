"""What the page's browser tests (and the README's screenshots) show: the demo's agents, a trip planner
with a tool inside a tool and a sub-session, and a research agent whose tool calls an LLM.

Run as a script against the server in SENTRIAL_API_URL, with the fake OpenAI endpoint in FAKE_OPENAI_URL.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import openai

import sentrial
from sentrial import SentrialClient, tool
from sentrial.demo import run_manual_session, run_support_agent, run_trip_planner

API_KEY = "sentrial_live_page"


def _llm() -> openai.OpenAI:
    return openai.OpenAI(base_url=os.environ["FAKE_OPENAI_URL"], api_key="test-key", max_retries=0)


@tool("summarise_findings")
def summarise(topic: str) -> dict[str, Any]:
    with _llm() as llm:
        answer = llm.chat.completions.create(
            model="gpt-4o-mini",
            temperature=0.2,
            messages=[
                {"role": "system", "content": "You summarise research notes in one sentence."},
                {"role": "user", "content": f"Summarise what we know about {topic}."},
            ],
        )
    return {"summary": answer.choices[0].message.content}


def run_research_agent(question: str) -> None:
    """A session whose tool asks an LLM: the LLM call nests under the tool."""
    with sentrial.begin(user_id="researcher_9", event="research_agent", input=question) as research:
        research.set_output(summarise("tide tables")["summary"])


def main() -> None:
    sentrial.configure(api_key=API_KEY, capture_content=True)
    client = SentrialClient(api_key=API_KEY)
    run_support_agent("user_12345", "How do I reset my password?")
    assert sentrial.flush(timeout=10)
    with contextlib.suppress(LookupError):  # the failing turn of the demo
        run_support_agent("user_777", "Can I pay in seashells?")
    run_manual_session(client)
    run_trip_planner(client, "user_12345", "Plan three nights in Lisbon")
    run_research_agent("When is high tide?")
    assert sentrial.flush(timeout=10) and client.flush(timeout=10)
    client.shutdown()
    sentrial.shutdown(timeout=10)


if __name__ == "__main__":
    main()
