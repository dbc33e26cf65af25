"""HTTP delivery of Sessions API calls: ordered per lane, parallel across lanes, retried, bounded.

The transport knows the REST API (paths, which body fields hold session ids) but nothing of
spans. Calls of one lane (one root session and its sub-sessions) go out one at a time in the order
they were submitted, so a session is always opened before its events and completed last; different
lanes are sent in parallel by a small pool of worker threads, each over its own kept-alive connection.
"""

from __future__ import annotations

import email.utils
import heapq
import http.client
import itertools
import json
import logging
import random
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from opentelemetry import context as otel_context

from sentrial_otel_exporter.connection import Connection, Response
from sentrial_otel_exporter.drops import DropLog
from sentrial_otel_exporter.forks import after_fork_in_child

logger = logging.getLogger("sentrial")

# Statuses after which the same request may succeed later (sessions-api.md, "Errors and retries").
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Body fields that hold the SDK's session ids; they are swapped for the server's ids when sent.
_SESSION_ID_FIELDS = ("sessionId", "parentSessionId")
# Why a call is dropped unsent when the call before it in its lane gave up and it waited past its
# own retry time.
_GAVE_UP_WAITING = "gave up retrying: the server stopped answering while the call waited"
# How long shutdown() waits at most for the worker threads to end once it has given up on delivery.
_JOIN_GRACE_S = 1.0
# A session's opening is queued past the bound by up to this many: dropping it would lose every
# later call of the session (the server would answer them 404).
_OPENING_HEADROOM = 64
_UNOPENED = "its session's opening was dropped (the delivery queue was full)"
_MAX_UNOPENED = 10_000  # sessions whose opening was dropped, remembered (the latest)


@dataclass
class ApiCall:
    """One request to the Sessions API.

    ``path`` may contain ``{session}``, replaced at send time by the server's id of ``session``.
    """

    method: str
    path: str
    body: dict[str, Any] | None
    session: str
    lane: str
    opens_session: bool = False
    # The session is opened by another process or service, whose open may reach the server later
    # than this call: a 404 then means "not there yet" and is retried within the retry time.
    session_opened_elsewhere: bool = False
    attempts: int = 0
    deadline: float = 0.0


@dataclass
class DeliveryStats:
    """Counters of what happened to the calls handed to a transport."""

    sent: int = 0
    retried: int = 0
    dropped: int = 0
    pending: int = 0
    drop_reasons: dict[str, int] = field(default_factory=dict)


class _IdTable:
    """The server's id for each session whose id the server changed; bounded, oldest forgotten."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._ids: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, local_id: str, server_id: str) -> None:
        with self._lock:
            self._ids[local_id] = server_id
            if len(self._ids) > self._capacity:
                self._ids.popitem(last=False)

    def resolve(self, session_id: str) -> str:
        with self._lock:
            return self._ids.get(session_id, session_id)

    def after_fork(self) -> None:
        """In a forked child: keep what was learnt, with a lock no parent thread can be holding."""
        self._lock = threading.Lock()


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header (seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, float(when.timestamp()) - time.time())


def backoff_seconds(attempt: int, base: float = 0.2, cap: float = 5.0) -> float:
    """Exponential backoff with jitter for the given attempt number (1 = first retry)."""
    ceiling: float = min(cap, base * 2.0 ** max(0, attempt - 1))
    return ceiling * (0.5 + random.random() / 2)


class Transport:
    """Sends :class:`ApiCall` objects to one Sessions API server from background threads."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        retry_timeout: float = 30.0,
        workers: int = 8,
        max_pending: int = 10_000,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Content-Type": "application/json", "User-Agent": "sentrial-python"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = timeout
        self._retry_timeout = retry_timeout
        self._max_workers = max(1, workers)
        self._max_pending = max(1, max_pending)
        self._ids = _IdTable(capacity=100_000)
        self._seq = itertools.count()
        self._closed = False
        self._set_up_queue()
        after_fork_in_child(self._start_over_in_child)

    def _set_up_queue(self) -> None:
        """Nothing queued, no workers, no connections yet."""
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # workers wait here for a ready lane
        self._idle = threading.Condition(self._lock)  # flush() waits here for pending to reach 0
        self._lanes: dict[str, deque[ApiCall]] = {}
        self._failing: set[str] = set()  # lanes whose last call gave up retrying
        # Sessions whose opening was dropped: their later calls go nowhere.
        self._unopened: OrderedDict[str, None] = OrderedDict()
        self._ready: deque[str] = deque()
        self._backing_off: list[tuple[float, int, str]] = []  # heap of (due, seq, lane)
        self._stats = DeliveryStats()
        self._failures_since_flush = 0
        self._drop_log = DropLog()
        self._threads: list[threading.Thread] = []
        self._local = threading.local()
        self._connections: list[Connection] = []

    # --- public -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return self._base_url

    def stats(self) -> DeliveryStats:
        """A snapshot of the delivery counters."""
        with self._lock:
            snap = DeliveryStats(**{**self._stats.__dict__, "drop_reasons": dict(self._stats.drop_reasons)})
        return snap

    def submit(self, calls: list[ApiCall]) -> None:
        """Queue calls for delivery; never blocks on the network. Overflow is dropped and counted."""
        now = time.monotonic()
        with self._lock:
            for call in calls:
                if self._closed:
                    self._drop_locked("transport shut down")
                    continue
                if call.session in self._unopened:
                    self._drop_locked(_UNOPENED)
                    continue
                if self._stats.pending >= self._max_pending + (
                    _OPENING_HEADROOM if call.opens_session else 0
                ):
                    self._drop_locked("delivery queue full")
                    if call.opens_session:
                        self._unopened[call.session] = None
                        if len(self._unopened) > _MAX_UNOPENED:
                            self._unopened.popitem(last=False)
                    continue
                call.deadline = now + self._retry_timeout
                lane = self._lanes.get(call.lane)
                if lane is None:
                    lane = self._lanes[call.lane] = deque()
                    self._ready.append(call.lane)
                    self._work.notify()
                lane.append(call)
                self._stats.pending += 1
            if len(self._threads) < self._max_workers and self._stats.pending:
                self._start_workers_locked()
        self._warn_drops()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued call was sent or dropped, at most ``timeout`` seconds.

        True when nothing is pending and nothing failed since the previous flush.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._stats.pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._idle.wait(remaining)
            ok = self._stats.pending == 0 and self._failures_since_flush == 0
            self._failures_since_flush = 0
        self._warn_drops(force=True)
        return ok

    def shutdown(self, timeout: float | None = 5.0) -> bool:
        """Deliver what is queued within ``timeout`` seconds, then drop the rest and stop.

        Workers still waiting on a slow server are not waited for past the timeout (they are
        daemon threads and send nothing more).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delivered = self.flush(timeout)
        with self._lock:
            self._closed = True
            for lane in self._lanes.values():
                self._drop_locked("not delivered before shutdown", len(lane))
            self._lanes.clear()
            self._failing.clear()
            self._ready.clear()
            self._backing_off.clear()
            self._stats.pending = 0
            self._work.notify_all()
            self._idle.notify_all()
            threads = list(self._threads)
        join_until = time.monotonic() + _JOIN_GRACE_S
        if deadline is not None:
            join_until = min(join_until, deadline)
        for thread in threads:
            thread.join(timeout=max(0.0, join_until - time.monotonic()))
        for connection in self._connections:
            connection.close()
        self._warn_drops(force=True)
        return delivered

    def _start_over_in_child(self) -> None:
        """In a forked child: no workers, nothing queued, fresh locks and connections.

        What was queued is the parent's, which still sends it. The parent's connections are left
        to the garbage collector: closing them here would shut the parent's sockets.
        """
        self._set_up_queue()
        self._ids.after_fork()

    # --- workers ------------------------------------------------------------------------------
    def _start_workers_locked(self) -> None:
        while len(self._threads) < self._max_workers:
            thread = threading.Thread(
                target=self._worker, name=f"sentrial-transport-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _next_call(self) -> tuple[str, ApiCall] | None:
        """Block until a lane is ready; None once the transport is closed."""
        with self._lock:
            while True:
                if self._closed:
                    return None
                now = time.monotonic()
                while self._backing_off and self._backing_off[0][0] <= now:
                    self._ready.append(heapq.heappop(self._backing_off)[2])
                while self._ready:
                    key = self._ready.popleft()
                    lane = self._lanes.get(key)
                    if lane:
                        return key, lane[0]
                wait = self._backing_off[0][0] - now if self._backing_off else None
                self._work.wait(wait)

    def _worker(self) -> None:
        # The transport's own HTTP calls must never become spans of an HTTP instrumentation.
        otel_context.attach(
            otel_context.set_value(
                otel_context._SUPPRESS_HTTP_INSTRUMENTATION_KEY,
                True,
                otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True),
            )
        )
        while True:
            picked = self._next_call()
            if picked is None:
                return
            key, call = picked
            if key in self._failing and time.monotonic() > call.deadline:
                # Its session's server stopped answering and this call waited out its whole retry
                # time behind the one that gave up: one more timed-out attempt per queued call
                # would take a timeout each to drain.
                with self._lock:
                    if not self._closed:
                        self._finish_locked(key, _GAVE_UP_WAITING, gave_up=True)
                self._warn_drops()
                continue
            call.attempts += 1
            try:
                retry_in, failure = self._attempt(call)
            except Exception as exc:  # e.g. a body JSON cannot encode: drop it, keep the lane going
                logger.debug("sentrial: could not send %s %s", call.method, call.path, exc_info=True)
                retry_in, failure = None, f"{type(exc).__name__} while sending {call.method} {call.path}"
            with self._lock:
                if self._closed:
                    return
                if retry_in is not None:
                    due = time.monotonic() + retry_in
                    if due <= call.deadline:
                        self._stats.retried += 1
                        heapq.heappush(self._backing_off, (due, next(self._seq), key))
                        self._work.notify()
                        continue
                    failure = f"gave up retrying: {failure}"
                self._finish_locked(key, failure, gave_up=retry_in is not None)
            if failure:
                self._warn_drops()

    def _finish_locked(self, key: str, failure: str | None, gave_up: bool = False) -> None:
        """Take the lane's first call off: sent (``failure`` None) or dropped; ``gave_up`` when
        it was dropped because its retry time ran out (the lane is then marked failing)."""
        lane = self._lanes[key]
        lane.popleft()
        self._stats.pending -= 1
        if failure is None:
            self._stats.sent += 1
            self._failing.discard(key)
        else:
            self._drop_locked(failure)
            if gave_up:
                self._failing.add(key)
        if lane:
            self._ready.append(key)
            self._work.notify()
        else:
            del self._lanes[key]
            self._failing.discard(key)
        if self._stats.pending == 0:
            self._idle.notify_all()

    def _drop_locked(self, reason: str, count: int = 1) -> None:
        self._stats.dropped += count
        self._stats.drop_reasons[reason] = self._stats.drop_reasons.get(reason, 0) + count
        self._drop_log.add(reason, count)
        self._failures_since_flush += count

    def _warn_drops(self, force: bool = False) -> None:
        """Log one warning that sums up the drops since the last one, at most every few seconds."""
        drops = self._drop_log.take(force)
        if not drops:
            return
        total = sum(drops.values())
        why = "; ".join(f"{count} x {reason}" for reason, count in sorted(drops.items()))
        logger.warning("Sentrial dropped %d request(s) to %s: %s", total, self._base_url, why)

    # --- one HTTP attempt -----------------------------------------------------------------------
    def _connection(self) -> Connection:
        """This worker thread's own kept-alive connection."""
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = Connection(self._base_url, self._timeout, self._headers)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def _attempt(self, call: ApiCall) -> tuple[float | None, str | None]:
        """Send once. Returns (seconds to wait before retrying or None, failure reason or None)."""
        path = call.path.format(session=quote(self._ids.resolve(call.session), safe=""))
        body = call.body
        if body is not None:
            body = {k: self._ids.resolve(v) if k in _SESSION_ID_FIELDS and v else v for k, v in body.items()}
        data = None if body is None else json.dumps(body, allow_nan=False).encode()
        try:
            response = self._connection().request(call.method, path, data)
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, garbled
            return backoff_seconds(call.attempts), f"{type(exc).__name__} on {call.method} {call.path}"
        status = response.status
        if 200 <= status < 300:
            if call.opens_session:
                self._learn_session_id(call, response)
            return None, None
        reason = f"HTTP {status} on {call.method} {call.path}"
        if status in RETRYABLE_STATUSES or (status == 404 and call.session_opened_elsewhere):
            wait = retry_after_seconds(response.headers.get("retry-after"))
            return max(wait or 0.0, backoff_seconds(call.attempts)), reason
        if status in (401, 403):
            reason += " (check the API key)"
        else:
            reason += _error_detail(response)
        return None, reason

    def _learn_session_id(self, call: ApiCall, response: Response) -> None:
        try:
            server_id = response.json().get("id")
        except (ValueError, AttributeError):
            server_id = None
        if not isinstance(server_id, str) or not server_id:
            logger.warning(
                "Sentrial server answered %s %s without a readable session id; keeping the SDK's id",
                call.method,
                call.path,
            )
        elif server_id != call.session:
            self._ids.remember(call.session, server_id)


def _error_detail(response: Response) -> str:
    """The server's error message, short, for a drop warning."""
    try:
        message = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return f": {str(message)[:200]}" if message else ""
