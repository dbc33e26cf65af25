"""HTTP delivery of Sessions API calls: ordered per lane, parallel across lanes, retried, bounded.

The transport knows the REST API (paths, which body fields hold session ids) but nothing of
spans. Calls of one lane (one root session and its sub-sessions) go out in the order they were
submitted, pipelined in runs on one connection (:mod:`sentrial_otel_exporter.pipelining`), so a
session is always opened before its events and completed last; different lanes are sent in
parallel by a small pool of worker threads over kept-alive connections (the one used last first).
What waits is bounded twice: in calls (``max_pending``) and in bytes (``max_pending_bytes``, each
call's body counted as the JSON it is sent as, encoded once when it is queued). A call's wire form
is :mod:`sentrial_otel_exporter.calls`'s, when to retry it :mod:`sentrial_otel_exporter.retries`'s.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from opentelemetry import context as otel_context

from sentrial_otel_exporter.calls import ApiCall, IdTable, encode, wire_request
from sentrial_otel_exporter.connection import Connection, Response
from sentrial_otel_exporter.drops import DropLog
from sentrial_otel_exporter.forks import after_fork_in_child
from sentrial_otel_exporter.pipelining import (
    Outcome,
    PipeliningCheck,
    judge_answer,
    next_run_calls,
    outcomes_of,
    take_run,
)
from sentrial_otel_exporter.retries import MAX_RETRY_AFTER_S

logger = logging.getLogger("sentrial")

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
DEFAULT_MAX_PENDING_BYTES = 64 * 1024 * 1024
# Lanes whose run length is remembered while they have nothing to send (a session's next call
# then goes out in a run as long as its last one), the latest.
_MAX_REMEMBERED_LANES = 10_000


@dataclass
class DeliveryStats:
    """Counters of what happened to the calls handed to a transport."""

    sent: int = 0
    retried: int = 0
    dropped: int = 0
    pending: int = 0
    pending_bytes: int = 0  # what the pending calls hold, counted against the byte budget
    drop_reasons: dict[str, int] = field(default_factory=dict)


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
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        max_retry_after: float = MAX_RETRY_AFTER_S,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"Content-Type": "application/json", "User-Agent": "sentrial-python"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = timeout
        self._retry_timeout = retry_timeout
        self._max_workers = max(1, workers)
        self._max_pending = max(1, max_pending)
        self._max_pending_bytes = max(1, max_pending_bytes)
        self._max_retry_after = max(0.0, max_retry_after)
        self._ids = IdTable(capacity=100_000)
        self._seq = itertools.count()
        self._closed = False
        self._delivered_at_shutdown = False
        self._pipelining = PipeliningCheck()  # true until the server shows it takes no pipelining
        self._set_up_queue()
        after_fork_in_child(self._start_over_in_child)

    def _set_up_queue(self) -> None:
        """Nothing queued, no workers, no connections yet."""
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)  # workers wait here for a ready lane
        self._idle = threading.Condition(self._lock)  # flush() waits here for pending to reach 0
        self._lanes: dict[str, deque[ApiCall]] = {}
        self._failing: set[str] = set()  # lanes whose last call gave up retrying
        self._in_flight: dict[str, int] = {}  # lanes a worker is sending a run of: its length
        self._run_calls: dict[str, int] = {}  # how many calls each lane's next run may hold
        # Sessions whose opening was dropped: their later calls go nowhere.
        self._unopened: OrderedDict[str, None] = OrderedDict()
        self._ready: deque[str] = deque()
        # Why each lane's first call is being retried (its last failure), for the drops at shutdown.
        self._troubles: dict[str, str] = {}
        self._backing_off: list[tuple[float, int, str]] = []  # heap of (due, seq, lane)
        self._stats = DeliveryStats()
        self._failures_since_flush = 0
        self._lost_at_shutdown = 0  # calls dropped by shutdown() and after: every later flush says so
        self._drop_log = DropLog()
        self._threads: list[threading.Thread] = []
        self._connections: list[Connection] = []  # every connection made, closed at shutdown
        # The connections no worker is sending on, the one used last on top: a run takes it.
        self._free_connections: list[Connection] = []

    # --- public -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return self._base_url

    @property
    def pending_bytes(self) -> int:
        """What the calls waiting to be sent hold, in bytes (as counted against the byte budget)."""
        return self._stats.pending_bytes

    def stats(self) -> DeliveryStats:
        """A snapshot of the delivery counters."""
        with self._lock:
            snap = DeliveryStats(**{**self._stats.__dict__, "drop_reasons": dict(self._stats.drop_reasons)})
        return snap

    def submit(self, calls: list[ApiCall]) -> None:
        """Queue calls for delivery; never blocks on the network. Overflow is dropped and counted.

        Each body is encoded here, on the caller's (background) thread, once: the bytes are what
        the byte budget counts and what is sent, so no dict of the body is kept while it waits.
        """
        now = time.monotonic()
        encoded: list[tuple[ApiCall, str | None]] = [(call, encode(call)) for call in calls]
        with self._lock:
            for call, failure in encoded:
                if self._closed:
                    self._drop_locked("transport shut down")
                    continue
                if call.session in self._unopened:
                    self._drop_locked(_UNOPENED)
                    continue
                refused = failure or self._full_locked(call)
                if refused:
                    self._drop_locked(refused)
                    if call.opens_session:  # its session's later calls would be refused: drop them
                        self._unopened[call.session] = None
                        if len(self._unopened) > _MAX_UNOPENED:
                            self._unopened.popitem(last=False)
                    continue
                call.queued_at = now
                call.deadline = now + self._retry_timeout
                lane = self._lanes.get(call.lane)
                if lane is None:
                    lane = self._lanes[call.lane] = deque()
                    self._ready.append(call.lane)
                    self._work.notify()
                lane.append(call)
                self._stats.pending += 1
                self._stats.pending_bytes += call.size
            if len(self._threads) < self._max_workers and self._stats.pending:
                self._start_workers_locked()
        self._warn_drops()

    def _full_locked(self, call: ApiCall) -> str | None:
        """Why ``call`` does not fit in the queue, or None when it does.

        A session's opening gets in past both bounds, up to ``_OPENING_HEADROOM`` calls: it is
        small, and dropping it would lose every later call of its session.
        """
        if call.opens_session:
            over = self._stats.pending >= self._max_pending + _OPENING_HEADROOM
            return "delivery queue full" if over else None
        if self._stats.pending >= self._max_pending:
            return "delivery queue full"
        if self._stats.pending_bytes + call.size > self._max_pending_bytes:
            return f"delivery queue over its byte budget ({_megabytes(self._max_pending_bytes)})"
        return None

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued call was sent or dropped, at most ``timeout`` seconds.

        True when nothing is pending and nothing failed since the previous flush; after a
        shutdown that dropped calls, never True again (what it dropped stays undelivered).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            while self._stats.pending:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._idle.wait(remaining)
            ok = self._stats.pending == 0 and self._failures_since_flush == 0 and not self._lost_at_shutdown
            self._failures_since_flush = 0
        self._warn_drops(force=True)
        return ok

    def shutdown(self, timeout: float | None = 5.0) -> bool:
        """Deliver what is queued within ``timeout`` seconds, then drop the rest and stop.

        Workers still waiting on a slow server are not waited for past the timeout (they are
        daemon threads and send nothing more). The drops say why each call was still waiting (the
        last failure of its session's calls, e.g. "connection refused by 127.0.0.1:9"). Returns
        True when everything was delivered; a second call only says what the first one did.
        """
        with self._lock:
            if self._closed:
                return self._delivered_at_shutdown
        deadline = None if timeout is None else time.monotonic() + timeout
        delivered = self.flush(timeout)
        with self._lock:
            self._closed = True
            dropped_before = self._stats.dropped
            for key, lane in self._lanes.items():
                self._drop_unsent_locked(key, len(lane))
            self._lost_at_shutdown = self._stats.dropped - dropped_before
            self._lanes.clear()
            self._troubles.clear()
            self._failing.clear()
            self._in_flight.clear()
            self._ready.clear()
            self._backing_off.clear()
            self._stats.pending = 0
            self._stats.pending_bytes = 0
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
        self._delivered_at_shutdown = delivered and not self._lost_at_shutdown
        return self._delivered_at_shutdown

    def _drop_unsent_locked(self, key: str, count: int) -> None:
        """Drop the ``count`` calls of lane ``key`` that shutdown's timeout left undelivered, and
        say why each was still waiting."""
        prefix = "not delivered before the shutdown's timeout"
        trouble = self._troubles.get(key)
        if trouble:
            self._drop_locked(f"{prefix} (last attempt: {trouble})", count)
            return
        in_flight = self._in_flight.get(key, 0)
        if in_flight:
            self._drop_locked(f"{prefix} (in flight: the server may have it, unconfirmed)", in_flight)
            count -= in_flight
        if count:
            self._drop_locked(f"{prefix} (waiting their turn, no failure)", count)

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

    def _next_run(self) -> tuple[str, list[ApiCall]] | None:
        """Block until a lane is ready and take its next run; None once the transport is closed."""
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
                        calls = self._run_calls.get(key, 1)
                        run = take_run(lane, calls if calls == 1 or self._pipelining else 1)
                        self._in_flight[key] = len(run)
                        return key, run
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
            picked = self._next_run()
            if picked is None:
                return
            key, run = picked
            if key in self._failing and time.monotonic() > run[0].deadline:
                # Its session's server stopped answering and this call waited out its whole retry
                # time behind the one that gave up: one more timed-out attempt per queued call
                # would take a timeout each to drain.
                run = run[:1]
                outcomes = [Outcome(failure=_GAVE_UP_WAITING, gave_up=True)]
            else:
                for call in run:
                    call.attempts += 1
                try:
                    outcomes = self._send_run(run)
                except Exception as exc:  # a failure of the SDK's own: drop the call, keep the lane going
                    head = run[0]
                    logger.debug("sentrial: could not send %s %s", head.method, head.path, exc_info=True)
                    failure = f"{type(exc).__name__} while sending {head.method} {head.path}"
                    outcomes = [Outcome(failure=failure)] + [Outcome(unanswered=True) for _ in run[1:]]
            with self._lock:
                if self._closed:
                    return
                accepted_whole = self._settle_locked(key, run, outcomes)
            if not accepted_whole:
                self._warn_drops()

    def _honour_server_wait(self, call: ApiCall, due: float) -> None:
        """The server asked (Retry-After) for a retry at ``due``: keep the call until then even
        past its retry time, by at most the longest honoured wait."""
        keep_until = call.queued_at + self._retry_timeout + self._max_retry_after
        call.deadline = max(call.deadline, min(due, keep_until))

    def _settle_locked(self, key: str, run: list[ApiCall], outcomes: list[Outcome]) -> bool:
        """Take the run off the head of its lane: what the server took counts as sent, what it
        refused is retried or dropped, and the lane goes back to wait for its next turn. Returns
        whether the server took the whole run.

        Behind a failed call, a call refused for a transient reason goes back to the lane with it,
        to be sent after it. Behind a session's opening, a call refused for good goes back too: it
        may have failed only because of the opening (an event whose session's opening was refused
        gets a 404; so does one sent with the SDK's session id when the server answered the
        opening with an id of its own). Sent again, it is judged on its own.
        """
        lane = self._lanes[key]
        for _ in run:
            lane.popleft()
        again: list[ApiCall] = []  # back to the head of the lane, in order
        retry_due: float | None = None
        trouble = None
        failed_before = opened_before = False  # an earlier call of the run failed / opened a session
        accepted_whole = True
        stats = self._stats
        for call, outcome in zip(run, outcomes, strict=True):
            if outcome.failure is None and not outcome.unanswered:  # the common case, inline
                stats.sent += 1
                stats.pending -= 1
                stats.pending_bytes -= call.size
                self._failing.discard(key)
                opened_before = opened_before or call.opens_session
                continue
            accepted_whole = False
            if outcome.unanswered:
                call.attempts -= 1
                again.append(call)
                continue
            if (failed_before and outcome.retry_in is not None) or opened_before:
                now = time.monotonic()
                if outcome.retry_in is not None:
                    if outcome.server_wait is not None:
                        self._honour_server_wait(call, now + outcome.retry_in)
                    if retry_due is None:
                        retry_due, trouble = now + outcome.retry_in, outcome.failure
                self._stats.retried += 1
                again.append(call)
            else:
                failure, gave_up = outcome.failure, outcome.gave_up
                assert failure is not None  # the successes went on above
                now = time.monotonic()
                if outcome.retry_in is not None:
                    if outcome.server_wait is not None:
                        self._honour_server_wait(call, now + outcome.retry_in)
                    if now + outcome.retry_in <= call.deadline:
                        self._stats.retried += 1
                        retry_due, trouble = now + outcome.retry_in, failure
                        again.append(call)
                        failed_before = True
                        continue
                    failure, gave_up = f"gave up retrying: {failure}", True
                self._forget_locked(call)
                self._drop_locked(failure)
                if gave_up:
                    self._failing.add(key)
            failed_before = failed_before or outcome.failure is not None
            opened_before = opened_before or call.opens_session
        if again:
            lane.extendleft(reversed(again))
        del self._in_flight[key]
        self._run_calls[key] = next_run_calls(self._run_calls.pop(key, 1), accepted_whole)
        if len(self._run_calls) > _MAX_REMEMBERED_LANES:  # the lane whose run ended longest ago
            del self._run_calls[next(iter(self._run_calls))]
        if not lane:
            del self._lanes[key]
            self._failing.discard(key)
            self._troubles.pop(key, None)
        elif retry_due is not None:
            self._troubles[key] = trouble or "retrying"
            heapq.heappush(self._backing_off, (retry_due, next(self._seq), key))
            self._work.notify()
        else:
            self._troubles.pop(key, None)
            self._ready.append(key)
            self._work.notify()
        if stats.pending == 0:
            self._idle.notify_all()
        return accepted_whole

    def _forget_locked(self, call: ApiCall) -> None:
        """A call is done with (sent or dropped): it no longer counts as pending."""
        self._stats.pending -= 1
        self._stats.pending_bytes -= call.size

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
    def _send_run(self, run: list[ApiCall]) -> list[Outcome]:
        """Send the run pipelined on the free connection used last (a new one if none is free);
        one outcome per call. Not each worker's own: the workers take turns, so a session sending
        a call at a time would go round all their connections, and servers close idle ones."""
        try:
            connection = self._free_connections.pop()  # pop and append are atomic: no lock
        except IndexError:
            connection = Connection(self._base_url, self._timeout, self._headers)
            with self._lock:
                self._connections.append(connection)
        try:
            fresh = not connection.is_open
            requests = [(call.method, *wire_request(call, self._ids)) for call in run]
            answers, failure = connection.pipeline(requests)
            if (
                len(run) > 1
                and self._pipelining
                and not self._pipelining.after_run(fresh, len(run), answers, failure)
            ):
                logger.info("Sentrial: %s takes no pipelined requests; sending one at a time", self._base_url)
            return outcomes_of(run, answers, failure, self._judge, connection.describe_failure)
        finally:
            self._free_connections.append(connection)

    def _judge(self, call: ApiCall, response: Response) -> Outcome:
        outcome = judge_answer(call, response, self._max_retry_after)
        if outcome.failure is None and call.opens_session:
            self._learn_session_id(call, response)
        return outcome

    def _learn_session_id(self, call: ApiCall, response: Response) -> None:
        try:
            answer = response.json()
            if call.answer_id_under is not None:
                answer = answer.get(call.answer_id_under)
            server_id = answer.get("id")
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


def _megabytes(size: int) -> str:
    """A byte count as the byte budget is told: '64 MB', '0.5 MB'."""
    return f"{size / 1_048_576:.3g} MB"
