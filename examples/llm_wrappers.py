"""Every call of a wrapped LLM client is tracked with its tokens, cost and latency.

Needs the ``openai`` package; the client reads OPENAI_API_KEY and OPENAI_BASE_URL as usual.
"""

from openai import OpenAI

import sentrial
from sentrial import configure, wrap_openai

configure(api_key="sentrial_live_xxx")

client = wrap_openai(OpenAI())

user_query = "What is the capital of France?"
interaction = sentrial.begin(user_id="user_123", event="chat", input=user_query)
response = client.chat.completions.create(
    model="gpt-4o",
    messages=[{"role": "user", "content": user_query}],
)
interaction.finish(output=response.choices[0].message.content)

sentrial.shutdown()
