"""Pure functions from an experiment run's span to the experiments endpoints' calls (sessions-api.md,
"Experiments").

A run's span opens the run (``POST .../runs``, from its snapshot at start) and completes it
(``PATCH .../runs/{id}``, when it ends). The server names the run in its answer; the SDK's own id of
the run is the call's ``session``, swapped for the server's at send time like a session's id.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from opentelemetry.sdk.trace import ReadableSpan

from sentrial_otel_exporter import semconv as sc
from sentrial_otel_exporter.calls import ApiCall
from sentrial_otel_exporter.spans import attributes_of


def experiment_path(experiment_id: str) -> str:
    """``/api/experiments/{experimentId}``, the id quoted (so it never holds a ``{`` either)."""
    return f"/api/experiments/{quote(experiment_id, safe='')}"


def runs_path(experiment_id: str) -> str:
    """``/api/experiments/{experimentId}/runs``."""
    return experiment_path(experiment_id) + "/runs"


def run_id(span: ReadableSpan) -> str | None:
    """The SDK's id of the run a span is, or of the run a session was begun in."""
    value = attributes_of(span).get(sc.EXPERIMENT_RUN_ID)
    return value if isinstance(value, str) and value else None


def _text(attributes: Any, key: str) -> str | None:
    value = attributes.get(key)
    return value if isinstance(value, str) else None


def open_run_call(span: ReadableSpan, lane: str) -> ApiCall | None:
    """POST the run's opening; None for a span without an experiment or a run id."""
    attrs = attributes_of(span)
    experiment, run = _text(attrs, sc.EXPERIMENT_ID), run_id(span)
    if not experiment or run is None:
        return None
    body = {
        "variantName": _text(attrs, sc.EXPERIMENT_VARIANT) or "",
        "baseSessionId": _text(attrs, sc.EXPERIMENT_TEST_CASE) or "",
    }
    return ApiCall(
        "POST", runs_path(experiment), body, session=run, lane=lane, opens_session=True, answer_id_under="run"
    )


def complete_run_call(span: ReadableSpan, lane: str) -> ApiCall | None:
    """PATCH the run's outcome: completed or failed, the session it produced and the error."""
    attrs = attributes_of(span)
    experiment, run = _text(attrs, sc.EXPERIMENT_ID), run_id(span)
    if not experiment or run is None:
        return None
    success = attrs.get(sc.SUCCESS)
    failed = success is False
    body = {
        "status": "failed" if failed else "completed",
        "resultSessionId": _text(attrs, sc.EXPERIMENT_RESULT_SESSION_ID),
        "errorMessage": _text(attrs, sc.FAILURE_REASON) if failed else None,
    }
    return ApiCall("PATCH", runs_path(experiment) + "/{session}", body, session=run, lane=lane)
