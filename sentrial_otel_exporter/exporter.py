"""The SpanExporter that turns finished spans into Sessions API calls."""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from sentrial_otel_exporter import mapping
from sentrial_otel_exporter import semconv as sc
from sentrial_otel_exporter.agents import trace_session_agent
from sentrial_otel_exporter.calls import ApiCall
from sentrial_otel_exporter.forks import after_fork_in_child
from sentrial_otel_exporter.state import SessionState
from sentrial_otel_exporter.transport import DEFAULT_MAX_PENDING_BYTES, DeliveryStats, Transport

logger = logging.getLogger("sentrial")

# The SDK's client reads the same variables and default (sentrial._config imports them from here).
DEFAULT_API_URL = "https://api.sentrial.com"
ENV_API_KEY = "SENTRIAL_API_KEY"
ENV_API_URL = "SENTRIAL_API_URL"

_MAX_TRACKED_SESSIONS = 100_000
# Completions remembered for events that end after them; such events come within seconds.
_MAX_REMEMBERED_COMPLETIONS = 10_000


@dataclass
class _SessionBook:
    lane: str
    totals: mapping.SessionTotals = field(default_factory=mapping.SessionTotals)
    state: SessionState = field(default_factory=SessionState)
    per_trace: bool = False  # a trace's session, opened here by its first LLM span
    opened_here: bool = True  # False in a forked child for the sessions its parent opened


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
        self._lock = threading.Lock()
        self._shut_down = False
        after_fork_in_child(self._start_over_in_child)

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
        kind = mapping.span_kind(span)
        sid = mapping.session_id(span)
        if sid is None:  # only without the SDK, which gives every span it exports a session
            return self._trace_session_calls(span, kind)
        if kind is None and not mapping.is_genai_span(span.attributes or {}):
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
                self._state_around(book, call, span)
        return [call]

    @staticmethod
    def _state_around(book: _SessionBook, call: ApiCall, span: ReadableSpan) -> None:
        """The event's stateBefore/stateAfter from its session's state (under the lock)."""
        if call.body is not None:
            book.state.around(call.body)

    def _update_state(self, sid: str, span: ReadableSpan) -> None:
        """A state span: its keys join the session's state (no request is sent for it)."""
        attrs = span.attributes or {}
        with self._lock:
            book = self._books.get(sid)
            if book is not None:
                book.state.update(
                    mapping.load_json(attrs.get(sc.STATE_UPDATE)), attrs.get(sc.STATE_REPLACE) is True
                )

    def _late_event_calls(self, span: ReadableSpan, completed: _Completed) -> list[ApiCall]:
        """An event that ended after its session's completion (an LLM stream read after
        ``finish()``): sent after it, then the completion's totals again, this event counted."""
        mapped = mapping.event_call(span, completed.book.lane)
        if mapped is None:
            return []
        call, usage = mapped
        with self._lock:
            completed.book.totals.add(usage)
            self._state_around(completed.book, call, span)
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

    def _trace_session_calls(self, span: ReadableSpan, kind: str | None) -> list[ApiCall]:
        """Used alone on an app's provider: an LLM span outside any session joins its trace's session,
        opened by the first such span and completed when the trace's local root span ends."""
        sid = mapping.trace_session_id(span)
        if sid is None:
            return []
        calls: list[ApiCall] = []
        if kind is None and mapping.is_genai_span(span.attributes or {}):
            with self._lock:
                book = self._books.get(sid)
                if book is None:
                    book = self._books[sid] = _SessionBook(lane=sid, per_trace=True)
                    calls.append(mapping.open_trace_session_call(span, sid, trace_session_agent(span)))
            mapped = mapping.event_call(span, sid, session=sid)
            if mapped is not None:
                calls.append(mapped[0])
                with self._lock:
                    book.totals.add(mapped[1])
                    self._state_around(book, mapped[0], span)
        if mapping.is_local_root(span):
            with self._lock:
                book = self._books.get(sid)
                if book is not None and book.per_trace:
                    del self._books[sid]
                else:
                    book = None
            if book is not None:
                calls.append(mapping.complete_trace_session_call(span, sid, book.totals))
        return calls

    def _open_book(self, sid: str, span: ReadableSpan) -> _SessionBook:
        parent = mapping.parent_session_id(span)
        with self._lock:
            parent_book = self._books.get(parent) if parent else None
            # A sub-session shares its root's lane, so its parent is always opened before it.
            book = _SessionBook(
                lane=parent_book.lane if parent_book else sid, state=mapping.initial_state(span)
            )
            self._books[sid] = book
            if len(self._books) > _MAX_TRACKED_SESSIONS:
                self._books.popitem(last=False)
        return book

    def _close_book(self, sid: str) -> _SessionBook | None:
        with self._lock:
            return self._books.pop(sid, None)
