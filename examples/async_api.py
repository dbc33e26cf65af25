"""The asyncio API: begin_async on the default client, and AsyncSentrialClient."""

import asyncio

import sentrial
from sentrial import AsyncSentrialClient


async def agent_run(text: str) -> str:
    """Stands in for your agent."""
    await asyncio.sleep(0)
    return f"answer to {text!r}"


async def main() -> None:
    sentrial.configure(api_key="sentrial_live_xxx")
    user_input = "User's question"
    interaction = await sentrial.begin_async(user_id="user_123", event="chat_message", input=user_input)
    await interaction.finish(output=await agent_run(user_input))

    client = AsyncSentrialClient(api_key="sentrial_live_xxx")
    session_id = await client.create_session(name="Async session", agent_name="my-agent", user_id="user_123")
    await client.track_tool_call(
        session_id=session_id,
        tool_name="search",
        tool_input={"query": "test"},
        tool_output={"results": []},
    )
    await client.complete_session(session_id=session_id, success=True)
    await client.shutdown()


asyncio.run(main())
sentrial.shutdown()
