"""Every integration example in examples/ runs as a script against the local Sessions API server,
its model calls going to the fake providers (the AutoGen and CrewAI ones run with the frameworks'
tests, in their environment: see tests_frameworks/test_examples.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fake_anthropic import FakeAnthropic
from fake_anthropic import Reply as AnthropicReply
from fake_openai import FakeOpenAI, Reply
from helpers import run_script, wait_until
from otlp_receiver import OtlpReceiver

from sentrial.server import LocalServer

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HERE = {"integration_langchain.py", "integration_claude_code.py", "integration_langfuse.py"}
IN_FRAMEWORKS_ENVIRONMENT = {"integration_autogen.py", "integration_crewai.py"}


def run_example(name: str, env: dict[str, str]) -> str:
    return run_script(EXAMPLES / name, env, timeout=120)


def sentrial_env(server: LocalServer) -> dict[str, str]:
    return {"SENTRIAL_API_KEY": "k", "SENTRIAL_API_URL": server.url}


def only_session(server: LocalServer) -> dict[str, Any]:
    (listed,) = server.sessions()
    session = server.session(listed["id"])
    assert session is not None
    return session


def test_every_integration_example_is_run_by_a_test() -> None:
    assert {p.name for p in EXAMPLES.glob("integration_*.py")} == HERE | IN_FRAMEWORKS_ENVIRONMENT


def test_the_langchain_example(local_server: LocalServer) -> None:
    with FakeOpenAI() as fake:
        fake.queued = [
            Reply(text="", tool_calls=[("call_1", "get_weather", '{"city": "Paris"}')]),
            Reply(text="Sunny in Paris.", prompt_tokens=40, completion_tokens=8),
        ]
        env = {**sentrial_env(local_server), "OPENAI_BASE_URL": fake.url, "OPENAI_API_KEY": "test-key"}
        out = run_example("integration_langchain.py", env)
    assert "Sunny in Paris." in out
    session = only_session(local_server)
    assert (session["agentName"], session["status"], session["assistantOutput"]) == (
        "weather-agent",
        "completed",
        "Sunny in Paris.",
    )
    assert [e["toolName"] for e in session["events"]] == [
        "llm:openai:gpt-4o-mini",
        "get_weather",
        "llm:openai:gpt-4o-mini",
    ]


def test_the_claude_code_example(local_server: LocalServer, tmp_path: Path) -> None:
    fake = FakeAnthropic().start()
    try:
        fake.reply = AnthropicReply(text="Hello there, my good friend.")
        env = {
            **sentrial_env(local_server),
            "ANTHROPIC_BASE_URL": fake.url,
            "ANTHROPIC_API_KEY": "test-key",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "HOME": str(tmp_path),  # the CLI's settings and transcripts stay in the test's folder
        }
        out = run_example("integration_claude_code.py", env)
    finally:
        fake.stop()
    assert "Hello there, my good friend." in out
    session = only_session(local_server)
    assert session["name"] == "repo-helper: Say hello in five words."
    assert (session["userId"], session["status"], session["metadata"]["team"]) == (
        "user_123",
        "completed",
        "docs",
    )


def test_the_langfuse_example(local_server: LocalServer, otlp_receiver: OtlpReceiver) -> None:
    langfuse = {"LANGFUSE_PUBLIC_KEY": "pk", "LANGFUSE_SECRET_KEY": "sk", "LANGFUSE_HOST": otlp_receiver.url}
    out = run_example("integration_langfuse.py", {**sentrial_env(local_server), **langfuse})
    assert otlp_receiver.url in out
    session = only_session(local_server)
    assert [e["toolName"] for e in session["events"]] == ["lookup_order"]
    wait_until(lambda: len(otlp_receiver.spans()) >= 4, timeout=10)
    kinds = [s["attributes"].get("sentrial.span.kind") for s in otlp_receiver.spans()]
    # The client's session and tool call, then the Langfuse-only trace and its LLM call.
    assert sorted(map(str, kinds)) == ["llm", "session", "session", "tool_call"]
