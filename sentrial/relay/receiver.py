"""The relay's work on one OTLP request: decode, redact, map and queue through the exporter, answer.

The relay holds no state of its own across traces: the exporter's books hold each open trace's
session (its lane, totals and outcome) and forget it when the trace ends. Several relays can so run
side by side behind a load balancer that sends all spans of a trace to the same relay.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from sentrial.redact import PiiConfig, Redactor
from sentrial.relay import otlp
from sentrial_otel_exporter import SentrialSpanExporter, foreign
from sentrial_otel_exporter import semconv as sc
from sentrial_otel_exporter.transport import DEFAULT_MAX_PENDING_BYTES

logger = logging.getLogger("sentrial")

MAX_BODY = 32 * 1024 * 1024  # a request's body, also after decompression
DEFAULT_QUIET_S = 30.0
# What an LLM or tool span can turn into at most: its session's opening (or a late event's totals
# again) and its event; a root adds the completion. Other spans (HTTP, database) turn into nothing.
_CALLS_PER_EVENT_SPAN = 2
_CALL_BYTES = 512  # what a queued call holds besides its body (as the transport counts it)
# gRPC status codes that OTLP/HTTP error bodies carry.
_INVALID_ARGUMENT = 3
_RESOURCE_EXHAUSTED = 8
_UNAVAILABLE = 14


@dataclass
class Reply:
    """An HTTP answer to an OTLP request."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RelayCounters:
    """What the relay received and how it answered."""

    requests: int = 0
    spans: int = 0
    rejected_spans: int = 0  # spans of a request taken only in part (partial success)
    malformed_requests: int = 0  # answered 400
    refused_requests: int = 0  # answered 429: the delivery queue had no room


class Relay:
    """Turns OTLP trace requests into Sessions API calls, through :class:`SentrialSpanExporter`.

    ``api_url`` / ``api_key`` default to ``SENTRIAL_API_URL`` / ``SENTRIAL_API_KEY``. ``pii`` redacts
    every span before it is mapped (True: the default :class:`PiiConfig`). A trace whose root span
    never arrives is completed after ``quiet_s`` seconds without a span. When the delivery queue has
    no room for a request's calls, the request is refused with 429 and ``Retry-After``: the sender
    (an OTel SDK exporter, a Collector) sends it again later, and nothing is dropped.
    """

    def __init__(
        self,
        api_url: str | None = None,
        api_key: str | None = None,
        *,
        pii: PiiConfig | bool | None = None,
        quiet_s: float = DEFAULT_QUIET_S,
        max_pending: int = 50_000,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        retry_after_s: int = 1,
    ) -> None:
        self.exporter = SentrialSpanExporter(
            api_key, api_url, max_pending=max_pending, max_pending_bytes=max_pending_bytes
        )
        config = PiiConfig() if pii is True else pii or None
        self._redactor = Redactor(config, strict=True) if config is not None else None
        self._max_pending = max_pending
        self._max_pending_bytes = max_pending_bytes
        self._retry_after = str(retry_after_s)
        self._quiet_s = quiet_s
        self._counters = RelayCounters()
        self._lock = threading.Lock()  # one request's spans are mapped and queued at a time: order
        self._stop = threading.Event()
        self._sweeper = threading.Thread(
            target=self._end_quiet_traces, name="sentrial-relay-quiet", daemon=True
        )
        self._sweeper.start()

    def receive(self, body: bytes, content_type: str | None, content_encoding: str | None) -> Reply:
        """Answer one POST /v1/traces."""
        kind = otlp.PROTOBUF
        try:
            kind = otlp.media_type(content_type)
            body = otlp.unpacked(body, content_encoding, MAX_BODY)
            decoded = otlp.decode(body, kind)
        except otlp.OtlpError as exc:
            with self._lock:
                self._counters.requests += 1
                self._counters.malformed_requests += 1
            return Reply(400, otlp.error_body(kind, _INVALID_ARGUMENT, str(exc)), kind)
        spans = self._redacted(decoded)
        # Within a request, spans go in the order they started (an agent's LLM call that asked for a
        # tool may end after the tool, as Mastra's does: the timeline reads call, tool, call), and a
        # trace's root, which completes its session, after the rest.
        spans.sort(key=lambda span: (span.parent is None, span.start_time or 0))
        with self._lock:
            self._counters.requests += 1
            if not self._has_room(_calls_needed(spans), len(body)):
                self._counters.refused_requests += 1
                message = "the relay's delivery queue is full; retry later"
                return Reply(
                    429,
                    otlp.error_body(kind, _RESOURCE_EXHAUSTED, message),
                    kind,
                    {"Retry-After": self._retry_after},
                )
            self._counters.spans += len(spans)
            self._counters.rejected_spans += decoded.rejected
            self.exporter.export(spans)
        return Reply(200, otlp.answer(kind, decoded.rejected, decoded.reason), kind)

    def stats(self) -> dict[str, Any]:
        """The relay's counters and its delivery's (sent, retried, dropped, pending)."""
        with self._lock:
            counters = asdict(self._counters)
        return {**counters, "delivery": asdict(self.exporter.stats)}

    def flush(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds until everything received was delivered."""
        return self.exporter.flush(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (at most ``timeout`` seconds), then stop."""
        self._stop.set()
        self._sweeper.join(timeout)
        self.exporter.shutdown(timeout * 1000)

    def _redacted(self, decoded: otlp.Decoded) -> list[ReadableSpan]:
        if self._redactor is None:
            return decoded.spans
        spans = []
        for span in decoded.spans:
            try:
                spans.append(self._redactor.redact_span(span))
            except Exception:  # never let a span out unredacted: reject it, loudly
                logger.exception("sentrial relay: could not redact span %r; rejected", span.name)
                decoded.rejected += 1
                decoded.reason = decoded.reason or f"span {span.name!r} could not be redacted"
        return spans

    def _has_room(self, calls: int, body_bytes: int) -> bool:
        """Whether a request's calls fit the delivery queue. An empty queue takes any request: one
        larger than the whole queue would otherwise be refused for ever."""
        stats = self.exporter.stats
        if stats.pending == 0:
            return True
        if stats.pending + calls > self._max_pending:
            return False
        return stats.pending_bytes + calls * _CALL_BYTES + 2 * body_bytes <= self._max_pending_bytes

    def _end_quiet_traces(self) -> None:
        interval = max(0.05, self._quiet_s / 4)
        while not self._stop.wait(interval):
            try:
                with self._lock:
                    self.exporter.end_quiet_traces(self._quiet_s)
            except Exception:
                logger.exception("sentrial relay: could not complete quiet traces")


def _calls_needed(spans: list[ReadableSpan]) -> int:
    """At most how many API calls the spans of a request turn into."""
    calls = 0
    for span in spans:
        attrs = span.attributes or {}
        if sc.SPAN_KIND in attrs or foreign.is_llm_span(attrs) or foreign.is_tool_span(attrs):
            calls += _CALLS_PER_EVENT_SPAN
        if span.parent is None:
            calls += 1
    return calls
