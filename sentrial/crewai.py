"""CrewAI at the published package's import path.

``SentrialCrewHandler(client, session_id)`` records a crew into a session the app opened: pass its
``on_step`` and ``on_task_complete`` as the crew's ``step_callback`` and ``task_callback``, or let
``wrap_crew(crew)`` do that and follow ``kickoff()``; ``finish()`` completes the session.
``@track_crew(client)`` makes each call of a function that runs a crew a session of its own.

A crew kicked off through ``wrap_crew`` runs in the session's context, so its model calls are LLM
calls of the session where the model library is instrumented (``sentrial.configure()``); its
agents' tool uses are tool calls of the session, and its token usage the session's. A function
under ``@track_crew`` runs in its session's context too.

Importing this module imports no CrewAI (``pip install 'sentrial[crewai]'``).
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any, TypeVar

from sentrial._guard import guard, public_call
from sentrial._values import as_text
from sentrial.integrations._sessions import SessionHandler, entered, sync_client

__all__ = ["CREWAI_VERSION", "SentrialCrewHandler", "track_crew"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _crewai_version() -> str:
    try:
        return metadata.version("crewai")
    except metadata.PackageNotFoundError:
        return "none"


CREWAI_VERSION: str = _crewai_version()
"""The installed version of ``crewai``, or ``"none"``."""


class SentrialCrewHandler(SessionHandler):
    """Records a CrewAI crew into the session ``session_id`` of ``client`` (a
    :class:`~sentrial.SentrialClient` or an ``AsyncSentrialClient``); see the module."""

    def __init__(self, client: Any, session_id: str, verbose: bool = False) -> None:
        super().__init__(client, session_id, verbose)
        self.step_count = 0
        self.task_count = 0
        self.tool_calls = 0
        self.task_outputs: list[dict[str, Any]] = []

    @public_call()
    def set_input(self, user_input: str) -> None:
        """The crew's input: the session's input (and the start of its duration)."""
        self._started()
        super().set_input(user_input)

    def on_step(self, step_output: Any) -> None:
        """The crew's ``step_callback``: an agent's tool use is a tool call of the session, a thought
        or an answer a decision (an answer is also the session's output so far)."""
        with guard("crewai-step", "could not record a CrewAI step"):
            self._started()
            self.step_count += 1
            self._log("step %d: %s", self.step_count, type(step_output).__name__)
            if hasattr(step_output, "tool"):
                self._tool_step(step_output)
            elif getattr(step_output, "thought", None) and not hasattr(step_output, "output"):
                self._decision(f"Agent thought: {step_output.thought}")
            elif hasattr(step_output, "text") or hasattr(step_output, "output"):
                output = getattr(step_output, "output", None) or getattr(step_output, "text", None)
                self.assistant_output = as_text(output)
                self._decision(f"Agent output: {self.assistant_output}")
            else:
                self._decision(f"Step: {as_text(step_output)}")

    def _tool_step(self, step: Any) -> None:
        self.tool_calls += 1
        tool_input = getattr(step, "tool_input", None)
        if isinstance(tool_input, str):
            try:
                tool_input = json.loads(tool_input)
            except ValueError:
                tool_input = {"input": tool_input}
        if not isinstance(tool_input, dict):
            tool_input = {"input": as_text(tool_input)}
        result = getattr(step, "result", None)
        self._session_client.track_tool_call(
            session_id=self.session_id,
            tool_name=str(step.tool),
            tool_input=tool_input,
            tool_output={"output": as_text(result)} if result is not None else {"status": "executed"},
            reasoning=getattr(step, "thought", None) or None,
        )

    def on_task_complete(self, task_output: Any) -> None:
        """The crew's ``task_callback``: a finished task is a tool call ``task_<n>`` of the
        session, with the task's description and agent as input and its output as output."""
        with guard("crewai-task", "could not record a CrewAI task"):
            self.task_count += 1
            description = getattr(task_output, "description", None) or f"Task {self.task_count}"
            output = getattr(task_output, "raw", None)
            if output is None:
                output = getattr(task_output, "output", task_output)
            agent = getattr(task_output, "agent", None)
            agent_name = str(getattr(agent, "role", agent)) if agent is not None else "unknown"
            self.task_outputs.append({"task": description, "agent": agent_name, "output": as_text(output)})
            self.assistant_output = as_text(output)
            self._session_client.track_tool_call(
                session_id=self.session_id,
                tool_name=f"task_{self.task_count}",
                tool_input={"description": description, "agent": agent_name},
                tool_output={"result": as_text(output)},
                reasoning=f"Task completed by {agent_name}",
            )

    def wrap_crew(self, crew: Any) -> Any:
        """``crew`` with the handler's callbacks (where it has none) and its ``kickoff`` and
        ``kickoff_async`` run in the session: input, output, token usage, duration."""
        if getattr(crew, "step_callback", None) is None:
            crew.step_callback = self.on_step
        if getattr(crew, "task_callback", None) is None:
            crew.task_callback = self.on_task_complete
        kickoff = crew.kickoff

        @functools.wraps(kickoff)
        def tracked_kickoff(inputs: dict[str, Any] | None = None, *args: Any, **kwargs: Any) -> Any:
            self._kicked_off(inputs)
            try:
                with entered(self.session_context()), _ToolUses(self, crew):
                    result = kickoff(inputs, *args, **kwargs)
            finally:
                self.end_time = time.time()
            self._crew_finished(crew, result)
            return result

        object.__setattr__(crew, "kickoff", tracked_kickoff)
        kickoff_async = getattr(crew, "kickoff_async", None)
        if kickoff_async is not None:

            @functools.wraps(kickoff_async)
            async def tracked_kickoff_async(
                inputs: dict[str, Any] | None = None, *args: Any, **kwargs: Any
            ) -> Any:
                self._kicked_off(inputs)
                try:
                    with entered(self.session_context()), _ToolUses(self, crew):
                        result = await kickoff_async(inputs, *args, **kwargs)
                finally:
                    self.end_time = time.time()
                self._crew_finished(crew, result)
                return result

            object.__setattr__(crew, "kickoff_async", tracked_kickoff_async)
        self._log("crew wrapped")
        return crew

    def _kicked_off(self, inputs: Any) -> None:
        self.start_time = time.time()
        if inputs:
            self.user_input = as_text(inputs)

    def _crew_finished(self, crew: Any, result: Any) -> None:
        """The crew's answer is the session's output, its token usage the session's."""
        with guard("crewai-result", "could not record a CrewAI result"):
            self.assistant_output = as_text(getattr(result, "raw", result))
            usage = getattr(result, "token_usage", None)
            prompt = getattr(usage, "prompt_tokens", 0) or 0
            completion = getattr(usage, "completion_tokens", 0) or 0
            if prompt or completion:
                self._add_usage(int(prompt), int(completion), _model_of(crew))

    @public_call()
    def add_token_usage(self, prompt_tokens: int, completion_tokens: int, model: str | None = None) -> None:
        """Count model usage the crew did not report (priced from ``model`` where it is known)."""
        self._add_usage(int(prompt_tokens), int(completion_tokens), model)

    @public_call(fallback=lambda self: {})
    def finish(
        self,
        success: bool = True,
        failure_reason: str | None = None,
        output: str | None = None,
        custom_metrics: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Complete the session with the outcome, the totals, the input and the output (``output``
        when given), and the counts of steps, tasks and tool calls among ``custom_metrics``."""
        if output:
            self.assistant_output = output
        metrics = {
            **(custom_metrics or {}),
            "crewai_steps": self.step_count,
            "crewai_tasks": self.task_count,
            "crewai_tool_calls": self.tool_calls,
        }
        return self._complete(success, failure_reason, metrics)

    @public_call(fallback=lambda self: {})
    def get_usage_summary(self) -> dict[str, Any]:
        """Steps, tasks, tool calls, task outputs, tokens, cost, model and duration so far."""
        return {
            "steps": self.step_count,
            "tasks": self.task_count,
            "tool_calls": self.tool_calls,
            "task_outputs": list(self.task_outputs),
            **self._usage_totals(),
            "crewai_version": CREWAI_VERSION,
        }


class _ToolUses:
    """While a crew runs, the tool uses of its agents (CrewAI reports them on its event bus, and a
    tool the model calls natively never reaches ``step_callback``) become tool calls of the session."""

    def __init__(self, handler: SentrialCrewHandler, crew: Any) -> None:
        self._handler = handler
        self._agents = {str(getattr(agent, "id", "")) for agent in getattr(crew, "agents", None) or []}
        self._bus: Any = None
        self._events: tuple[Any, ...] = ()

    def __enter__(self) -> _ToolUses:
        with guard("crewai-events", "could not follow a CrewAI crew's tool uses"):
            from crewai.events import crewai_event_bus
            from crewai.events.types.tool_usage_events import ToolUsageErrorEvent, ToolUsageFinishedEvent

            self._events = (ToolUsageFinishedEvent, ToolUsageErrorEvent)
            for event_type in self._events:
                crewai_event_bus.on(event_type)(self._used)
            self._bus = crewai_event_bus
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bus is None:
            return
        with guard("crewai-events", "could not follow a CrewAI crew's tool uses"):
            self._bus.flush()  # the bus hands events to its handlers on threads of its own
            for event_type in self._events:
                self._bus.off(event_type, self._used)

    def _used(self, source: Any, event: Any) -> None:
        if str(getattr(event, "agent_id", None)) not in self._agents:
            return  # another crew's
        handler = self._handler
        with guard("crewai-tool", "could not record a CrewAI tool use"):
            handler.tool_calls += 1
            error = getattr(event, "error", None) or getattr(event, "failure", None)
            arguments = event.tool_args if isinstance(event.tool_args, dict) else {"input": event.tool_args}
            handler._session_client.track_tool_call(
                session_id=handler.session_id,
                tool_name=str(event.tool_name),
                tool_input=arguments,
                tool_output={} if error is not None else {"output": as_text(getattr(event, "output", None))},
                tool_error=None if error is None else {"message": as_text(error) or "tool error"},
            )


def _model_of(crew: Any) -> str | None:
    """The model of the crew's first agent with one (what prices the crew's token usage)."""
    for agent in getattr(crew, "agents", None) or []:
        model = getattr(getattr(agent, "llm", None), "model", None)
        if isinstance(model, str) and model:
            return model
    return None


def track_crew(client: Any, agent_name: str = "crewai", user_id: str | None = None) -> Callable[[_F], _F]:
    """Make each call of the decorated function (which runs a crew) a session of ``agent_name``
    for ``user_id``: its arguments the input, its result (a ``CrewOutput``'s ``raw``) the output,
    failed with the exception's message when it raises (the exception propagates)."""
    recording = sync_client(client)

    def decorate(function: _F) -> _F:
        def open_handler(args: Any, kwargs: Any) -> SentrialCrewHandler:
            session_id = recording.create_session(
                name=f"{agent_name}: {function.__name__}",
                agent_name=agent_name,
                user_id=user_id if user_id is not None else "anonymous",
            )
            handler = SentrialCrewHandler(recording, session_id)
            handler.start_time = time.time()
            handler.user_input = as_text({"args": list(args), "kwargs": kwargs})
            return handler

        def finished(handler: SentrialCrewHandler, result: Any) -> Any:
            handler.assistant_output = as_text(getattr(result, "raw", result))
            handler.finish(success=True)
            return result

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                handler = open_handler(args, kwargs)
                try:
                    with entered(handler.session_context()):
                        result = await function(*args, **kwargs)
                except Exception as error:
                    handler.finish(success=False, failure_reason=str(error))
                    raise
                return finished(handler, result)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            handler = open_handler(args, kwargs)
            try:
                with entered(handler.session_context()):
                    result = function(*args, **kwargs)
            except Exception as error:
                handler.finish(success=False, failure_reason=str(error))
                raise
            return finished(handler, result)

        return wrapper  # type: ignore[return-value]

    return decorate
