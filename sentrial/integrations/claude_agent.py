"""Claude Agent SDK runs in Sentrial: every prompt's run, its tool calls and its model usage.

With ``claude-agent-sdk`` installed, ``sentrial.configure()`` (and ``opentelemetry-instrument``)
records what ``query()`` and ``ClaudeSDKClient`` do, read from the messages the SDK yields:

- Each prompt (a ``query()`` prompt, each ``ClaudeSDKClient.query()``, each message of a streamed
  prompt) becomes an interaction from the moment it is sent to its ``ResultMessage``: the prompt,
  the result text, success or the errors, Claude Code's own cost and tokens, and the number of
  turns. Sent inside a Sentrial session (``with sentrial.begin(...)``), it records into that
  session instead. The user is ``instrument(user_id=...)``'s, else ``"anonymous"``.
- Each tool use (Claude Code's tools, MCP tools, a subagent's tools under its running ``Task``) is a
  tool call from the tool use to its result, failed when the result is an error.
- The model usage of the run, per model, becomes an LLM call with its tokens and cost.

A ``query()`` left early ends its interaction with what had arrived. The CLI makes the model calls
in a process of its own, so no provider instrumentation sees them twice.
"""

from __future__ import annotations

import math
import time
import weakref
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection
from typing import Any

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.utils import unwrap

from sentrial import semconv as sc
from sentrial._guard import failed, guard
from sentrial._tool_runs import ToolRun
from sentrial.api import get_client
from sentrial.client import Interaction, SentrialClient, current_interaction
from sentrial.instrumentation._base import INSTRUMENTATION_TRACER
from sentrial.instrumentation._deferred import DeferredInstrumentor, library_classes
from sentrial.instrumentation._llm import LlmCall, LlmRequest, LlmResult
from sentrial.instrumentation._parts import plain_text
from sentrial.tracing import current_route

__all__ = ["ClaudeAgentInstrumentor"]

_EVENT = "claude_agent"
_NO_RESULT = "no result before the run ended"
# The figures of a model's usage in a ResultMessage that a prompt's share is worked out for.
_USAGE_KEYS = ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheCreationInputTokens", "costUSD")


def _prompt_text(message: Any) -> Any:
    """The content of a user message of a streamed prompt (``{"message": {"content": ...}}``), as
    text where it is text."""
    inner = message.get("message") if isinstance(message, dict) else None
    return plain_text(inner.get("content")) if isinstance(inner, dict) else None


def _count(usage: Any, *names: str) -> int:
    """The sum of the integer counts ``names`` of a usage dict (absent or malformed ones count 0)."""
    if not isinstance(usage, dict):
        return 0
    return sum(v for v in map(usage.get, names) if isinstance(v, int) and not isinstance(v, bool))


def _amount(value: Any) -> float | None:
    """A count or a cost in USD as Claude Code reports it, or None when it reports none (or nonsense)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < math.inf:
        return float(value)
    return None


def _is_result(message: Any) -> bool:
    """Whether ``message`` is the ``ResultMessage`` that ends a prompt's run."""
    return hasattr(message, "total_cost_usd") and hasattr(message, "is_error")


def _figures(usage: dict[str, Any]) -> dict[str, Any]:
    """The counts and the cost of one model's usage, leaving out what is not a number."""
    return {key: usage[key] for key in _USAGE_KEYS if _amount(usage.get(key)) is not None}


class _Turn:
    """One prompt's run: the interaction it became (or the session it records into), its open tool
    calls and the answer so far. Begun where the prompt is sent, in that context."""

    def __init__(self, prompt: Any, user_id: str | None, totals: _RunTotals) -> None:
        self._totals = totals
        self.interaction: Interaction | None = None
        self.context = otel_context.get_current()
        outer = current_interaction()
        self.client: SentrialClient | None = outer.client if outer is not None else None
        self._open(prompt, user_id)
        self.started_ns = time.time_ns()  # the start of the model usage spans: after their session's
        self._tools: dict[str, ToolRun] = {}
        self._answer: list[str] = []

    def _open(self, prompt: Any, user_id: str | None) -> None:
        """Begin the turn's interaction, unless it is sent inside a Sentrial session."""
        if current_route(self.context) is None:
            self.client = get_client()
            self.interaction, self.context = self.client._begin_unentered(
                user_id=user_id or sc.ANONYMOUS_USER,
                event=_EVENT,
                input=prompt,
                provider=sc.PROVIDER_ANTHROPIC,
            )

    def see(self, message: Any) -> bool:
        """Record what ``message`` says; True when it ended the turn (its ``ResultMessage``)."""
        if _is_result(message):
            self._finish(message)
            return True
        content = getattr(message, "content", None)
        if not isinstance(content, list):
            return False
        parent = getattr(message, "parent_tool_use_id", None)
        from_model = hasattr(message, "model")
        for block in content:
            if hasattr(block, "tool_use_id"):
                self._tool_ended(block)
            elif hasattr(block, "id") and hasattr(block, "name") and hasattr(block, "input"):
                self._tool_started(block, parent)
            elif from_model and parent is None and isinstance(getattr(block, "text", None), str):
                self._answer.append(block.text)
        return False

    def _tool_started(self, block: Any, parent: str | None) -> None:
        context = self.context
        if parent in self._tools:  # a subagent's tool: under the tool that runs the subagent
            context = trace.set_span_in_context(self._tools[parent].span, context)
        call_id = str(block.id)
        self._tools[call_id] = ToolRun(str(block.name), block.input, self.client, context, call_id=call_id)

    def _tool_ended(self, block: Any) -> None:
        run = self._tools.pop(str(block.tool_use_id), None)
        if run is None:
            return
        content = plain_text(getattr(block, "content", None))
        if getattr(block, "is_error", None):
            run.fail(content if content and isinstance(content, str) else "the tool reported an error")
        else:
            run.succeed(content)

    def _close_tools(self) -> None:
        for run in self._tools.values():
            run.fail(_NO_RESULT)
        self._tools.clear()

    def _record_model_usage(self, model_usage: dict[str, dict[str, Any]]) -> None:
        """One LLM call per model the run used, spanning the run: Claude Code reports usage per model."""
        tracer = self.client.tracer if self.client is not None else INSTRUMENTATION_TRACER()
        for model, usage in model_usage.items():
            cache_read = _count(usage, "cacheReadInputTokens")
            cache_creation = _count(usage, "cacheCreationInputTokens")
            request = LlmRequest(
                provider=sc.PROVIDER_ANTHROPIC, operation=sc.OPERATION_CHAT, model=str(model)
            )
            call = LlmCall(tracer, request, self.context, start_time=self.started_ns)
            call.succeed(
                LlmResult(
                    response_model=str(model),
                    input_tokens=_count(usage, "inputTokens") + cache_read + cache_creation,
                    output_tokens=_count(usage, "outputTokens"),
                    cache_read_tokens=cache_read,
                    cache_creation_tokens=cache_creation,
                    cost_usd=_amount(usage.get("costUSD")),
                )
            )

    def _finish(self, result: Any) -> None:
        self._close_tools()
        cost, model_usage = self._totals.added(result)
        self._record_model_usage(model_usage)
        self._complete(result, cost)

    def _complete(self, result: Any, cost: float | None) -> None:
        """Finish the turn's interaction (if it has one) with what ``result`` reports."""
        if self.interaction is None:
            return
        outcome = self.outcome(result)
        turns = getattr(result, "num_turns", None)
        self.interaction.finish(
            output=outcome["output"],
            success=outcome["success"],
            failure_reason=outcome["failure_reason"],
            estimated_cost=cost or 0.0,
            custom_metrics={"num_turns": turns} if isinstance(turns, int) else None,
            prompt_tokens=outcome["prompt_tokens"],
            completion_tokens=outcome["completion_tokens"],
            total_tokens=outcome["prompt_tokens"] + outcome["completion_tokens"],
        )

    def outcome(self, result: Any) -> dict[str, Any]:
        """What ``result`` says of the turn: output, success, failure reason and tokens (the prompt's
        counting what was read from and written to the prompt cache)."""
        usage = getattr(result, "usage", None)
        is_error = bool(getattr(result, "is_error", False))
        errors = getattr(result, "errors", None)
        reason = "; ".join(map(str, errors)) if errors else str(getattr(result, "subtype", "error"))
        output = getattr(result, "result", None)
        return {
            "output": output if isinstance(output, str) else "".join(self._answer) or None,
            "success": not is_error,
            "failure_reason": reason if is_error else None,
            "prompt_tokens": _count(
                usage, "input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"
            ),
            "completion_tokens": _count(usage, "output_tokens"),
        }

    def end(self, error: BaseException | str | None = None) -> None:
        """End a turn that got no ``ResultMessage``: failed with ``error`` (an exception, or why),
        else (its reader stopped reading) a success with the answer so far."""
        self._close_tools()
        if self.interaction is None:
            return
        answer = "".join(self._answer) or None
        if error is None:
            self.interaction.finish(output=answer, success=True)
        elif isinstance(error, str):
            self.interaction.finish(output=answer, success=False, failure_reason=error)
        else:
            self.interaction.__exit__(type(error), error, error.__traceback__)


class _RunTotals:
    """What a conversation's results reported so far. Claude Code sums a conversation's cost and
    its usage per model over all its prompts; what one prompt used is the difference."""

    def __init__(self) -> None:
        self._cost = 0.0
        self._models: dict[str, dict[str, Any]] = {}

    def added(self, result: Any) -> tuple[float | None, dict[str, dict[str, Any]]]:
        """The cost and the usage per model that ``result`` adds to the results before it."""
        cost = _amount(getattr(result, "total_cost_usd", None))
        reported = getattr(result, "model_usage", None)
        models = (
            {str(k): _figures(v) for k, v in reported.items() if isinstance(v, dict)}
            if isinstance(reported, dict)
            else {}
        )
        added_cost = None if cost is None else max(0.0, cost - self._cost)
        added_models = {}
        for model, usage in models.items():
            before = self._models.get(model, {})
            added = {key: value - before.get(key, 0) for key, value in usage.items()}
            if any(added.values()):
                added_models[model] = added
        self._cost = cost if cost is not None else self._cost
        self._models = models
        return added_cost, added_models


def _end_turn(turn: _Turn, error: BaseException | str | None) -> None:
    with guard("claude-end", "could not end a Claude Agent SDK run"):
        turn.end(error)


class _Conversation:
    """The turns of one ``query()`` or one ``ClaudeSDKClient``: begun as prompts are sent, ended in
    order as their results arrive."""

    def __init__(self, user_id: str | None) -> None:
        self.user_id = user_id
        self._totals = _RunTotals()
        self._waiting: deque[_Turn] = deque()
        self._current: _Turn | None = None

    def begin(self, prompt: Any) -> None:
        """A prompt was sent: begin its turn here, in the sender's context."""
        with guard("claude-begin", "could not record a Claude Agent SDK prompt"):
            self._waiting.append(self._new_turn(prompt))

    def _new_turn(self, prompt: Any) -> _Turn:
        """The turn of a prompt (None: messages that came without a prompt sent before them)."""
        return _Turn(prompt, self.user_id, self._totals)

    def see(self, message: Any) -> None:
        """Record one message of the run."""
        try:
            if self._current is None:
                self._current = self._waiting.popleft() if self._waiting else self._new_turn(None)
            if self._current.see(message):
                self._current = None
        except Exception:
            failed("claude-message", "could not record a Claude Agent SDK message")
            if _is_result(message):  # the next message is another prompt's, whatever went wrong
                self._current = None

    def end(self, error: BaseException | str | None = None) -> None:
        """End every turn still open (see :meth:`_Turn.end`)."""
        turns = [self._current, *self._waiting] if self._current is not None else list(self._waiting)
        self._current = None
        self._waiting.clear()
        for turn in turns:
            _end_turn(turn, error)

    def end_last(self, error: BaseException) -> None:
        """End the turn begun last, whose prompt could not be sent."""
        if self._waiting:
            _end_turn(self._waiting.pop(), error)

    async def sent(self, prompts: AsyncIterable[Any]) -> AsyncIterator[Any]:
        """``prompts`` as they are, each one beginning its turn as the SDK sends it."""
        async for message in prompts:
            self.begin(_prompt_text(message))
            yield message


# Set in the context while a published-API wrapper (sentrial.claude_code) follows a run itself: the
# instrumentor's hooks then pass the calls through, so that nothing is recorded twice.
FOLLOWED_BY_WRAPPER = otel_context.create_key("sentrial-claude-followed")


def _followed_by_wrapper() -> bool:
    return otel_context.get_value(FOLLOWED_BY_WRAPPER) is True


# The conversation of each ClaudeSDKClient, for as long as the client lives.
_conversations: weakref.WeakKeyDictionary[Any, _Conversation] = weakref.WeakKeyDictionary()


def _sending(
    conversation: _Conversation, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments of a method that sends a prompt, the prompt begun as a turn: a text at once, a
    stream of messages (replaced by one that passes them on) message by message as it is sent."""
    positional = "prompt" not in kwargs and bool(args)
    prompt = args[0] if positional else kwargs.get("prompt")
    if not isinstance(prompt, AsyncIterable):
        conversation.begin(plain_text(prompt))
        return args, kwargs
    if positional:
        return (conversation.sent(prompt), *args[1:]), kwargs
    return args, {**kwargs, "prompt": conversation.sent(prompt)}


_client_class = library_classes("claude_agent_sdk", "ClaudeSDKClient")
_internal_client_class = library_classes("claude_agent_sdk._internal.client", "InternalClient")


class ClaudeAgentInstrumentor(DeferredInstrumentor):
    """Records every ``query()`` and ``ClaudeSDKClient`` run of the Claude Agent SDK (see the module).

    ``instrument(user_id=...)`` names the user of the interactions it begins.
    """

    library = "claude_agent_sdk"

    def instrumentation_dependencies(self) -> Collection[str]:
        """The claude-agent-sdk versions this instrumentor supports."""
        return ("claude-agent-sdk >= 0.2",)

    def _apply(self, **kwargs: Any) -> None:
        (ClaudeSDKClient,), (InternalClient,) = _client_class(), _internal_client_class()
        user_id = kwargs.get("user_id")
        if user_id is not None:
            user_id = str(user_id)

        def traced_query(wrapped: Callable[..., Any], instance: Any, args: Any, kw: Any) -> Any:
            if _followed_by_wrapper():
                return wrapped(*args, **kw)
            conversation = _Conversation(user_id)
            args, kw = _sending(conversation, args, kw)
            return _follow(wrapped(*args, **kw), conversation, end_on_close=True)

        async def client_query(wrapped: Callable[..., Any], instance: Any, args: Any, kw: Any) -> Any:
            if _followed_by_wrapper():
                return await wrapped(*args, **kw)
            conversation = _conversations.setdefault(instance, _Conversation(user_id))
            args, kw = _sending(conversation, args, kw)
            try:
                return await wrapped(*args, **kw)
            except BaseException as error:  # not sent: the turn begun for it has nothing to wait for
                conversation.end_last(error)
                raise

        def client_messages(wrapped: Callable[..., Any], instance: Any, args: Any, kw: Any) -> Any:
            if _followed_by_wrapper():
                return wrapped(*args, **kw)
            conversation = _conversations.setdefault(instance, _Conversation(user_id))
            return _follow(wrapped(*args, **kw), conversation, end_on_close=False)

        async def client_disconnect(wrapped: Callable[..., Any], instance: Any, args: Any, kw: Any) -> Any:
            conversation = _conversations.pop(instance, None)
            if conversation is not None:
                conversation.end("disconnected before the result")
            return await wrapped(*args, **kw)

        wrapt.wrap_function_wrapper(InternalClient, "process_query", traced_query)
        wrapt.wrap_function_wrapper(ClaudeSDKClient, "query", client_query)
        wrapt.wrap_function_wrapper(ClaudeSDKClient, "receive_messages", client_messages)
        wrapt.wrap_function_wrapper(ClaudeSDKClient, "disconnect", client_disconnect)

    def _remove(self, **kwargs: Any) -> None:
        (ClaudeSDKClient,), (InternalClient,) = _client_class(), _internal_client_class()
        unwrap(InternalClient, "process_query")
        for method in ("query", "receive_messages", "disconnect"):
            unwrap(ClaudeSDKClient, method)


async def _follow(
    messages: AsyncIterator[Any], conversation: _Conversation, end_on_close: bool
) -> AsyncIterator[Any]:
    """Yield ``messages`` unchanged, recording each. An error ends the open turns as failed. A
    ``query()`` ends its open turns when it ends: with what had arrived when it is closed early,
    as failed when its messages stop without a result. (A client's reader may read on later.)"""
    try:
        async for message in messages:
            conversation.see(message)
            yield message
    except GeneratorExit:
        if end_on_close:
            conversation.end()
        raise
    except BaseException as error:
        conversation.end(error)
        raise
    else:
        if end_on_close:
            conversation.end(_NO_RESULT)
    finally:
        # ``async for`` leaves what it iterates open when it stops early: close it now, as the SDK
        # itself does, so that the CLI process ends with the run rather than when collected.
        close = getattr(messages, "aclose", None)
        if close is not None:
            await close()
