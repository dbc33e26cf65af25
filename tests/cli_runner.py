"""Running the real ``sentrial`` command in a subprocess, to its end or in the background."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from helpers import wait_until


def _command(args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "sentrial.cli", *args]


def sentrial_command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``sentrial ARGS`` to its end; ``env`` adds to this process's environment."""
    return subprocess.run(
        _command(args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


class Background:
    """A ``sentrial`` command running in the background, its stdout read line by line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        self.lines.extend(self.proc.stdout)

    def line_starting(self, prefix: str, timeout: float = 60) -> str:
        """The first stdout line that starts with ``prefix``, waiting for it up to ``timeout`` s."""
        found = wait_until(
            lambda: next((line for line in self.lines if line.startswith(prefix)), None),
            timeout=timeout,
            what=f"a line starting with {prefix!r} from {self.proc.args}",
        )
        return found.rstrip("\n")

    def interrupt(self) -> tuple[int, str]:
        """Press Ctrl-C and wait for the command to end; returns its exit code and stderr."""
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


@contextmanager
def running_sentrial(*args: str) -> Iterator[Background]:
    """``sentrial ARGS`` in the background for the ``with`` block; killed if still running after it."""
    proc = subprocess.Popen(_command(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield Background(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
