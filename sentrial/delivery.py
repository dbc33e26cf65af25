"""One client's way out of the process: batching, then redaction, then every exporter.

The app thread only hands a span to a BatchSpanProcessor (a queue). On its worker thread, a fan-out
exporter makes one redacted copy of each span and gives that same copy to the Sentrial exporter and
to every other exporter Sentrial set up (each behind a BatchSpanProcessor of its own). So redaction
runs once per span, off the app thread, and nothing unredacted leaves through Sentrial's pipeline.

What waits is bounded in spans and in bytes (``max_queue_bytes``). The exporter counts the bytes
of its requests exactly. The spans waiting in the batch queue are not all measured on the app
thread (that would cost every tracked event): the worker measures one span in ``_MEASURE_EVERY``
of those it takes, the app thread one in ``_SAMPLE_EVERY`` (so that a jump in size is seen before
the worker takes a batch), and from their size and the room the exporter's requests leave in the
byte budget the delivery sets how many spans may wait.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import TraceFlags

from sentrial import semconv
from sentrial._config import Settings
from sentrial.redact import Redactor
from sentrial_otel_exporter.drops import DropLog
from sentrial_otel_exporter.exporter import SentrialSpanExporter
from sentrial_otel_exporter.forks import after_fork_in_child
from sentrial_otel_exporter.spans import attributes_of

logger = logging.getLogger("sentrial")

_OPENING_HEADROOM = 64
# The batch worker holds its work while the app is tracking in a burst: until no span was handed on
# for _QUIET_S, but never longer than _MAX_HOLD_S, so a steady stream still goes out.
_QUIET_S = 0.002
_MAX_HOLD_S = 0.25
_LONGEST_LOOK_S = 0.016  # the longest the worker waits between two looks at a running burst
# What a span holds besides the text of its attributes (the span object, ids, numbers), roughly.
_SPAN_OVERHEAD_BYTES = 1024
_SAMPLE_EVERY = 64  # a power of two: the app thread tests it with a mask
_MEASURE_EVERY = 8  # the batch worker measures one span in this many of those it takes
_QUEUE_FULL = "queue full"
_OVER_BYTE_BUDGET = "byte budget"
_SAMPLED = TraceFlags.SAMPLED


class SentrialOnlySpan(ReadableSpan):
    """A span made up for the Sentrial exporter alone (a session's opening, a trace session's end)."""


def session_snapshot(span: Span) -> SentrialOnlySpan:
    """A frozen copy of a session span as it starts: the exporter opens the session from it."""
    # The SDK span's fields read directly: each of its properties is a Python call, on every begin().
    try:
        name, ids, parent, resource = span._name, span._context, span._parent, span._resource
        kind, start, scope = span._kind, span._start_time, span._instrumentation_scope
    except AttributeError:  # an SDK whose span keeps them elsewhere: its public properties
        name, ids, parent, resource = span.name, span.context, span.parent, span.resource
        kind, start, scope = span.kind, span.start_time, span.instrumentation_scope
    return SentrialOnlySpan(
        name,
        ids,
        parent,
        resource,
        dict(attributes_of(span)),
        kind=kind,
        start_time=start,
        instrumentation_scope=scope,
    )


def _is_for_sentrial(span: ReadableSpan) -> bool:
    """The router gives every span meant for Sentrial a session or a kind; the rest is for the others."""
    attributes = attributes_of(span)
    return semconv.SESSION_ID in attributes or semconv.SPAN_KIND in attributes


class _RedactingFanOut(SpanExporter):
    """Redacts each span of a batch once and hands the copy to every exporter behind it.

    ``others`` are the processors of the other exporters it feeds; it shuts down only those of
    ``owned`` (the provider's shared exporters live on after this client).
    """

    def __init__(
        self, delivery: Delivery, others: Sequence[BatchSpanProcessor], owned: Sequence[BatchSpanProcessor]
    ) -> None:
        self._delivery = delivery
        self._others = others
        self._owned = owned

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._delivery.wait_for_pause()
        self._delivery.left_queue(spans)
        redactor = self._delivery.redactor
        for_sentrial: list[ReadableSpan] = []
        for span in spans:
            try:
                redacted = span if redactor is None else redactor.redact_span(span)
            except Exception:  # never let a span out unredacted: drop it, loudly
                logger.exception("sentrial: could not redact span %r; it was dropped", span.name)
                continue
            if _is_for_sentrial(span):
                for_sentrial.append(redacted)
            if not isinstance(span, SentrialOnlySpan):
                for other in self._others:
                    other.on_end(redacted)
        exporter = self._delivery.exporter
        result = SpanExportResult.SUCCESS
        if exporter is not None and for_sentrial:
            result = exporter.export(for_sentrial)
        self._delivery.bound_by_bytes()
        return result

    def shutdown(self) -> None:
        for other in self._owned:
            other.shutdown()  # type: ignore[no-untyped-call]
        if self._delivery.exporter is not None:
            self._delivery.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _Watched(SpanExporter):
    """Another exporter, noting whether an export of it failed since the last look: OTel's
    BatchSpanProcessor.force_flush says True even when the export behind it failed."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter
        self.kept_open = False  # the exporter went on to another client: not shut down with this one
        self._failed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.exporter.export(spans)
        except BaseException:
            self._failed = True
            raise
        if result is not SpanExportResult.SUCCESS:
            self._failed = True
        return result

    def took_failure(self) -> bool:
        """Whether an export failed since the last call."""
        failed, self._failed = self._failed, False
        return failed

    def shutdown(self) -> None:
        if not self.kept_open:
            self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class SharedExporters:
    """Exporters that every client recording on one provider feeds: those ``OTEL_TRACES_EXPORTER``
    names. Each client hands them its own spans, redacted its own way, so each span reaches them
    once; they are shut down with the provider, never with a client."""

    def __init__(self, exporters: Sequence[SpanExporter]) -> None:
        self.watched = [_Watched(exporter) for exporter in exporters]
        self.processors = [BatchSpanProcessor(watched) for watched in self.watched]

    def shutdown(self) -> None:
        """Export what they hold, then stop them."""
        for processor in self.processors:
            processor.shutdown()  # type: ignore[no-untyped-call]


def _within(deadline: float | None, work: Callable[[], object], name: str) -> bool:
    """Run ``work`` on a thread of its own and wait for it until ``deadline`` (monotonic seconds);
    True when it ended in time. Another exporter's hung request must not hold a flush or the
    process's exit past its timeout: left behind, it goes on in the background."""
    done = threading.Event()

    def run() -> None:
        try:
            work()
        except Exception:
            logger.exception("sentrial: %s failed", name)
        finally:
            done.set()

    threading.Thread(target=run, name=name, daemon=True).start()
    return done.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))


class Delivery:
    """One client's delivery: batching, redaction, the Sentrial exporter and any others.

    ``redactor`` may be swapped at any time (``pii=True`` swaps in the server's settings when they
    arrive); spans already queued are redacted with whichever is in force when they go out.
    """

    def __init__(
        self,
        settings: Settings,
        redactor: Redactor | None = None,
        additional_exporters: Sequence[SpanExporter] = (),
        shared: SharedExporters | None = None,
    ) -> None:
        self.settings = settings
        self.redactor = redactor
        # Registered before the batcher exists: in a child, this reset runs before OTel restarts the
        # batch worker, which calls into this object.
        after_fork_in_child(self._set_up_queue)
        self.exporter: SentrialSpanExporter | None = None
        if settings.can_send:
            self.exporter = SentrialSpanExporter(
                api_key=settings.api_key,
                api_url=settings.api_url,
                timeout=settings.timeout,
                retry_timeout=settings.retry_timeout,
                max_pending=settings.queue_size,
                max_pending_bytes=settings.max_queue_bytes,
            )
        self._own_watched = [_Watched(exporter) for exporter in additional_exporters]
        own = [BatchSpanProcessor(watched) for watched in self._own_watched]
        self._watched = self._own_watched + (shared.watched if shared is not None else [])
        self._others = own + (shared.processors if shared is not None else [])
        self.others_short: list[str] = []  # the other exporters the last flush did not see through
        self.takes_every_span = bool(self._others)  # other exporters want every span, not only Sentrial's
        self._batcher: BatchSpanProcessor | None = None
        if self.exporter is not None or self._others:
            self._batcher = BatchSpanProcessor(
                _RedactingFanOut(self, self._others, own),
                # Headroom above the bound, so that a session's opening is never the span OTel drops.
                max_queue_size=settings.queue_size + _OPENING_HEADROOM,
                schedule_delay_millis=settings.schedule_delay_ms,
                max_export_batch_size=settings.batch_size,
            )
        self._enqueue = _enqueuer(self._batcher)
        self._queue_size = settings.queue_size
        self._byte_budget = settings.max_queue_bytes
        self._fewest_spans = settings.batch_size  # the span bound never goes below one batch
        self._last_handed_on = 0.0  # time.monotonic() of the latest hand_on
        self._set_up_queue()
        self.closed = False  # read for every span routed here: a plain attribute, not a property

    def _set_up_queue(self) -> None:
        """Nothing queued, dropped or held. Also a forked child's start: OTel empties the batch
        queue there."""
        self._numbers = itertools.count()  # numbers the spans handed on (dropped ones too)
        self._last_number = -1
        self._taken = 0  # spans the fan-out took off the queue
        self._dropped = 0
        self._dropped_at_flush = 0
        self._drop_log = DropLog()
        # How many spans may wait: the queue size, less when the byte budget has no room for them.
        self._span_limit = self._queue_size
        self._bytes_per_span: float | None = None  # learnt from the spans the worker took
        self._lock = threading.Lock()
        self._flushing = 0  # flush() calls running: the batch worker stops holding its work
        self._hurry = threading.Event()  # set while a flush or shutdown wants the work done now
        self._hold_began: float | None = None  # when the batch worker began holding for a pause
        self._pause_confirmed_at = -1  # the span number at the app's latest confirmed pause
        self._last_look = (0.0, -1)  # the batch worker's latest look: when, and the span number then

    @property
    def dropped(self) -> int:
        """Spans dropped because the queue was full."""
        return self._dropped

    def session_started(self, span: Span) -> None:
        """Hand on the opening snapshot of a session span, ahead of all its events."""
        self.hand_on(session_snapshot(span))

    def hand_on(self, span: ReadableSpan) -> None:
        """Queue a finished span (or a Sentrial-only one) for redaction and export.

        Past the queue size a new span is dropped, counted and reported (a session's opening always
        gets in, so the session's later events still have a session to go to).
        """
        if self._batcher is None or self.closed:
            return
        self._last_handed_on = time.monotonic()
        # The app threads number their spans with next(), which the GIL makes atomic: no lock here.
        number = self._last_number = next(self._numbers)
        if number - self._taken - self._dropped >= self._span_limit and not isinstance(
            span, SentrialOnlySpan
        ):
            self._drop()
            return
        if not number & (_SAMPLE_EVERY - 1):
            self._sample(span)
        ids = span._context  # what the batch processor's on_end tests first: sampled spans only
        if ids is not None and ids.trace_flags & _SAMPLED:
            self._enqueue(span)

    def _sample(self, span: ReadableSpan) -> None:
        """A span measured on the app thread: larger than the spans the worker took, it lowers
        at once how many may wait."""
        size = _span_bytes(span)
        if size > (self._bytes_per_span or 0.0):
            self._bytes_per_span = float(size)
            self.bound_by_bytes()

    def _drop(self) -> None:
        with self._lock:
            self._dropped += 1
        self._drop_log.add(_OVER_BYTE_BUDGET if self._span_limit < self._queue_size else _QUEUE_FULL)
        self._warn_drops()

    def _waiting(self) -> int:
        """About how many spans were handed on and not yet taken by the fan-out (or dropped)."""
        return self._last_number + 1 - self._taken - self._dropped

    def wait_for_pause(self) -> None:
        """Hold the background work while the app hands on spans back to back.

        Redacting, mapping and sending take the same GIL as the application; done in the middle of
        a burst of tracking calls, they stretch every call of it. Done in the pause after it (an
        agent pauses for every LLM call), they cost the app thread nothing. The worker looks again
        after ever longer waits, so that a burst is not interrupted every few milliseconds. A hold
        ends with the burst, with a flush or a shutdown, when the queue is half full, or
        ``_MAX_HOLD_S`` after it began: then the worker does not hold again before the app pauses,
        so a steady stream still goes out.
        Runs on the batch worker only (a flush exports on its own thread, and never holds).
        """
        # The worker calls this for every span it exports: the common cases answer without a look.
        # A confirmed pause lasts until the next span (the worker exports span after span in it).
        if self._flushing or self.closed or self._last_number == self._pause_confirmed_at:
            return
        if self._hold_began is not None:  # the last hold gave up on a burst that still runs
            if time.monotonic() - self._last_handed_on < _QUIET_S:
                return
            self._hold_began = None  # the app paused since: its next burst is held again
        wait = _QUIET_S
        # A look of the previous call counts if it was recent: an app tracking every few
        # milliseconds is then seen pacing without another wait per span.
        looked, seen = self._last_look
        now = time.monotonic()
        if now - looked > _LONGEST_LOOK_S:
            looked = 0.0  # too long ago: a burst may have begun since, unseen
        while True:
            handed = self._last_number - seen
            # Paused: no span, or spans at least _QUIET_S apart, all along a wait since the last
            # look that let the app run. A look alone that finds the app quiet does not do: the app
            # may only have been off the CPU (another process's turn, a garbage collection) while
            # this worker waited for the GIL, and be in the middle of its burst.
            paused = bool(looked) and handed * _QUIET_S <= now - looked
            looked, seen = now, self._last_number
            self._last_look = looked, seen
            if paused and not handed:
                self._pause_confirmed_at = seen
            # A queue half full ends the hold too: holding must never be what makes it overflow.
            # Nor does it hold before it measured a span: the byte budget may allow only a few.
            if (
                self._flushing
                or self.closed
                or paused
                or self._bytes_per_span is None
                or self._waiting() * 2 >= self._span_limit
            ):
                self._hold_began = None
                return
            if self._hold_began is None:
                self._hold_began = now
            give_up = self._hold_began + _MAX_HOLD_S
            if now >= give_up:
                return
            quiet = now - self._last_handed_on >= _QUIET_S  # then one more look confirms it
            self._hurry.wait(min(_QUIET_S if quiet else wait, give_up - now))
            wait = min(wait * 2, _LONGEST_LOOK_S)
            now = time.monotonic()

    def left_queue(self, spans: Sequence[ReadableSpan]) -> None:
        """Note that the fan-out took ``spans`` off the queue, and learn how large spans are."""
        with self._lock:
            before = self._taken
            self._taken += len(spans)
        if not spans:
            return
        # Measuring is a Python loop over a span's attributes (about 16k instructions for an LLM
        # span): one span in _MEASURE_EVERY is measured here, besides the app thread's samples.
        first = -before % _MEASURE_EVERY
        if first >= len(spans):
            if self._bytes_per_span is not None:
                return
            first = 0  # nothing measured yet: the hold and the span bound wait for a size
        measured = spans[first::_MEASURE_EVERY]
        size = sum(map(_span_bytes, measured)) / len(measured)
        known = self._bytes_per_span
        # Up at once with larger spans, down slowly: a few small spans must not let in a flood of large.
        self._bytes_per_span = size if known is None or size > known else 0.9 * known + 0.1 * size

    def bound_by_bytes(self) -> None:
        """Set how many spans may wait: as many as fit in the room the byte budget has left
        besides the exporter's waiting requests, within the queue size (worker side)."""
        per_span = self._bytes_per_span
        if per_span is None:
            return
        room = self._byte_budget - (self.exporter.pending_bytes if self.exporter is not None else 0)
        self._span_limit = min(self._queue_size, max(self._fewest_spans, int(room // per_span)))

    def _warn_drops(self, force: bool = False) -> None:
        drops = self._drop_log.take(force)
        if drops.get(_QUEUE_FULL):
            logger.warning(
                "sentrial: dropped %d span(s): more than %d were waiting to be sent (raise max_queue_size?)",
                drops[_QUEUE_FULL],
                self.settings.queue_size,
            )
        if drops.get(_OVER_BYTE_BUDGET):
            logger.warning(
                "sentrial: dropped %d span(s): what waited to be sent filled the byte budget "
                "(max_queue_bytes=%d)",
                drops[_OVER_BYTE_BUDGET],
                self._byte_budget,
            )

    def flush(self, timeout: float | None) -> bool:
        """Send everything handed on so far; True when all of it was delivered in time and nothing
        was dropped since the last flush."""
        if self._batcher is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._flushing += 1
            self._hurry.set()
        try:
            self._batcher.force_flush()  # redacts and hands on everything queued, on this thread
        finally:
            with self._lock:
                self._flushing -= 1
                if not self._flushing and not self.closed:
                    self._hurry.clear()
        delivered = self._flush_others(deadline) if self._others else True
        with self._lock:
            dropped, self._dropped_at_flush = self._dropped - self._dropped_at_flush, self._dropped
        self._warn_drops(force=True)
        if self.exporter is not None:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            delivered = self.exporter.flush(remaining) and delivered
        return delivered and not dropped

    @property
    def other_exporters(self) -> list[SpanExporter]:
        """The exporters besides Sentrial's that this client was given (not the provider's shared ones)."""
        return [watched.exporter for watched in self._own_watched]

    def keep_open(self, exporters: Sequence[SpanExporter]) -> None:
        """Leave ``exporters`` running when this delivery shuts down: another client feeds them now."""
        for watched in self._own_watched:
            if any(watched.exporter is exporter for exporter in exporters):
                watched.kept_open = True

    def _flush_others(self, deadline: float | None) -> bool:
        """Flush the other exporters until ``deadline`` at most; True when all of them finished in
        time and none failed an export since the last flush."""
        finished = _within(
            deadline, lambda: [other.force_flush() for other in self._others], "sentrial-flush"
        )
        failed = [type(w.exporter).__name__ for w in self._watched if w.took_failure()]
        self.others_short = failed if finished else [type(w.exporter).__name__ for w in self._watched]
        return finished and not failed

    def shutdown(self, timeout: float | None) -> bool:
        """Flush within ``timeout`` seconds, then stop at once: what is still undelivered is dropped
        (and counted), later spans are ignored."""
        if self.closed:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        delivered = self.flush(timeout)
        self.closed = True
        self._hurry.set()
        if self.exporter is not None:
            self.exporter.shutdown(timeout_millis=0)
        if self._batcher is not None:
            batcher = self._batcher
            if self._others:  # their shutdown exports what they hold: bounded like the flush
                _within(deadline, batcher.shutdown, "sentrial-shutdown")
            else:
                batcher.shutdown()  # type: ignore[no-untyped-call]
        return delivered


def _enqueuer(batcher: BatchSpanProcessor | None) -> Callable[[ReadableSpan], None]:
    """How ``hand_on`` queues a sampled span in ``batcher``: the queue behind it directly where the
    SDK has one (newer SDKs), else its ``on_end``. On every span, ``on_end`` would test again that
    it is sampled, through three Python properties: a third of what a span's hand-on costs."""
    if batcher is None:
        return lambda span: None
    emit = getattr(getattr(batcher, "_batch_processor", None), "emit", None)
    return emit if callable(emit) else batcher.on_end


def _span_bytes(span: ReadableSpan) -> int:
    """About what a span holds: the text of its attributes and its events' attributes, plus the
    span itself. Texts are counted in characters, which is their size for ASCII."""
    size = _SPAN_OVERHEAD_BYTES
    for value in attributes_of(span).values():
        if isinstance(value, str):
            size += len(value)
    # The events read without the property, which copies them into a new tuple on every read.
    for event in getattr(span, "_events", None) or ():
        for value in (event.attributes or {}).values():
            if isinstance(value, str):
                size += len(value)
    return size
