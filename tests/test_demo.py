"""The README's first command: ``sentrial demo`` prints the tree of what the local server received."""

from __future__ import annotations

import subprocess
import sys


def test_demo_prints_what_the_server_received() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sentrial.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "What the local Sessions API server at http://127.0.0.1:" in out
    assert "[FAILED]" in out and "reason: LookupError: no answer for this question" in out
    assert "tool_call search_knowledge_base" in out and "decision " in out and "error NotFound" in out
    assert "* Nightly ticket triage  [ok]" in out
    assert "All delivered: yes" in out
    assert "Traceback" not in result.stderr
