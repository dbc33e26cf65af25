"""What the request handlers share at run time: the store, settings, the request log and faults."""

from __future__ import annotations

import json
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sentrial.server.store import Store

if TYPE_CHECKING:
    from sentrial.relay import Relay

REQUEST_LOG_SIZE = 10_000


@dataclass
class Fault:
    """A canned answer given instead of processing a request, ``remaining`` more times (None: always)."""

    status: int
    remaining: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    paths: tuple[str, ...] | None = None

    def matches(self, path: str) -> bool:
        """Whether this fault applies to a request for ``path``."""
        return self.paths is None or any(path.startswith(prefix) for prefix in self.paths)


class State:
    """Server state shared by the handler threads; every mutable part is guarded by one lock."""

    def __init__(self, store: Store, api_key: str | None, delay_ms: float, verbose: bool) -> None:
        self.store = store
        self.api_key = api_key
        # What the pages' sign-in cookie holds: a secret of this process, so never the key itself.
        self.page_token = secrets.token_urlsafe(32)
        self.delay_ms = delay_ms
        self.verbose = verbose
        self.pii_config: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.own_url = ""  # set by the server once it listens: where its OTLP relay sends to
        self._relay: Relay | None = None

    def relay(self) -> Relay:
        """The relay that turns OTLP sent here into calls to this server's own API (made when first
        needed: a server that gets no OTLP runs no relay threads)."""
        with self._lock:
            if self._relay is None:
                from sentrial.relay import Relay

                self._relay = Relay(api_url=self.own_url, api_key=self.api_key)
            return self._relay

    def close_relay(self, timeout: float) -> None:
        """Deliver what the relay holds (at most ``timeout`` seconds) and stop it."""
        with self._lock:
            relay, self._relay = self._relay, None
        if relay is not None:
            relay.close(timeout)

    def record(self, method: str, path: str, headers: dict[str, str], body: Any) -> None:
        """Append one received request to the bounded log."""
        entry = {"method": method, "path": path, "headers": headers, "json": body}
        with self._lock:
            self._requests.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of the request log, oldest first."""
        with self._lock:
            return list(self._requests)

    def add_fault(
        self,
        status: int,
        count: int | None,
        headers: dict[str, str] | None,
        body: bytes | str | dict[str, Any] | None,
        paths: list[str] | tuple[str, ...] | None,
    ) -> None:
        """Queue a fault behind those already queued (``count`` None: until cleared)."""
        if count is not None and count <= 0:
            return
        if body is None:
            body = {"error": f"injected fault (HTTP {status})"}
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        fault = Fault(status, count, dict(headers or {}), body, None if paths is None else tuple(paths))
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def take_fault(self, path: str) -> Fault | None:
        """The first queued fault that applies to ``path``, counting this use of it."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(path):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None
