"""An agent to run experiments on (``sentrial experiment run EXPERIMENT_ID --agent FILE``).

It asks OpenAI (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``) with the system prompt that
``get_system_prompt`` gives: the variant's during an experiment run, its own default otherwise.
Run alone (``python examples/experiment_agent.py "a question"``) it uses the default prompt.
"""

from __future__ import annotations

import sys

import openai

import sentrial
from sentrial import get_system_prompt, session

DEFAULT_PROMPT = "You are a helpful support agent. Answer briefly."

llm = sentrial.wrap_openai(openai.OpenAI())


@session("support-agent")
def answer(question: str) -> str:
    """Answer one user question; the session (and the LLM call inside it) is recorded by Sentrial."""
    reply = llm.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": get_system_prompt(DEFAULT_PROMPT)},
            {"role": "user", "content": question},
        ],
    )
    return reply.choices[0].message.content or ""


if __name__ == "__main__":
    print(answer(" ".join(sys.argv[1:]) or "How do I reset my password?"))
    sentrial.shutdown()
