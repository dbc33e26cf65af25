"""The Claude Agent SDK with the published API's wrapper: each run is a session named after its
prompt, with its tool calls, model usage, cost and turns.

Needs ``pip install 'sentrial[claude-agent]'`` and ``ANTHROPIC_API_KEY``. Sends to
``SENTRIAL_API_URL`` (``sentrial serve`` runs a local server).
"""

import asyncio

from claude_agent_sdk import ClaudeAgentOptions, query

from sentrial import AsyncSentrialClient
from sentrial.claude_code import wrap_claude_agent

client = AsyncSentrialClient()  # SENTRIAL_API_KEY and SENTRIAL_API_URL
tracked_query = wrap_claude_agent(
    query, client=client, default_agent="repo-helper", user_id="user_123", extra_metadata={"team": "docs"}
)


async def main() -> None:
    options = ClaudeAgentOptions(max_turns=2)
    async for message in tracked_query(prompt="Say hello in five words.", options=options):
        if type(message).__name__ == "ResultMessage":
            print(message.result)
    await client.shutdown()


asyncio.run(main())
