"""A process ended by SIGTERM delivers what Sentrial holds when the app asked for it."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading

import pytest

import sentrial
from sentrial.server import LocalServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# The events wait in the batcher (a minute's interval) and the session is never finished, so only a
# shutdown delivers them: what reaches the server is what the signal handling saved.
_AGENT = textwrap.dedent(
    """
    import signal, sys, threading, sentrial
    setup = sys.argv[2]
    stop = threading.Event()
    if setup == "app-handler":  # a graceful stop: the app finishes its work, then exits
        def app_handler(signum, frame):
            print("app handler ran", flush=True)
            stop.set()
        signal.signal(signal.SIGTERM, app_handler)
    sentrial.configure(
        api_key="k", api_url=sys.argv[1],
        batching=sentrial.BatcherConfig(enabled=True, flush_interval=60, flush_threshold=1000),
    )
    if setup != "none":
        assert sentrial.shutdown_on_signal(timeout=10)
    interaction = sentrial.begin(user_id="u", event="killed", input="x")
    for n in range(20):
        interaction.track_tool_call(tool_name="step", tool_input={"n": n}, tool_output={})
    print("ready", flush=True)
    stop.wait()  # an agent serving requests until the container is stopped
    interaction.track_tool_call(tool_name="last step", tool_input={}, tool_output={})
    interaction.finish(output="stopped cleanly")
    sys.exit(3)
    """
)


def _run_until_terminated(server: LocalServer, setup: str) -> subprocess.CompletedProcess[str]:
    agent = subprocess.Popen(
        [sys.executable, "-c", _AGENT, server.url, setup],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert agent.stdout is not None
        assert agent.stdout.readline() == "ready\n"
        agent.send_signal(signal.SIGTERM)
        out, err = agent.communicate(timeout=60)
    finally:
        agent.kill()
    return subprocess.CompletedProcess(agent.args, agent.returncode, out, err)


def test_sigterm_with_the_helper_delivers_then_ends_by_the_signal(local_server: LocalServer) -> None:
    ended = _run_until_terminated(local_server, "default")
    assert ended.returncode == -signal.SIGTERM, ended.stderr
    (session,) = local_server.sessions()
    assert (session["status"], session["failureReason"]) == ("failed", "not finished before shutdown")
    assert len(local_server.session(session["id"])["events"]) == 20  # type: ignore[index]


def test_sigterm_with_the_helper_flushes_then_leaves_the_stop_to_the_apps_handler(
    local_server: LocalServer,
) -> None:
    ended = _run_until_terminated(local_server, "app-handler")
    assert (ended.returncode, ended.stdout) == (3, "app handler ran\n"), ended.stderr
    (session,) = local_server.sessions()
    # The client was flushed, not shut down: the app's work after the signal is recorded too.
    assert (session["status"], session["assistantOutput"]) == ("completed", "stopped cleanly")
    assert len(local_server.session(session["id"])["events"]) == 21  # type: ignore[index]


def test_sigterm_without_the_helper_loses_what_waits(local_server: LocalServer) -> None:
    """What the README warns of: Python's default action skips every exit hook."""
    ended = _run_until_terminated(local_server, "none")
    assert ended.returncode == -signal.SIGTERM
    assert [s["status"] for s in local_server.sessions()] in ([], ["active"])
    assert all(not local_server.session(s["id"])["events"] for s in local_server.sessions())  # type: ignore[index]


def test_the_helper_outside_the_main_thread_says_no_instead_of_raising(
    caplog: pytest.LogCaptureFixture,
) -> None:
    results: list[bool] = []
    worker = threading.Thread(target=lambda: results.append(sentrial.shutdown_on_signal()))
    worker.start()
    worker.join(10)
    assert results == [False]
    assert "main thread" in caplog.text


def test_the_helper_refuses_a_bad_signal_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    assert sentrial.shutdown_on_signal(10_000) is False
    assert "shutdown_on_signal() not installed" in caplog.text
