"""Small helpers shared by the tests."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import pytest

_T = TypeVar("_T")

CHILD_TIMEOUT_S = 30.0
SESSIONS = "/api/sdk/sessions"
EVENTS = "/api/sdk/events"


class RecordingServer(Protocol):
    """What the tests read of a Sessions API server that records what it received.

    ``sentrial.server.LocalServer`` is one; the exporter's own tests name this instead, so that they
    import nothing of ``sentrial``.
    """

    @property
    def url(self) -> str:
        """The base URL."""

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The received requests (``method``, ``path``, ``headers``, ``json``), oldest first."""

    def sessions(self) -> list[dict[str, Any]]:
        """Every stored session, in creation order."""

    def session(self, session_id: str) -> dict[str, Any] | None:
        """One session with its ``events`` in arrival order, or None."""

    def set_delay(self, ms: float) -> None:
        """Delay every answer from now on by ``ms`` milliseconds."""

    def inject_faults(
        self,
        status: int = 503,
        count: int | None = 2,
        headers: dict[str, str] | None = None,
        body: bytes | str | dict[str, Any] | None = None,
        paths: list[str] | tuple[str, ...] | None = None,
    ) -> None:
        """Answer the next ``count`` requests to ``paths`` with ``status`` instead of processing them."""

    def clear_faults(self) -> None:
        """Drop every injected fault."""


def wait_until(
    predicate: Callable[[], _T], timeout: float = 5.0, interval: float = 0.01, what: str = ""
) -> _T:
    """Poll ``predicate`` until it returns something truthy and return that; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate!r}")
        time.sleep(interval)


def stored_steps(server: RecordingServer, session_id: str) -> list[int]:
    """The step numbers of a session's stored events, in arrival order."""
    session = server.session(session_id)
    assert session is not None, f"session {session_id} never reached the server"
    return [event["toolInput"]["i"] for event in session["events"]]


def event_posts(server: RecordingServer, span_id: str | None = None) -> list[dict[str, Any]]:
    """The POST /api/sdk/events requests the server received (for one spanId, when given)."""
    return [
        r
        for r in server.requests
        if r["method"] == "POST"
        and urlsplit(r["path"]).path == EVENTS
        and (span_id is None or (r["json"] or {}).get("spanId") == span_id)
    ]


def drop_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The texts of the transport's drop warnings."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "sentrial" and record.getMessage().startswith("Sentrial dropped")
    ]


def in_child(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` in a forked child and return what it returned; fail if it raised or hung."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without pytest's teardown or exit hooks
        status = 1
        try:
            os.close(read_end)
            try:
                outcome: dict[str, Any] = {"result": work()}
            except BaseException:
                outcome = {"error": traceback.format_exc()}
            os.write(write_end, json.dumps(outcome).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    received = b""
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    try:
        while True:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([read_end], [], [], max(0.0, remaining))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"the child did not finish within {CHILD_TIMEOUT_S} s (hung?)")
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            received += chunk
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    outcome = json.loads(received or b"{}")
    assert "error" not in outcome, outcome["error"]
    result: dict[str, Any] = outcome["result"]
    return result


def run_script(path: Path, env: dict[str, str], timeout: float = 180) -> str:
    """Run the Python script ``path`` in a process of its own with ``env`` over the environment,
    less the SDK's and OpenTelemetry's own settings (and Langfuse's); fail on a non-zero exit.
    Returns what it printed."""
    ours = ("OTEL_", "SENTRIAL_", "LANGFUSE_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    result = subprocess.run(
        [sys.executable, str(path)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
