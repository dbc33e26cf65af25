"""Sessions for LLM calls made outside any Sentrial session: one session per trace.

The session is named after the trace's local root span, its agent is ``SENTRIAL_AGENT_NAME`` or the
resource's ``service.name``, it is opened when the trace's first such LLM call starts and completed
when the trace's local root span ends (failed when that span failed). Its id is derived from the
trace id, so every process of a distributed trace adds to the same session.
"""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, Span
from opentelemetry.trace import SpanContext, StatusCode

from sentrial import semconv
from sentrial.delivery import SentrialOnlySpan
from sentrial_otel_exporter.agents import trace_session_agent
from sentrial_otel_exporter.forks import after_fork_in_child


def trace_session_id(trace_id: int) -> str:
    """The session id of a trace."""
    return f"trace-{semconv.trace_hex(trace_id)}"


class _Root:
    """A trace's local root span while it runs, and the session its trace got, if any."""

    __slots__ = ("delivery", "own_session_id", "owner", "run", "span", "span_id")

    def __init__(
        self, span: ReadableSpan, span_id: int, owner: Any = None, own_session_id: str | None = None
    ) -> None:
        self.span = span  # kept while it runs: its name names the trace's session
        self.span_id = span_id
        self.run: Any = None  # the experiment run whose span this is (see run_started)
        self.delivery: Any = None  # the run's client's delivery: where its trace's other spans go
        self.owner = owner  # whoever received the session's opening; None until there is a session
        self.own_session_id = own_session_id  # when not the trace's (see open_for)

    def session_id(self, trace_id: int) -> str:
        """The id of the session this root's trace records into."""
        return self.own_session_id or trace_session_id(trace_id)


class TraceSessions:
    """Tracks the local root span of each open trace and the traces that got a session."""

    def __init__(self) -> None:
        self.roots: dict[int, _Root] = {}  # trace id -> its local root, while that root runs (read freely)
        self._lock = threading.Lock()
        after_fork_in_child(self._start_over_in_child)

    def _start_over_in_child(self) -> None:
        # A parent thread may have held the lock at the fork; the child's roots are the parent's.
        self._lock = threading.Lock()

    def root_started(self, span: Span, ids: SpanContext) -> None:
        """Remember a span (of ``ids``) that starts a trace in this process (its parent is none or
        remote). One store in a dict, which the GIL makes atomic: no lock on this path, which every
        session's span takes."""
        self.roots[ids.trace_id] = _Root(span, ids.span_id)

    def run_started(self, span: Span, ids: SpanContext, run: Any, delivery: Any) -> None:
        """Note an experiment run's span as its trace's local root: LLM calls made in the run outside
        every session join one session of the trace, which belongs to the run (``run.session_begun``
        gives it the run's attributes) and goes to the run's client (``delivery``)."""
        root = _Root(span, ids.span_id)
        root.run, root.delivery = run, delivery
        self.roots[ids.trace_id] = root

    def open_for(self, span: Span, owner: Any) -> tuple[str, ReadableSpan | None]:
        """The session of the LLM span's trace, and the snapshot that opens it the first time.

        ``owner`` (the delivery the opening goes to) gets the completion too (see root_ended). When the
        trace's local root is not running (the call's parent span has ended, e.g. in a context left
        behind by finished work), the call is its own root: its session, of its own id, is completed
        when it ends, rather than never.
        """
        trace_id = span.context.trace_id
        with self._lock:
            root = self.roots.get(trace_id)
            if root is None:
                orphan_id = f"{trace_session_id(trace_id)}-{semconv.span_hex(span.context.span_id)}"
                root = self.roots[trace_id] = _Root(span, span.context.span_id, owner, orphan_id)
            elif root.owner is not None:
                return root.session_id(trace_id), None
            else:
                root.owner = owner
        session_id = root.session_id(trace_id)
        name = root.span.name
        attributes = {
            semconv.SPAN_KIND: semconv.KIND_SESSION,
            semconv.SESSION_ID: session_id,
            semconv.SESSION_NAME: name,
            semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_INVOKE_AGENT,
            semconv.GEN_AI_AGENT_NAME: trace_session_agent(span),
            semconv.USER_ID: semconv.ANONYMOUS_USER,
        }
        if root.run is not None:
            root.run.session_begun(session_id, attributes, None)
        opening = SentrialOnlySpan(
            name=semconv.session_span_name(attributes[semconv.GEN_AI_AGENT_NAME]),
            context=span.context,
            resource=span.resource,
            attributes=attributes,
            start_time=span.start_time,
            end_time=None,
            instrumentation_scope=span.instrumentation_scope,
        )
        return session_id, opening

    def root_ended(self, span: ReadableSpan, ids: SpanContext) -> None:
        """Complete the trace's session when ``span`` (of ``ids``) is a local root that had one: the
        completion is handed on to whoever received the opening."""
        root = self.roots.get(ids.trace_id)  # a read without the lock: most spans are not roots
        if root is None or root.span_id != ids.span_id:
            return
        with self._lock:
            if self.roots.get(ids.trace_id) is not root:
                return
            del self.roots[ids.trace_id]
        if root.owner is None:
            return
        failed = span.status.status_code == StatusCode.ERROR
        attributes: dict[str, Any] = {
            semconv.SPAN_KIND: semconv.KIND_SESSION,
            semconv.SESSION_ID: root.session_id(ids.trace_id),
            semconv.SUCCESS: not failed,
        }
        if failed and span.status.description:
            attributes[semconv.FAILURE_REASON] = span.status.description
        completion = SentrialOnlySpan(
            name=span.name,
            context=span.context,
            resource=span.resource,
            attributes=attributes,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )
        root.owner.hand_on(completion)
