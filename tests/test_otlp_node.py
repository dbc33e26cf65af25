"""Agents in Node reach Sentrial over OTLP: the Mastra example (examples/mastra/agent.mjs) and a plain
``@opentelemetry/sdk-node`` script with GenAI attributes (sdk-node.mjs), each sending to a relay in
front of the local server, the Mastra agent's model calls answered by the fake OpenAI endpoint.

They need Node 22.13 or newer and the example's packages: ``.ci/node`` installs both inside the
project (``.ci/run`` runs it); the tests run it themselves when needed and are skipped, saying why,
only where no Node can be had.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply
from helpers import wait_until

from sentrial.relay import Relay, RelayServer
from sentrial.server import LocalServer
from sentrial_otel_exporter.pricing import calculate_cost

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "mastra"


@cache
def _node() -> str | None:
    """The path of a Node >= 22.13 with the example's packages installed, or None (and why)."""
    try:
        setup = subprocess.run(
            ["bash", str(ROOT / ".ci" / "node")], capture_output=True, text=True, timeout=580
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _why.append(f"{type(exc).__name__}: {exc}")
        return None
    if setup.returncode != 0:
        _why.append(setup.stderr.strip()[-500:])
        return None
    return setup.stdout.strip().splitlines()[-1]


_why: list[str] = []


@pytest.fixture
def node() -> str:
    found = _node()
    if found is None:
        pytest.skip(f"no Node >= 22.13 could be had (.ci/node said: {' '.join(_why) or 'nothing'})")
    return found


@pytest.fixture
def relay(local_server: LocalServer) -> Iterator[RelayServer]:
    server = RelayServer(Relay(api_url=local_server.url, api_key="k"), port=0).start()
    try:
        yield server
    finally:
        server.stop()


def run_script(node: str, script: str, relay: RelayServer, **env: str) -> dict[str, Any]:
    run = subprocess.run(
        [node, script],
        cwd=EXAMPLE,
        env={**os.environ, "SENTRIAL_OTLP_URL": relay.url, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[0])
    return result


def test_a_mastra_agents_run_arrives_as_a_session(
    node: str, relay: RelayServer, local_server: LocalServer
) -> None:
    with FakeOpenAI() as fake:
        fake.queued = [
            Reply(text="", tool_calls=[("call_1", "getWeather", '{"city": "Oslo"}')], prompt_tokens=40),
            Reply(text="Sunny in Oslo.", prompt_tokens=60, completion_tokens=8),
        ]
        answer = run_script(node, "agent.mjs", relay, OPENAI_BASE_URL=fake.url, OPENAI_API_KEY="sk-test")
    assert answer == {"text": "Sunny in Oslo."}
    assert relay.relay.flush(timeout=10)
    (session,) = wait_until(local_server.sessions, what="the agent's session")
    stored = wait_until(
        lambda: (s := local_server.session(session["id"])) and s["status"] != "active" and s,
        what="its completion",
    )
    assert (stored["agentName"], stored["status"]) == ("weather-agent", "completed")
    assert stored["userInput"] == "What is the weather in Oslo?"
    assert stored["assistantOutput"] == "Sunny in Oslo."
    first, tool, second = stored["events"]
    assert [first["toolName"], second["toolName"]] == ["llm:openai:gpt-4o-mini"] * 2
    assert first["toolOutput"]["tokens"] == {"prompt": 40, "completion": 5, "total": 45}
    assert second["estimatedCost"] == pytest.approx(calculate_cost("openai", "gpt-4o-mini", 60, 8))
    assert (tool["toolName"], tool["toolInput"]) == ("getWeather", {"city": "Oslo"})
    assert tool["toolOutput"] == {"city": "Oslo", "sky": "sunny", "celsius": 21}
    assert (stored["promptTokens"], stored["completionTokens"]) == (100, 13)


def test_an_opentelemetry_node_sdk_script_arrives_as_a_session(
    node: str, relay: RelayServer, local_server: LocalServer
) -> None:
    """The Node SDK's OTLP/HTTP exporter sends JSON; a failed LLM call fails the session."""
    trace_id = run_script(node, "sdk-node.mjs", relay)["traceId"]
    assert relay.relay.flush(timeout=10)
    stored = wait_until(lambda: local_server.session(f"trace-{trace_id}"), what="the script's session")
    assert (stored["agentName"], stored["status"]) == ("node-agent", "failed")
    assert stored["failureReason"] == "gpt-4o call failed: rate limited"
    assert [e["toolName"] for e in stored["events"]] == ["llm:openai:gpt-4o", "calendar", "llm:openai:gpt-4o"]
    assert stored["estimatedCost"] == pytest.approx(calculate_cost("openai", "gpt-4o", 1000, 500))
    assert stored["events"][0]["toolInput"]["messages"] == [{"role": "user", "content": "Plan my day"}]
