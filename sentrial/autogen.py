"""AutoGen (``autogen-agentchat`` 0.4 and later) at the published package's import path.

``SentrialAutogenHandler(client, session_id)`` runs a team into a session the app opened::

    session_id = client.create_session(name="Research", agent_name="research-team", user_id="u1")
    handler = SentrialAutogenHandler(client, session_id)
    result = await handler.run_team(team, task="Summarise the report")
    handler.finish(success=True)

Each tool call the team's agents make is a tool call of the session (from its request to its
result, failed when the tool failed); each chat message a decision ``"[source] text"``; the
messages' model usage the session's tokens and cost. The team runs in the session's context, so
the model calls are LLM calls of the session where the model library is instrumented
(``sentrial.configure()``).

Importing this module imports no AutoGen (``pip install 'sentrial[autogen]'``).
"""

from __future__ import annotations

import json
import logging
import time
from importlib import metadata
from typing import Any

from sentrial._guard import guard, public_call
from sentrial._tool_runs import ToolRun
from sentrial.integrations._sessions import SessionHandler, entered, step_in

__all__ = ["AUTOGEN_VERSION", "SentrialAutogenHandler"]

logger = logging.getLogger("sentrial")


def _autogen_flavour() -> str:
    try:
        metadata.version("autogen-agentchat")
        return "agentchat"
    except metadata.PackageNotFoundError:
        pass
    try:  # pyautogen before 0.4 (later releases install autogen-agentchat)
        parts = metadata.version("pyautogen").split(".")
    except metadata.PackageNotFoundError:
        return "none"
    numbers = [int(part) if part.isdigit() else 0 for part in parts[:2]]
    return "legacy" if numbers < [0, 4] else "none"


AUTOGEN_VERSION: str = _autogen_flavour()
"""Which AutoGen is installed: ``"agentchat"`` (autogen-agentchat), ``"legacy"`` (pyautogen) or ``"none"``."""

_NO_RESULT = "no result before the run ended"


class SentrialAutogenHandler(SessionHandler):
    """Records AutoGen team runs into the session ``session_id`` of ``client`` (a
    :class:`~sentrial.SentrialClient` or an ``AsyncSentrialClient``); see the module."""

    def __init__(self, client: Any, session_id: str, verbose: bool = False) -> None:
        super().__init__(client, session_id, verbose)
        self.message_count = 0
        self.tool_calls = 0

    async def run_team(self, team: Any, task: str, **kwargs: Any) -> Any:
        """Run ``team`` on ``task`` (``team.run_stream(task=task, **kwargs)``), recording it; returns
        the team's ``TaskResult``. The task is the session's input, the last message its output."""
        if AUTOGEN_VERSION != "agentchat":
            raise ImportError(
                "run_team() needs autogen-agentchat 0.4 or later: pip install 'sentrial[autogen]'"
            )
        self.start_time = time.time()
        self.user_input = task
        models = _models_by_agent(team)
        tools: dict[str, ToolRun] = {}
        result = None
        try:
            stream = team.run_stream(task=task, **kwargs)
            async for event in step_in(stream, lambda: entered(self.session_context())):
                if hasattr(event, "stop_reason") and hasattr(event, "messages"):  # the TaskResult
                    result = event
                else:
                    with guard("autogen-event", "could not record an AutoGen event"):
                        self._see(event, models, tools)
        except BaseException as error:
            for run in tools.values():
                run.fail(error)
            tools.clear()
            raise
        finally:
            for run in tools.values():
                run.fail(_NO_RESULT)
            self.end_time = time.time()
        messages = getattr(result, "messages", None)
        if messages:
            self.assistant_output = _text(messages[-1])
        return result

    def _see(self, event: Any, models: dict[str, str], tools: dict[str, ToolRun]) -> None:
        """Record one message or event of a team's stream."""
        kind = type(event).__name__
        source = str(getattr(event, "source", "unknown"))
        usage = getattr(event, "models_usage", None)
        if usage is not None:
            prompt, completion = getattr(usage, "prompt_tokens", 0), getattr(usage, "completion_tokens", 0)
            self._add_usage(int(prompt or 0), int(completion or 0), models.get(source))
        if kind == "ToolCallRequestEvent":
            for call in getattr(event, "content", None) or []:
                self.tool_calls += 1
                arguments = _arguments(getattr(call, "arguments", None))
                run = ToolRun(str(call.name), arguments, self._session_client, self.session_context())
                tools[str(call.id)] = run
        elif kind == "ToolCallExecutionEvent":
            for outcome in getattr(event, "content", None) or []:
                started = tools.pop(str(getattr(outcome, "call_id", "")), None)
                if started is None:
                    continue
                content = getattr(outcome, "content", None)
                if getattr(outcome, "is_error", False):
                    started.fail(str(content))
                else:
                    started.succeed(content)
        elif hasattr(event, "to_text") and not kind.endswith("Event"):  # a chat message
            self.message_count += 1
            self._log("message from %s", source)
            self._decision(f"[{source}] {_text(event)}")

    def register_agents(self, agents: list[Any]) -> None:
        """The legacy pyautogen API's way to follow agents: not supported (see docs/migrating.md);
        logged. Teams of autogen-agentchat are recorded by :meth:`run_team`."""
        self._log("register_agents() is for the legacy pyautogen API: use run_team()")
        if AUTOGEN_VERSION == "legacy":
            logger.warning(
                "sentrial: register_agents() of legacy pyautogen agents records nothing; run an "
                "autogen-agentchat team with run_team() instead"
            )

    # The published signature, as the LangChain handler's (sentrial.langchain).
    @public_call(fallback=lambda self: {})
    def finish(
        self,
        success: bool = True,
        failure_reason: str | None = None,
        custom_metrics: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Complete the session with the outcome, the totals, the input and the output, and the
        counts of messages and tool calls among ``custom_metrics``; returns what was recorded."""
        metrics = {
            **(custom_metrics or {}),
            "autogen_messages": self.message_count,
            "autogen_tool_calls": self.tool_calls,
        }
        return self._complete(success, failure_reason, metrics)

    @public_call(fallback=lambda self: {})
    def get_usage_summary(self) -> dict[str, Any]:
        """Messages, tool calls, tokens, cost, model and duration so far."""
        return {
            "messages": self.message_count,
            "tool_calls": self.tool_calls,
            **self._usage_totals(),
            "autogen_version": AUTOGEN_VERSION,
        }


def _text(message: Any) -> str:
    to_text = getattr(message, "to_text", None)
    return str(to_text()) if callable(to_text) else str(getattr(message, "content", message))


def _arguments(arguments: Any) -> Any:
    """A tool call's arguments: its JSON text as a dict, else as it came."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return {"raw": arguments}
    return arguments


def _models_by_agent(team: Any) -> dict[str, str]:
    """The model of each of the team's agents, by agent name, read from the team's declarative
    config (``dump_component()``): what prices the tokens of the agent's messages."""
    models: dict[str, str] = {}
    with guard("autogen-models", "could not read the models of an AutoGen team"):
        participants = team.dump_component().config.get("participants") or []
        for participant in participants:
            config = participant.config if hasattr(participant, "config") else participant.get("config", {})
            client = config.get("model_client") or {}
            client_config = client.get("config") if isinstance(client, dict) else client.config
            model = client_config.get("model") if isinstance(client_config, dict) else None
            if config.get("name") and model:
                models[str(config["name"])] = str(model)
    return models
