"""Track one interaction with the module-level API.

Run against a local server: ``sentrial serve`` in one shell, then
``SENTRIAL_API_URL=http://127.0.0.1:8765 python examples/quickstart.py``.
"""

import sentrial


def answer(question: str) -> str:
    """Stands in for your agent."""
    return f"You asked: {question}"


sentrial.configure(api_key="sentrial_live_xxx")  # or set SENTRIAL_API_KEY

question = "How do I reset my password?"
interaction = sentrial.begin(user_id="user_123", event="chat_message", input=question)
reply = answer(question)
interaction.finish(output=reply, success=True)

sentrial.shutdown()  # sends what is still queued before the process ends
