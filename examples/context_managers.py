"""Interactions as context managers: finished on exit, failed when an exception leaves the block."""

import asyncio

from sentrial import AsyncSentrialClient, SentrialClient


class Agent:
    """Stands in for your agent."""

    def run(self, text: str) -> str:
        return f"echo: {text}"

    async def arun(self, text: str) -> str:
        await asyncio.sleep(0)
        return f"async echo: {text}"


agent = Agent()
client = SentrialClient(api_key="sentrial_live_xxx")

with client.begin(user_id="user_123", event="chat", input="Hello") as interaction:
    interaction.set_output(agent.run("Hello"))


async def main() -> None:
    async_client = AsyncSentrialClient(api_key="sentrial_live_xxx")
    async with async_client.begin(user_id="user_123", event="chat", input="Hello again") as interaction:
        interaction.set_output(await agent.arun("Hello again"))
    await async_client.shutdown()


asyncio.run(main())
client.shutdown()
