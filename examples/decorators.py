"""``@tool`` and ``@session``: sessions and tool calls tracked by decoration, sync and async."""

import asyncio

import sentrial
from sentrial import configure, session, tool

configure(api_key="sentrial_live_xxx")

ARTICLES = {"password": ["KB-001 Reset your password", "KB-002 Account recovery"]}


@tool("search_kb")
def search_knowledge_base(query: str) -> dict:
    """Its inputs, output, errors and duration are tracked."""
    hits = [title for word, titles in ARTICLES.items() if word in query for title in titles]
    return {"results": hits}


def format_response(results: dict) -> str:
    return "; ".join(results["results"]) or "Nothing found."


@session("support-agent")
def handle_request(user_id: str, message: str) -> str:
    """Opens a session per call (user and input from the arguments); the tool calls join it."""
    return format_response(search_knowledge_base(message))


@tool
async def async_search(message: str) -> str:
    await asyncio.sleep(0)
    return f"found something about {message}"


@session("async-agent")
async def handle_async(user_id: str, message: str) -> str:
    return await async_search(message)


print(handle_request("user_123", "I lost my password"))
print(asyncio.run(handle_async("user_456", "billing")))

sentrial.shutdown()
