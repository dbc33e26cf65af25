"""What a LangChain agent logged when it chose its tools (its thoughts), kept until those tools run."""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

_MAX_AGENT_RUNS = 256  # agent runs whose chosen tools have not all run yet, at most


class AgentThoughts:
    """Per agent run, the logs of the actions it chose whose tools have not run yet, oldest first."""

    def __init__(self) -> None:
        self._reasons: dict[UUID, list[str | None]] = {}  # agent run -> logs of actions not yet run
        self._lock = threading.Lock()

    def add(self, run_id: UUID, action: Any) -> None:
        """Keep what agent run ``run_id`` logged when it chose ``action`` (``AgentAction.log``)."""
        log = getattr(action, "log", None)
        reason = log.strip() if isinstance(log, str) and log.strip() else None
        with self._lock:
            self._reasons.setdefault(run_id, []).append(reason)
            if len(self._reasons) > _MAX_AGENT_RUNS:  # runs whose end never came are forgotten in time
                del self._reasons[next(iter(self._reasons))]

    def next_for(self, agent_run_id: UUID | None) -> str | None:
        """The logged thought of the agent's oldest action not yet run, if any."""
        if agent_run_id is None:
            return None
        with self._lock:
            waiting = self._reasons.get(agent_run_id)
            if not waiting:
                return None
            reason = waiting.pop(0)
            if not waiting:
                del self._reasons[agent_run_id]
            return reason

    def forget(self, run_id: UUID) -> None:
        """Forget what run ``run_id`` chose: it ended, and its actions that never ran never will."""
        with self._lock:
            self._reasons.pop(run_id, None)
