"""The turns of the published Claude Code wrappers (:mod:`sentrial.claude_code`): each prompt's run
is a session named after the prompt, opened when the SDK's first message (its ``init``) tells the
model, tools and working directory, and completed with what the ``ResultMessage`` reports. The
recording itself (tool calls, model usage, totals) is the instrumentor's (:mod:`.claude_agent`)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context

from sentrial.client import SentrialClient
from sentrial.integrations._sessions import entered, session_context, step_in
from sentrial.integrations.claude_agent import (
    FOLLOWED_BY_WRAPPER,
    _Conversation,
    _RunTotals,
    _Turn,
)

_PROMPT_CHARS = 100  # of the prompt in the session's name
_INIT_FIELDS = ("model", "tools", "cwd", "mcp_servers")


@dataclass(frozen=True)
class Wrapping:
    """What a wrapper was given: where its sessions go and what they are called."""

    client: SentrialClient
    agent: str
    user_id: str
    convo_id: str | None
    metadata: dict[str, Any] | None
    client_mode: bool = False  # a ClaudeSDKClient's: the session says so, and which turn it is

    def for_call(self, kwargs: dict[str, Any]) -> Wrapping:
        """This wrapping with what one call names for its own session (``user_id``, ``convo_id``,
        ``metadata``), taken out of the call's ``kwargs``."""
        user_id, convo_id = kwargs.pop("user_id", None), kwargs.pop("convo_id", None)
        metadata = kwargs.pop("metadata", None)
        if user_id is None and convo_id is None and not isinstance(metadata, dict):
            return self
        return dataclasses.replace(
            self,
            user_id=self.user_id if user_id is None else str(user_id),
            convo_id=self.convo_id if convo_id is None else str(convo_id),
            metadata={**(self.metadata or {}), **metadata} if isinstance(metadata, dict) else self.metadata,
        )


class SessionTurn(_Turn):
    """One prompt's run as a session of the wrapper's client (see the module)."""

    def __init__(self, prompt: Any, wrapping: Wrapping, totals: _RunTotals, number: int) -> None:
        self._wrapping = wrapping
        self._number = number
        self._prompt = prompt if isinstance(prompt, str) else None
        self._session_id: str | None = None
        self._started = time.monotonic()
        super().__init__(prompt, wrapping.user_id, totals)

    def _open(self, prompt: Any, user_id: str | None) -> None:
        self.client = self._wrapping.client  # the session opens with the run's first message

    def see(self, message: Any) -> bool:
        """Open the session at the run's first message, then record the message."""
        if self._session_id is None:
            self._open_session(message)
        return super().see(message)

    def _open_session(self, first: Any) -> None:
        wrapping = self._wrapping
        metadata: dict[str, Any] = {}
        data = getattr(first, "data", None)
        if getattr(first, "subtype", None) == "init" and isinstance(data, dict):
            metadata = {name: data.get(name) for name in _INIT_FIELDS}
            metadata["sdk_session_id"] = data.get("session_id")
        if wrapping.client_mode:
            metadata.update(client_mode="ClaudeSDKClient", turn=self._number)
        metadata.update(wrapping.metadata or {})
        about = f": {self._prompt[:_PROMPT_CHARS]}" if self._prompt else " session"
        self._session_id = wrapping.client.create_session(
            name=f"{wrapping.agent}{about}",
            agent_name=wrapping.agent,
            user_id=wrapping.user_id,
            convo_id=wrapping.convo_id,
            metadata=metadata,
        )
        self.context = session_context(wrapping.client, self._session_id)
        self.started_ns = time.time_ns()

    def _complete(self, result: Any, cost: float | None) -> None:
        outcome = self.outcome(result)
        prompt_tokens, completion_tokens = outcome["prompt_tokens"], outcome["completion_tokens"]
        duration = getattr(result, "duration_ms", None)
        errors = getattr(result, "errors", None)
        self._completed(
            success=outcome["success"],
            failure_reason=outcome["failure_reason"],
            estimated_cost=cost or 0.0,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
            duration_ms=duration if isinstance(duration, int) else self._elapsed_ms(),
            assistant_output=outcome["output"] if outcome["success"] or not errors else "; ".join(errors),
            custom_metrics={
                "num_turns": _whole(getattr(result, "num_turns", None)),
                "duration_api_ms": _whole(getattr(result, "duration_api_ms", None)),
            },
        )

    def end(self, error: BaseException | str | None = None) -> None:
        """End a run that got no ``ResultMessage`` (see :meth:`_Turn.end`); its session is opened
        now if no message had opened it, so that a run that failed at once is not lost."""
        self._close_tools()
        if self._session_id is None:
            self._open_session(None)
        answer = "".join(self._answer) or None
        if error is None:
            self._completed(success=True, assistant_output=answer, duration_ms=self._elapsed_ms())
        else:
            reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
            self._completed(
                success=False, failure_reason=reason, assistant_output=answer, duration_ms=self._elapsed_ms()
            )

    def _completed(self, **outcome: Any) -> None:
        if self._session_id is not None:
            self._wrapping.client.complete_session(self._session_id, user_input=self._prompt, **outcome)

    def _elapsed_ms(self) -> int:
        return int((time.monotonic() - self._started) * 1000)


def _whole(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class SessionConversation(_Conversation):
    """The runs of one wrapped ``query()`` or one wrapped ``ClaudeSDKClient``, each a session."""

    def __init__(self, wrapping: Wrapping) -> None:
        super().__init__(wrapping.user_id)
        self.wrapping = wrapping  # of the prompts sent from now on
        self._sent = 0

    def begin(self, prompt: Any) -> None:
        """A prompt was sent: its run is the next turn."""
        self._sent += 1
        super().begin(prompt)

    def _new_turn(self, prompt: Any) -> _Turn:
        return SessionTurn(prompt, self.wrapping, self._totals, max(self._sent, 1))


def instrumentor_aside() -> AbstractContextManager[None]:
    """While the wrapper follows a call itself, the instrumentor (if on) passes it through."""
    return entered(otel_context.set_value(FOLLOWED_BY_WRAPPER, True))


def unfollowed(messages: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """``messages`` as they are, each taken with the instrumentor aside (the SDK starts its run on
    the first one); closed the same way."""
    return step_in(messages, instrumentor_aside)
