"""The SpanExporter that turns finished spans into Sessions API calls."""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from sentrial_otel_exporter import experiments, foreign, mapping
from sentrial_otel_exporter import semconv as sc
from sentrial_otel_exporter.agents import trace_session_agent
from sentrial_otel_exporter.calls import ApiCall
from sentrial_otel_exporter.forks import after_fork_in_child
from sentrial_otel_exporter.spans import attributes_of
from sentrial_otel_exporter.state import SessionState
from sentrial_otel_exporter.transport import DEFAULT_MAX_PENDING_BYTES, DeliveryStats, Transport

logger = logging.getLogger("sentrial")

# The SDK's client reads the same variables and default (sentrial._config imports them from here).
DEFAULT_API_URL = "https://api.sentrial.com"
ENV_API_KEY = "SENTRIAL_API_KEY"
ENV_API_URL = "SENTRIAL_API_URL"

_MAX_TRACKED_SESSIONS = 100_000
# A trace's session takes every total from its events.
_TRACE_TOTALS = ("estimatedCost", "promptTokens", "completionTokens", "totalTokens")
# Completions remembered for events that end after them; such events come within seconds.
_MAX_REMEMBERED_COMPLETIONS = 10_000
# Traces whose root ended before any of their LLM or tool spans arrived (spans received out of order).
_MAX_REMEMBERED_ROOTS = 10_000


@dataclass
class _SessionBook:
    lane: str
    totals: mapping.SessionTotals = field(default_factory=mapping.SessionTotals)
    state: SessionState = field(default_factory=SessionState)
    per_trace: bool = False  # a trace's session, opened here by its first LLM or tool span
    opened_here: bool = True  # False in a forked child for the sessions its parent opened
    failure: str | None = None  # a trace's session: why its first failed LLM call failed
    last_seen: float = 0.0  # a trace's session: when its latest span arrived (time.monotonic)
    first_start: int = 0  # a trace's session: the earliest start and latest end of its spans (ns)
    last_end: int = 0


@dataclass
class _Completed:
    """A session completed here, kept a while for the events that end after its completion."""

    book: _SessionBook
    outcome: dict[str, Any]  # the completion's status and success (not its texts: memory)
    filled: tuple[str, ...]  # the totals it took from the events


class SentrialSpanExporter(SpanExporter):
    """Exports Sentrial spans to a Sessions API server; ``export()`` never waits on the network.

    Settings not given as arguments come from ``SENTRIAL_API_KEY`` and ``SENTRIAL_API_URL``, so
    OpenTelemetry can build it with no arguments. Per session the calls go out in order (open,
    events in the order they ended, complete); sessions go out in parallel. At most
    ``max_pending`` requests holding at most ``max_pending_bytes`` wait; past that new ones are
    dropped and counted.
    """

    # The settings the exporter passes on to its Transport, so the two signatures are alike by nature.
    def __init__(
        self,
        api_key: str | None = None,
        api_url: str | None = None,
        *,
        timeout: float = 10.0,
        retry_timeout: float = 30.0,
        workers: int = 16,
        max_pending: int = 10_000,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
    ) -> None:
        url = api_url or os.environ.get(ENV_API_URL) or DEFAULT_API_URL
        self._transport = Transport(
            url,
            api_key=api_key or os.environ.get(ENV_API_KEY) or None,
            timeout=timeout,
            retry_timeout=retry_timeout,
            workers=workers,
            max_pending=max_pending,
            max_pending_bytes=max_pending_bytes,
        )
        self._books: OrderedDict[str, _SessionBook] = OrderedDict()
        self._completed: OrderedDict[str, _Completed] = OrderedDict()  # the latest completions
        self._ended_roots: OrderedDict[str, mapping.TraceEnd] = OrderedDict()
        self._lock = threading.Lock()
        self._shut_down = False
        after_fork_in_child(self._start_over_in_child)

    @property
    def api_url(self) -> str:
        """The Sessions API server the calls go to."""
        return self._transport.base_url

    @property
    def stats(self) -> DeliveryStats:
        """Counters of sent, retried, dropped and pending requests."""
        return self._transport.stats()

    @property
    def pending_bytes(self) -> int:
        """What the requests waiting to be sent hold, in bytes."""
        return self._transport.pending_bytes

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Map the spans to API calls and queue them for delivery."""
        if self._shut_down:
            return SpanExportResult.FAILURE
        calls: list[ApiCall] = []
        for span in spans:
            try:
                calls.extend(self._calls_for(span))
            except Exception:  # one malformed span must not cost the rest of the batch
                logger.exception("sentrial: could not map span %r; skipped", span.name)
        self._transport.submit(calls)
        return SpanExportResult.SUCCESS

    def flush(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for delivery; True when everything was delivered."""
        return self._transport.flush(timeout)

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """OpenTelemetry's flush: wait for delivery of everything exported so far."""
        return self.flush(timeout_millis / 1000)

    def shutdown(self, timeout_millis: float = 5000) -> None:
        """Deliver what is queued (at most ``timeout_millis``), then stop."""
        self._shut_down = True
        self._transport.shutdown(timeout_millis / 1000)

    def _start_over_in_child(self) -> None:
        # The batch worker that maps spans may have held the lock at the fork. The books stay: the
        # child may record into sessions the parent opened, whose opening the parent may not have
        # sent yet.
        self._lock = threading.Lock()
        for book in self._books.values():
            book.opened_here = False

    # --- mapping with the session state ---------------------------------------------------------
    def _calls_for(self, span: ReadableSpan) -> list[ApiCall]:
        attrs = attributes_of(span)
        own_kind = mapping.kind_in(attrs)  # the Sentrial SDK's spans carry theirs
        if own_kind == sc.KIND_EXPERIMENT_RUN:
            return self._run_calls(span)
        if own_kind is None:  # another instrumentation's span, in its own terms
            span = foreign.in_sentrial_terms(span)
            attrs = attributes_of(span)
        kind = mapping.kind_in(attrs)
        sid = mapping.session_in(attrs)
        if sid is None:  # only without the SDK, which gives every span it exports a session
            # A span of the SDK outside any session (an @tool called on its own) joins none.
            return self._trace_session_calls(span, kind, joins=own_kind is None)
        if kind is None and not mapping.is_genai_span(attrs):
            return []
        if kind == sc.KIND_STATE:
            self._update_state(sid, span)
            return []
        if kind == sc.KIND_SESSION:
            if mapping.is_open_snapshot(span):
                if mapping.is_external(span):
                    return []
                return [mapping.open_session_call(span, self._open_book(sid, span).lane)]
            book = self._close_book(sid)
            completion = mapping.complete_session_call(
                span, book.lane if book else sid, book.totals if book else None
            )
            if book is not None and completion.body is not None:
                outcome = {key: completion.body[key] for key in ("status", "success")}
                self._remember_completed(sid, _Completed(book, outcome, mapping.totals_from_events(span)))
            return [completion]
        with self._lock:
            book = self._books.get(sid)
            completed = self._completed.get(sid) if book is None else None
        if completed is not None:
            return self._late_event_calls(span, completed)
        mapped = mapping.event_call(span, book.lane if book else sid)
        if mapped is None:
            return []
        call, usage = mapped
        call.session_opened_elsewhere = book is None or not book.opened_here
        if book is not None:
            with self._lock:
                book.totals.add(usage)
                book.state.around(call)
        return [call]

    def _update_state(self, sid: str, span: ReadableSpan) -> None:
        """A state span: its keys join the session's state (no request is sent for it)."""
        attrs = attributes_of(span)
        with self._lock:
            book = self._books.get(sid)
            if book is not None:
                book.state.update(
                    mapping.load_json(attrs.get(sc.STATE_UPDATE)), attrs.get(sc.STATE_REPLACE) is True
                )

    def _run_calls(self, span: ReadableSpan) -> list[ApiCall]:
        """An experiment run: opened from its snapshot, completed when it ends. The sessions begun
        inside it share its lane, so the run is opened before them and completed after them."""
        run = experiments.run_id(span)
        if run is None:
            return []
        if mapping.is_open_snapshot(span):
            with self._lock:
                self._books[run] = _SessionBook(lane=run)
            opening = experiments.open_run_call(span, run)
            return [opening] if opening is not None else []
        with self._lock:
            self._books.pop(run, None)
        completion = experiments.complete_run_call(span, run)
        return [completion] if completion is not None else []

    def _late_event_calls(
        self, span: ReadableSpan, completed: _Completed, session: str | None = None
    ) -> list[ApiCall]:
        """An event that ended after its session's completion (an LLM stream read after
        ``finish()``, a span received after its trace's root): sent after it, then the completion's
        totals again, this event counted."""
        mapped = mapping.event_call(span, completed.book.lane, session=session)
        if mapped is None:
            return []
        call, usage = mapped
        with self._lock:
            completed.book.totals.add(usage)
            completed.book.state.around(call)
            totals = mapping.SessionTotals(**vars(completed.book.totals))
        counts = usage.cost or usage.total_tokens or usage.prompt_tokens or usage.completion_tokens
        if not (completed.filled and counts):
            return [call]
        late = mapping.late_totals_call(call.session, call.lane, completed.outcome, completed.filled, totals)
        return [call, late]

    def _remember_completed(self, sid: str, completed: _Completed) -> None:
        with self._lock:
            self._completed[sid] = completed
            if len(self._completed) > _MAX_REMEMBERED_COMPLETIONS:
                self._completed.popitem(last=False)

    def _trace_session_calls(self, span: ReadableSpan, kind: str | None, joins: bool) -> list[ApiCall]:
        """Used alone on an app's provider (or behind the relay): the LLM and tool spans outside any
        session join their trace's session, opened by the first such span and completed when the
        trace's local root span ends (or, see :meth:`end_quiet_traces`, when the trace goes quiet)."""
        sid = mapping.trace_session_id(span)
        if sid is None:
            return []
        calls: list[ApiCall] = []
        event = kind == sc.KIND_TOOL_CALL or (kind is None and mapping.is_genai_span(attributes_of(span)))
        if joins and event:
            with self._lock:
                book = self._books.get(sid)
                completed = self._completed.get(sid) if book is None else None
                if book is None and completed is None:
                    book = self._books[sid] = _SessionBook(lane=sid, per_trace=True)
                    book.first_start = span.start_time or 0
                    calls.append(mapping.open_trace_session_call(span, sid, trace_session_agent(span)))
                oldest = next(iter(self._books)) if len(self._books) > _MAX_TRACKED_SESSIONS else None
            if oldest is not None:  # bounded memory: the oldest open trace ends as if it went quiet
                calls.extend(self._end_quietly([oldest]))
            if completed is not None:
                return self._late_event_calls(span, completed, session=sid)
            assert book is not None
            mapped = mapping.event_call(span, sid, session=sid)
            if mapped is not None:
                calls.append(mapped[0])
            with self._lock:
                if mapped is not None:
                    book.totals.add(mapped[1])
                    book.state.around(mapped[0])
                book.failure = book.failure or mapping.failed_llm_call(span)
                book.last_seen = time.monotonic()
                book.first_start = min(book.first_start, span.start_time or book.first_start)
                book.last_end = max(book.last_end, span.end_time or 0)
                ended_first = self._ended_roots.pop(sid, None)
            if ended_first is not None:  # its root came first: the trace ended already
                calls.extend(filter(None, [self._end_trace(sid, ended_first)]))
        if mapping.is_local_root(span):
            end = mapping.trace_end(span)
            with self._lock:
                book = self._books.get(sid)
                if book is None or not book.per_trace:
                    if sid not in self._completed:
                        self._ended_roots[sid] = end
                        if len(self._ended_roots) > _MAX_REMEMBERED_ROOTS:
                            self._ended_roots.popitem(last=False)
                    return calls
            calls.extend(filter(None, [self._end_trace(sid, end)]))
        return calls

    def _end_trace(self, sid: str, end: mapping.TraceEnd) -> ApiCall | None:
        """Complete a trace's session (its book leaves, its completion is remembered for late spans);
        None when it was completed already."""
        with self._lock:
            book = self._books.pop(sid, None)
        if book is None:
            return None
        if end.failure is None and book.failure is not None:
            end = dataclasses.replace(end, failure=book.failure)
        completion = mapping.complete_trace_session_call(sid, end, book.totals)
        assert completion.body is not None
        outcome = {key: completion.body[key] for key in ("status", "success")}
        self._remember_completed(sid, _Completed(book, outcome, _TRACE_TOTALS))
        return completion

    def end_quiet_traces(self, quiet_s: float) -> int:
        """Complete the trace sessions that received no span for ``quiet_s`` seconds (their root may
        never come: it was not sent here, or not sampled); returns how many were completed."""
        cutoff = time.monotonic() - quiet_s
        with self._lock:
            quiet = [sid for sid, b in self._books.items() if b.per_trace and b.last_seen <= cutoff]
        calls = self._end_quietly(quiet)
        self._transport.submit(calls)
        return len(calls)

    def _end_quietly(self, sids: list[str]) -> list[ApiCall]:
        """Complete trace sessions without their root: a success unless an LLM call failed, lasting
        from their first span's start to their last span's end."""
        calls = []
        for sid in sids:
            with self._lock:
                book = self._books.get(sid)
            if book is None or not book.per_trace:
                continue
            duration = max(0, (book.last_end - book.first_start) // 1_000_000) if book.last_end else None
            completion = self._end_trace(sid, mapping.TraceEnd(None, duration))
            if completion is not None:
                calls.append(completion)
        return calls

    def _open_book(self, sid: str, span: ReadableSpan) -> _SessionBook:
        parent = mapping.parent_session_id(span) or experiments.run_id(span)
        with self._lock:
            parent_book = self._books.get(parent) if parent else None
            # A sub-session shares its root's lane, so its parent is always opened before it (a
            # session begun in an experiment run shares the run's, for the same reason). One whose
            # parent another process opens (a forked child's, under the parent's current
            # interaction) cannot be ordered after that opening anyway: it takes a lane of its own.
            shared = parent_book is not None and parent_book.opened_here
            book = _SessionBook(
                lane=parent_book.lane if parent_book and shared else sid, state=mapping.initial_state(span)
            )
            self._books[sid] = book
            if len(self._books) > _MAX_TRACKED_SESSIONS:
                self._books.popitem(last=False)
        return book

    def _close_book(self, sid: str) -> _SessionBook | None:
        with self._lock:
            return self._books.pop(sid, None)
