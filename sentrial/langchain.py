"""LangChain at the published package's import path.

``SentrialCallbackHandler(client, session_id)`` records the runs it is passed to into a session the
app opened, and ``finish()`` completes that session with the totals of its model calls::

    session_id = client.create_session(name="Weather", agent_name="weather", user_id="u1")
    handler = SentrialCallbackHandler(client, session_id)
    handler.set_input(question)
    agent.invoke({"input": question}, config={"callbacks": [handler]})
    handler.finish(success=True)

``create_agent_with_sentrial(...)`` builds an agent that does all of that per question. Without a
change to the app's code, ``sentrial.configure()`` records every LangChain run anyway (see
:mod:`sentrial.integrations.langchain`); this module is for code written for the published API.

Importing this module imports no LangChain: the handler class is made when it is first asked for,
and needs ``langchain-core`` (``pip install 'sentrial[langchain]'``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentrial.integrations._langchain_session_handler import (
        SentrialCallbackHandler,
    )

__all__ = [
    "LANGCHAIN_MAJOR_VERSION",
    "LANGCHAIN_VERSION",
    "SentrialCallbackHandler",
    "create_agent_with_sentrial",
    "get_agent_executor",
    "get_openai_tools_agent_creator",
    "get_react_agent",
]

_EXTRA = "pip install 'sentrial[langchain]'"


def _installed_major(distribution: str) -> int | None:
    try:
        version = metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None
    major = version.split(".")[0]
    return int(major) if major.isdigit() else 0


def _flavour() -> tuple[str, int]:
    """Which LangChain is installed, as the published package names it, and its major version."""
    core = _installed_major("langchain-core")
    if core is not None:
        return ("core-1.x" if core >= 1 else "core"), core
    legacy = _installed_major("langchain")
    if legacy is not None:
        return "legacy", legacy
    return "unknown", 0


LANGCHAIN_VERSION, LANGCHAIN_MAJOR_VERSION = _flavour()
"""Which LangChain is installed (``"core-1.x"``, ``"core"``, ``"legacy"`` or ``"unknown"``) and
the major version of ``langchain-core`` (else ``langchain``; 0 when neither is installed)."""


def __getattr__(name: str) -> Any:
    """Make the handler class on first use: it subclasses LangChain's callback handler."""
    if name == "SentrialCallbackHandler":
        try:
            module = importlib.import_module("sentrial.integrations._langchain_session_handler")
        except ImportError as error:
            raise ImportError(f"SentrialCallbackHandler needs langchain-core: {_EXTRA}") from error
        handler: type[SentrialCallbackHandler] = module.SentrialCallbackHandler
        globals()[name] = handler
        return handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _first_found(*places: tuple[str, str], hint: str) -> Any:
    """The first of ``(module, attribute)`` that imports; else an ImportError saying ``hint``."""
    for module_name, attribute in places:
        try:
            return getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError):
            continue
    raise ImportError(hint)


def get_agent_executor() -> Any:
    """LangChain's ``AgentExecutor`` class (LangChain before 1.0, or ``langchain-classic``)."""
    return _first_found(
        ("langchain.agents", "AgentExecutor"),
        ("langchain_classic.agents", "AgentExecutor"),
        hint="AgentExecutor is not installed (LangChain 1.0 removed it): use get_react_agent(), or"
        " install 'langchain<1.0' or langchain-classic",
    )


def get_react_agent() -> Any:
    """LangGraph's ``create_react_agent`` (the agent of LangChain 1.x); needs ``langgraph``."""
    return _first_found(
        ("langgraph.prebuilt", "create_react_agent"),
        hint="create_react_agent needs LangGraph: pip install langgraph",
    )


def get_openai_tools_agent_creator() -> Any:
    """LangChain's ``create_openai_tools_agent`` (LangChain before 1.0, or ``langchain-classic``)."""
    return _first_found(
        ("langchain.agents", "create_openai_tools_agent"),
        ("langchain_classic.agents", "create_openai_tools_agent"),
        hint="create_openai_tools_agent is not installed (LangChain 1.0 removed it): use"
        " get_react_agent(), or install 'langchain<1.0' or langchain-classic",
    )


def create_agent_with_sentrial(
    llm: Any,
    tools: list[Any],
    client: Any,
    agent_name: str,
    user_id: str = "anonymous",
    verbose: bool = False,
) -> Callable[[str], str]:
    """An agent of ``llm`` and ``tools`` as a function of a question that returns the answer; each
    call is a session of ``agent_name`` for ``user_id``, completed as failed when the agent raises
    (the exception propagates). Uses LangGraph's ReAct agent where installed, else LangChain's
    ``AgentExecutor`` with an OpenAI-tools agent."""
    from sentrial.integrations._sessions import sync_client

    handler_class = __getattr__("SentrialCallbackHandler")
    invoke = _agent_invoker(llm, tools, verbose)

    def run_agent(query: str) -> str:
        session_id = sync_client(client).create_session(
            name=f"{agent_name}: {query[:50]}", agent_name=agent_name, user_id=user_id
        )
        handler = handler_class(client, session_id, verbose=verbose)
        handler.set_input(query)
        try:
            output = invoke(query, handler)
        except Exception as error:
            handler.finish(success=False, failure_reason=str(error))
            raise
        handler.finish(success=True)
        return output

    return run_agent


def _agent_invoker(llm: Any, tools: list[Any], verbose: bool) -> Callable[[str, Any], str]:
    """How to ask the agent a question with a handler: LangGraph's agent, else an AgentExecutor."""
    try:
        create_react_agent = get_react_agent()
    except ImportError:
        create_react_agent = None
    if create_react_agent is not None:
        graph = create_react_agent(llm, tools)

        def ask_graph(query: str, handler: Any) -> str:
            result = graph.invoke({"messages": [("user", query)]}, config={"callbacks": [handler]})
            messages = result.get("messages") if isinstance(result, dict) else None
            return str(messages[-1].content) if messages else str(result)

        return ask_graph

    try:
        create_agent = get_openai_tools_agent_creator()
        executor_class = get_agent_executor()
    except ImportError as error:
        raise ImportError(
            "create_agent_with_sentrial needs LangGraph (pip install langgraph) or LangChain's"
            " AgentExecutor ('langchain<1.0' or langchain-classic)"
        ) from error
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer the question, calling a tool where one helps."),
            ("human", "{input}"),
            MessagesPlaceholder(variable_name="agent_scratchpad"),
        ]
    )
    executor = executor_class(agent=create_agent(llm, tools, prompt), tools=tools, verbose=verbose)

    def ask_executor(query: str, handler: Any) -> str:
        result = executor.invoke({"input": query}, config={"callbacks": [handler]})
        return str(result.get("output", result)) if isinstance(result, dict) else str(result)

    return ask_executor
