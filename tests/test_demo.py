"""The README's first command: ``sentrial demo`` prints the tree of what the local server received."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cli_runner import running_sentrial, sentrial_command

from sentrial.server import LocalServer


def test_demo_prints_what_the_server_received() -> None:
    result = sentrial_command("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "What the local Sessions API server at http://127.0.0.1:" in out
    assert "[FAILED]" in out and "reason: LookupError: no answer for this question" in out
    assert "tool_call search_knowledge_base" in out and "decision " in out and "error NotFound" in out
    assert "* Nightly ticket triage  [ok]" in out
    # A sub-session under its parent, at its own depth
    assert "\n    * Book the hotel  [ok]" in out and "  $0.00045" in out
    assert "All delivered: yes" in out
    assert "Traceback" not in result.stderr
    # The server is gone by now: no URL to browse, but how to get one.
    assert "Browse it at" not in out
    assert out.splitlines()[-1] == (
        "The server has stopped. To browse what it received, run `sentrial demo --serve`,"
        " or `sentrial demo --db FILE` and then `sentrial serve --db FILE`."
    )


def test_demo_with_a_database_file_says_how_to_serve_it(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    result = sentrial_command("demo", "--db", str(db))
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.splitlines()[-1] == f"It is kept in {db}; to browse it, run `sentrial serve --db {db}`."
    )
    with LocalServer(db=str(db)) as server:
        names = [s["name"] for s in server.sessions()]
    assert len(names) == 5 and {"Nightly ticket triage", "Book the hotel"} <= set(names)


def test_demo_serve_prints_the_url_while_it_answers() -> None:
    with running_sentrial("demo", "--serve") as demo:
        line = demo.line_starting("Browse it at ")
        assert line.endswith("/ (serving; press Ctrl-C to stop).")
        page = requests.get(line.split()[3], timeout=5)
        assert page.status_code == 200 and "Nightly ticket triage" in page.text
        status, err = demo.interrupt()
    assert (status, err) == (130, "sentrial demo: interrupted\n")


def test_ctrl_c_during_the_demo_is_one_line_and_exit_code_130(tmp_path: Path) -> None:
    """The demo is held mid-run: the test holds the write lock of the database the demo's server
    writes to, so no session can be stored until the test lets go, after pressing Ctrl-C."""
    db = tmp_path / "demo.db"
    LocalServer(db=str(db)).stop()  # the tables exist: the demo's server opens the file without writing
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with running_sentrial("demo", "--db", str(db)) as demo:
            demo.line_starting("Running a small support agent")
            demo.proc.send_signal(signal.SIGINT)
            holder.execute("ROLLBACK")  # the demo's clean-up may now deliver what it holds
            _, err = demo.proc.communicate(timeout=30)
    finally:
        holder.close()
    assert (demo.proc.returncode, err) == (130, "sentrial demo: interrupted\n")
    assert not any(line.startswith("All delivered") for line in demo.lines)  # it did not run to its end
    with LocalServer(db=str(db)) as server:  # the clean-up left a database that opens
        server.sessions()


@pytest.mark.parametrize("variable", ["SENTRIAL_DISABLED", "OTEL_SDK_DISABLED"])
def test_demo_with_the_sdk_disabled_says_so(variable: str) -> None:
    result = sentrial_command("demo", env={variable: "true"})
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "sentrial demo: the SDK is disabled (SENTRIAL_DISABLED or OTEL_SDK_DISABLED is true), so the demo"
        " would record nothing; unset it to run the demo"
    ]


def test_a_reader_that_stops_early_ends_the_demo_quietly(tmp_path: Path) -> None:
    """``sentrial demo | head -1``: the demo meets a closed pipe and exits with 141, no traceback.
    As above, the demo is held (the test holds its database's write lock) until the pipe is closed."""
    db = tmp_path / "demo.db"
    LocalServer(db=str(db)).stop()
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        proc = subprocess.Popen(
            [sys.executable, "-m", "sentrial.cli", "demo", "--db", str(db)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith("Running a small support agent")
        proc.stdout.close()  # as head does after its first line
        holder.execute("ROLLBACK")
        err = proc.stderr.read()
    finally:
        holder.close()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err
