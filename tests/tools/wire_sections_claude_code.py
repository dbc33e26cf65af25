"""The published Claude Code wrappers, ``sentrial.claude_code.wrap_claude_agent`` and
``wrap_claude_client``, driving the real claude-agent-sdk and the Claude Code CLI it bundles against
a fake Anthropic API of the section's own (it queues a tool-call turn), each turn a session. The
published wrappers await the Sentrial client's calls, so they are given an ``AsyncSentrialClient``.

The CLI runs with its home and working folder in a folder of the current one (the run's scratch
folder), so that it reads no user settings and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sentrial import AsyncSentrialClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: the fake Anthropic API

from fake_anthropic import FakeAnthropic, Reply, ToolCall

API_URL = os.environ["SENTRIAL_API_URL"]
API_KEY = os.environ.get("SENTRIAL_API_KEY", "sentrial_live_wire")
MODEL = "claude-haiku-4-5"
TOOL = "mcp__weather__get_weather"


def weather_turn(city: str, answer: str, message: str) -> list[Reply]:
    """The model asks for the weather of ``city``, then answers ``answer``."""
    ask = ToolCall(id=f"toolu_{message}", name=TOOL, input={"city": city})
    return [
        Reply(
            text="Let me check.",
            tool_call=ask,
            message_id=f"msg_{message}_1",
            usage={"input_tokens": 100, "output_tokens": 20},
        ),
        Reply(text=answer, message_id=f"msg_{message}_2", usage={"input_tokens": 150, "output_tokens": 10}),
    ]


def options(fake: FakeAnthropic, home: Path) -> Any:
    """The CLI's settings: the fake API, a weather tool of an in-process MCP server."""
    from claude_agent_sdk import ClaudeAgentOptions, create_sdk_mcp_server, tool

    @tool("get_weather", "The weather of a city", {"city": str})
    async def get_weather(args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": f"{args['city']}: sunny, 22C"}]}

    env = {
        "ANTHROPIC_BASE_URL": fake.url,
        "ANTHROPIC_API_KEY": "test-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "HOME": str(home),
    }
    return ClaudeAgentOptions(
        env=env,
        cwd=str(home),
        model=MODEL,
        max_turns=4,
        mcp_servers={"weather": create_sdk_mcp_server("weather", tools=[get_weather])},
        allowed_tools=[TOOL],
    )


def claude_code() -> None:
    """A wrapped query() with every argument, then two prompts of a wrapped ClaudeSDKClient."""
    from claude_agent_sdk import ClaudeSDKClient, query

    from sentrial.claude_code import wrap_claude_agent, wrap_claude_client

    home = Path.cwd() / "claude-home"
    home.mkdir(exist_ok=True)
    fake = FakeAnthropic().start()
    client = AsyncSentrialClient(API_URL, API_KEY)
    tracked = wrap_claude_agent(
        query,
        client=client,
        default_agent="w-claude-query",
        user_id="user-13",
        convo_id="convo-13",
        extra_metadata={"team": "support"},
    )

    async def main() -> None:
        fake.queued = weather_turn("Paris", "Paris is sunny, 22C.", "a")
        async for _ in tracked(prompt="Weather in Paris?", options=options(fake, home)):
            pass
        fake.queued = [*weather_turn("Rome", "Rome is sunny.", "b"), *weather_turn("Oslo", "Oslo too.", "c")]
        async with wrap_claude_client(
            ClaudeSDKClient(options(fake, home)),
            sentrial_client=client,
            default_agent="w-claude-client",
            user_id="user-13",
            convo_id="convo-14",
        ) as conversation:
            await conversation.query("Weather in Rome?")
            async for _ in conversation.receive_response():
                pass
            await conversation.query("Weather in Oslo?")
            async for _ in conversation.receive_response():
                pass
        await client.close()

    try:
        asyncio.run(asyncio.wait_for(main(), 90))
    finally:
        fake.stop()


SECTIONS: list[Callable[[], None]] = [claude_code]
