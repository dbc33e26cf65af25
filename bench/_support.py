"""Helpers shared by the benchmarks: the local Sessions API server (in this process or in a child
process), and printing of result tables.

Not a benchmark itself; the scripts next to it import it (``python bench/NAME.py`` puts this
directory on ``sys.path``).
"""

from __future__ import annotations

import argparse
import contextvars
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from sentrial.server import LocalServer

# The tests' delaying TCP proxy (tests/delay_proxy.py) models the distance to the server.
_TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(_TESTS))
from delay_proxy import DelayProxy  # noqa: E402

SERVER_START_TIMEOUT_S = 20.0
SERVER_STOP_TIMEOUT_S = 5.0
_URL_LINE = re.compile(r"local server on (http://\S+)")


class DroppingExporter(SpanExporter):
    """Accepts every batch and drops it: a BatchSpanProcessor's cost without any export."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


@dataclass
class Holdings:
    """What the server holds for a set of sessions."""

    events: int = 0
    completed: int = 0


class BenchServer:
    """A running local server: its ``url``, what it holds, and how to stop it."""

    mode = "?"
    url = ""

    def session(self, session_id: str) -> dict[str, Any] | None:
        """The stored session with its ``events``, or None."""
        raise NotImplementedError

    def holdings(self, session_ids: Sequence[str]) -> Holdings:
        """How many events the server holds for these sessions, and how many of them are completed."""
        held = Holdings()
        for session_id in session_ids:
            stored = self.session(session_id)
            if stored is not None:
                held.events += len(stored["events"])
                held.completed += stored.get("status") != "active"
        return held

    def stop(self) -> None:
        raise NotImplementedError


class InProcessServer(BenchServer):
    """``LocalServer`` serving from a thread of this process (it shares the GIL with the benchmark)."""

    mode = "in-process thread"

    def __init__(self, delay_ms: float) -> None:
        self._server = LocalServer(port=0, db=":memory:", delay_ms=delay_ms).start()
        self.url = self._server.url

    def session(self, session_id: str) -> dict[str, Any] | None:
        return self._server.session(session_id)

    def stop(self) -> None:
        self._server.stop()


class ChildProcessServer(BenchServer):
    """``python -m sentrial.cli serve`` in a child process, read back over HTTP."""

    mode = "separate process"

    def __init__(self, delay_ms: float) -> None:
        # Lives as long as the server (closed in stop()); holds its output for error messages.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        command = [
            sys.executable,
            "-m",
            "sentrial.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--db",
            ":memory:",
            "--delay-ms",
            str(delay_ms),
        ]
        self._process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        try:
            self.url = self._wait_until_serving()
        except BaseException:
            self.stop()
            raise

    def _log_text(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def _wait_until_serving(self) -> str:
        """The server's URL once it accepts connections; raises after ``SERVER_START_TIMEOUT_S``."""
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self._log_text()}")
            found = _URL_LINE.search(self._log_text())
            if found and _accepts_connections(found.group(1)):
                return found.group(1)
            time.sleep(0.05)
        raise RuntimeError(f"the server did not start within {SERVER_START_TIMEOUT_S} s:\n{self._log_text()}")

    def session(self, session_id: str) -> dict[str, Any] | None:
        url = f"{self.url}/api/sdk/sessions/{session_id}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                stored: dict[str, Any] = json.load(response)
                return stored
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(SERVER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()


def _accepts_connections(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def start_server(delay_ms: float, separate_process: bool) -> BenchServer:
    """A local server whose every answer is delayed by ``delay_ms``."""
    return ChildProcessServer(delay_ms) if separate_process else InProcessServer(delay_ms)


class Distance:
    """The delaying proxy in front of a server: ``url`` reaches the server ``round_trip_ms`` away."""

    def __init__(self, server_url: str, round_trip_ms: float, separate_process: bool) -> None:
        self.mode = "separate process" if separate_process else "in-process thread"
        half = round_trip_ms / 2
        self._proxy: DelayProxy | None = None
        self._process: subprocess.Popen[str] | None = None
        if not separate_process:
            self._proxy = DelayProxy(server_url, half / 1000).start()
            self.url = self._proxy.url
            return
        command = [sys.executable, str(_TESTS / "delay_proxy.py"), server_url, "--delay-ms", str(half)]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # "delay proxy on http://127.0.0.1:PORT" once it listens
        if not line.startswith("delay proxy on "):
            self.stop()
            raise RuntimeError(f"the delay proxy did not start: {line!r}")
        self.url = line.split()[-1]

    def stop(self) -> None:
        if self._proxy is not None:
            self._proxy.stop()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(SERVER_STOP_TIMEOUT_S)


def machine_line() -> str:
    """One line about where the numbers come from."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), load average {load:.1f}"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under headers; the first column left-aligned, the others right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(cell).ljust(width) if i == 0 else str(cell).rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts)

    print(line(headers))
    print("  ".join("-" * width for width in widths))
    for row in rows:
        print(line(row))


def begin_own_session(client: Any, user: int, event: str, input: str) -> Any:
    """Begin an interaction in an empty context, so that it is a session of its own (one user's
    request), not a sub-session of the one begun before it."""
    return contextvars.Context().run(client.begin, user_id=f"user-{user}", event=event, input=input)


def argument_parser(doc: str, server_option: bool = True) -> argparse.ArgumentParser:
    """The options every benchmark shares: --quick, and (where it has a server) --server-process."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (fewer, smaller rounds)")
    if server_option:
        parser.add_argument(
            "--server-process",
            action="store_true",
            help="run the local server as a separate process instead of a thread of this one",
        )
    return parser
