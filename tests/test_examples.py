"""Every script in examples/ runs as written against the local server (and the fake OpenAI and
Anthropic endpoints, through the providers' own OPENAI_BASE_URL / ANTHROPIC_BASE_URL), exits cleanly
and leaves only finished sessions behind."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fake_anthropic import FakeAnthropic
from fake_openai import FakeOpenAI

from sentrial.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
# Examples with tests of their own, which give them what they need (a framework's environment, an
# OTLP receiver, an experiment on the server): each is named in its test file.
TESTED_ELSEWHERE = {
    "integration_": "test_examples_integrations.py",
    "experiment_agent": "test_experiments.py",
}
ALL_EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
EXAMPLES = [p for p in ALL_EXAMPLES if not p.name.startswith(tuple(TESTED_ELSEWHERE))]
# Scripts that only compute and send nothing.
SENDS_NOTHING = {"costs.py"}


def run_example(path: Path, providers: dict[str, str]) -> dict[str, Any]:
    """Run one example against a server of its own; its exit, output and the sessions stored."""
    with LocalServer(db=":memory:") as server:
        kept = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SENTRIAL_", "OPENAI_", "ANTHROPIC_", "OTEL_"))
        }
        env = {**kept, **providers, "SENTRIAL_API_URL": server.url}
        done = subprocess.run(
            [sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        sessions = [server.session(s["id"]) for s in server.sessions()]
    return {"code": done.returncode, "out": done.stdout, "err": done.stderr, "sessions": sessions}


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, Any]]:
    anthropic = FakeAnthropic().start()
    try:
        with FakeOpenAI() as openai, ThreadPoolExecutor(max_workers=2) as pool:
            providers = {
                "OPENAI_BASE_URL": openai.url,
                "OPENAI_API_KEY": "test-key",
                "ANTHROPIC_BASE_URL": anthropic.url,
                "ANTHROPIC_API_KEY": "test-key",
            }
            runs = {path.name: pool.submit(run_example, path, providers) for path in EXAMPLES}
            return {name: run.result() for name, run in runs.items()}
    finally:
        anthropic.stop()


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 10


def test_the_other_examples_are_run_by_their_own_tests() -> None:
    for path in set(ALL_EXAMPLES) - set(EXAMPLES):
        owner = next(test for prefix, test in TESTED_ELSEWHERE.items() if path.name.startswith(prefix))
        assert path.name in (ROOT / "tests" / owner).read_text(), f"{path.name} is run by no test"


@pytest.mark.parametrize("name", [path.name for path in EXAMPLES])
def test_example_runs(results: dict[str, dict[str, Any]], name: str) -> None:
    result = results[name]
    assert result["code"] == 0, result["err"]
    assert "Traceback" not in result["err"] and "sentrial:" not in result["err"], result["err"]
    sessions = result["sessions"]
    if name in SENDS_NOTHING:
        return
    assert sessions, f"{name} sent no session"
    assert {s["status"] for s in sessions} <= {"completed", "failed"}
    assert all(s["events"] or s["userInput"] for s in sessions)
