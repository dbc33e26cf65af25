"""Run tests/tools/wire_script.py against a local Sessions API server and the fake providers, and
give what the server received as comparable data: per session, its opening, its events and its
completions, with ids, timestamps and durations normalised.

Used by tests/tools/capture_published_wire.py (with the published package's interpreter) and by
tests/test_published_wire.py (with ours).
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fake_anthropic import FakeAnthropic
from fake_anthropic import Reply as AnthropicReply
from fake_google import FakeGemini
from fake_openai import FakeOpenAI

from sentrial.server import LocalServer

SCRIPT = Path(__file__).resolve().parent / "tools" / "wire_script.py"
SESSIONS = "/api/sdk/sessions"
EVENTS = "/api/sdk/events"

# Values that differ run to run by nature.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX_ID = re.compile(r"^(?:[0-9a-f]{16}|[0-9a-f]{32})$")
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_DURATION_KEYS = {"durationMs", "duration_ms", "duration_api_ms"}
_TRACE_KEYS = {"stackTrace", "stack_trace"}
_FOLDER_KEYS = {"cwd"}  # a Claude Code run's working folder: under the run's scratch folder
_EVENT_SUFFIX = re.compile(r":[0-9a-f]{8}$")


def run_script(python: str, sections: list[str] | None = None, timeout: float = 120.0) -> dict[str, Any]:
    """Run the script with ``python`` against fresh servers; the normalised sessions it recorded."""
    anthropic_fake, google_fake = FakeAnthropic().start(), FakeGemini().start()
    # The model the script asks for answers (the fake's own default is another one).
    anthropic_fake.reply = AnthropicReply(model="claude-sonnet-4-20250514")
    with (
        contextlib.ExitStack() as stack,
        LocalServer(db=":memory:") as server,
        FakeOpenAI() as openai_fake,
        tempfile.TemporaryDirectory() as scratch,
    ):
        stack.callback(anthropic_fake.stop)
        stack.callback(google_fake.stop)
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("SENTRIAL_", "PYTHON", "OTEL_"))
        }
        env.update(
            SENTRIAL_API_URL=server.url,
            SENTRIAL_API_KEY="sentrial_live_wire",
            FAKE_OPENAI_URL=openai_fake.url,
            FAKE_ANTHROPIC_URL=anthropic_fake.url,
            FAKE_GOOGLE_URL=google_fake.url,
            PYTHONHASHSEED="0",
        )
        # From a scratch directory, so that the package imported is the interpreter's own.
        done = subprocess.run(
            [python, str(SCRIPT), *(sections or [])],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the wire script failed:\n{done.stdout}\n{done.stderr}")
        return by_session(server.requests, server.sessions())


def _session_name(name: Any) -> str:
    """A session name with the 8 characters of a generated event id that begin() puts in it masked."""
    return _EVENT_SUFFIX.sub(":<event>", str(name))


def _session_key(session: dict[str, Any]) -> str:
    return f"{session.get('agentName')} / {_session_name(session.get('name'))}"


def by_session(requests: list[dict[str, Any]], sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """The requests of each session under a key that names it alike in every run."""
    keys = {s["id"]: _session_key(s) for s in sessions}
    result: dict[str, Any] = {}
    for request in requests:
        path = urlsplit(request["path"]).path
        body = request.get("json")
        if not isinstance(body, dict):
            continue
        if request["method"] == "POST" and path == SESSIONS:
            key = _session_key(body)
            kind = "open"
        elif request["method"] == "POST" and path == EVENTS:
            key, kind = keys.get(str(body.get("sessionId")), "?"), "events"
        elif request["method"] == "PATCH" and path.startswith(SESSIONS + "/"):
            key, kind = keys.get(path.rsplit("/", 1)[-1], "?"), "completions"
        else:
            continue
        entry = result.setdefault(key, {"open": [], "events": [], "completions": []})
        entry[kind].append(normalise(body, keys))
    return dict(sorted(result.items()))


def normalise(value: Any, session_keys: dict[str, str], key: str = "") -> Any:
    """``value`` with session ids named by their session, other ids, times and durations masked."""
    if isinstance(value, dict):
        return {k: normalise(v, session_keys, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, session_keys, key) for v in value]
    if key in _DURATION_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return "<duration>"
    if key in _TRACE_KEYS and isinstance(value, str):
        return "<stack trace>"
    if key in _FOLDER_KEYS and isinstance(value, str):
        return "<folder>"
    if key == "name" and isinstance(value, str):
        return _session_name(value)
    if isinstance(value, str):
        if value in session_keys:
            return f"<session {session_keys[value]}>"
        if _TIME.match(value):
            return "<time>"
        if _HEX_ID.match(value):
            return "<id>"
        return _UUID.sub("<uuid>", value)
    return value
