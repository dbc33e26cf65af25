"""Experiments over real HTTP against the local server: an experiment of two variants × three test
cases run by ``Experiment.run`` and by the CLI on examples/experiment_agent.py, whose OpenAI calls go
to the fake provider; and the client's requests against those of the published package."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_runner import sentrial_command
from experiment_support import API_KEY, INPUTS, VARIANTS, call, normalised, seed_experiment
from fake_openai import FakeOpenAI
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import sentrial
from sentrial import semconv
from sentrial.context import get_system_prompt, get_variant_name, set_experiment_context
from sentrial.experiment import Experiment, ExperimentError
from sentrial.experiment_cli import load_agent
from sentrial.server import LocalServer

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "experiment_agent.py"
CAPTURE = Path(__file__).resolve().parent / "data" / "published_experiment_requests.json"
PROMPTS = {variant["name"]: variant["systemPrompt"] for variant in VARIANTS}


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(api_key=API_KEY).start() as running:
        yield running


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as running:
        monkeypatch.setenv("OPENAI_BASE_URL", running.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        yield running


def prompts_and_inputs(fake: FakeOpenAI) -> list[tuple[str, str]]:
    """The (system prompt, user input) of every chat request the fake provider received."""
    pairs = []
    for body in fake.bodies():
        by_role = {message["role"]: message["content"] for message in body["messages"]}
        pairs.append((by_role["system"], by_role["user"]))
    return sorted(pairs)


def check_runs(url: str, experiment_id: str, failing: tuple[str, str] | None) -> list[dict[str, Any]]:
    """Every run opened, completed (or failed, the one that raised) and linked to the session it
    produced, which holds its test case's input."""
    answer = call(url, "GET", f"/api/experiments/{experiment_id}/runs")
    inputs = {case["sessionId"]: case["userInput"] for case in answer["experiment"]["testCases"]}
    runs = answer["runs"]
    assert sorted((run["variantName"], inputs[run["baseSessionId"]]) for run in runs) == sorted(
        itertools.product(PROMPTS, INPUTS)
    )
    for run in runs:
        raised = (run["variantName"], inputs[run["baseSessionId"]]) == failing
        assert run["status"] == ("failed" if raised else "completed")
        assert run["errorMessage"] == ("ValueError: boom" if raised else None)
        produced = call(url, "GET", f"/api/sdk/sessions/{run['resultSessionId']}")
        assert produced["userInput"] == inputs[run["baseSessionId"]]
        assert produced["agentName"] == "support-agent"
    return runs


@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", "parallel"])
def test_run_gives_each_variant_its_prompt_and_records_every_run(
    server: LocalServer, fake: FakeOpenAI, parallel: bool
) -> None:
    experiment_id, _ = seed_experiment(server.url)
    spans = InMemorySpanExporter()
    sentrial.configure(api_key=API_KEY, api_url=server.url, instrument=False, additional_exporters=[spans])
    try:
        agent = load_agent(str(EXAMPLE))
        failing = ("B", INPUTS[2])

        def agent_fn(case: Any, variant: Any, tracker: Any) -> None:
            agent(case.user_input)
            if (variant.name, case.user_input) == failing:
                raise ValueError("boom")

        experiment = Experiment(experiment_id)
        results = experiment.run(agent_fn, parallel=parallel, max_workers=3)
        assert [(result.variant_name, result.success) for result in results] == [
            (name, (name, text) != failing) for name, text in itertools.product(PROMPTS, INPUTS)
        ]
        # Each variant's prompt reached the model calls of its own runs, and only those.
        assert prompts_and_inputs(fake) == sorted(
            (PROMPTS[name], text) for name, text in itertools.product(PROMPTS, INPUTS)
        )
        summary = experiment.get_results()  # delivers what was recorded first
        runs = check_runs(server.url, experiment_id, failing)
        assert {run["resultSessionId"] for run in runs} == {result.result_session_id for result in results}
        by_variant = {each["variantName"]: each for each in summary["variants"]}
        assert (by_variant["A"]["runs"], by_variant["A"]["successRate"]) == (3, 1.0)
        assert (by_variant["B"]["runs"], by_variant["B"]["failed"]) == (3, 1)
        assert summary["winner"] == "A"
        with urllib.request.urlopen(
            urllib.request.Request(
                f"{server.url}/experiments/{experiment_id}", headers={"Authorization": f"Bearer {API_KEY}"}
            )
        ) as response:
            page = response.read().decode()
        assert "prompt A/B" in page and "100%" in page and "67%" in page and "ValueError: boom" in page

        # On spans: the sessions are the runs' children and carry the runs' attributes.
        sentrial.flush()
        finished = spans.get_finished_spans()
        run_spans = {
            span.context.span_id: span
            for span in finished
            if (span.attributes or {}).get(semconv.SPAN_KIND) == semconv.KIND_EXPERIMENT_RUN
        }
        sessions = [
            s for s in finished if (s.attributes or {}).get(semconv.SPAN_KIND) == semconv.KIND_SESSION
        ]
        assert len(run_spans) == len(sessions) == 6
        for session_span in sessions:
            assert session_span.parent is not None
            parent = run_spans[session_span.parent.span_id]
            for key in (semconv.EXPERIMENT_ID, semconv.EXPERIMENT_VARIANT, semconv.EXPERIMENT_RUN_ID):
                assert (session_span.attributes or {})[key] == (parent.attributes or {})[key]

        assert experiment.reset() is True
        assert call(server.url, "GET", f"/api/experiments/{experiment_id}/runs")["runs"] == []
    finally:
        sentrial.shutdown(timeout=5)


def test_cli_runs_the_example_agent_and_says_what_is_wrong(server: LocalServer, fake: FakeOpenAI) -> None:
    experiment_id, _ = seed_experiment(server.url)
    env = {"SENTRIAL_API_KEY": API_KEY, "SENTRIAL_API_URL": server.url}
    done = sentrial_command(
        "experiment", "run", experiment_id, "--agent", str(EXAMPLE), "--parallel", env=env
    )
    assert done.returncode == 0, done.stderr
    assert "6/6 runs succeeded" in done.stdout and "winner" in done.stdout
    check_runs(server.url, experiment_id, failing=None)
    assert prompts_and_inputs(fake) == sorted(
        (PROMPTS[name], text) for name, text in itertools.product(PROMPTS, INPUTS)
    )

    unknown = sentrial_command("experiment", "info", "exp_nope", env=env)
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1,
        f"sentrial experiment: experiment 'exp_nope' not found on {server.url}",
    )
    no_key = sentrial_command("experiment", "info", experiment_id, env={**env, "SENTRIAL_API_KEY": ""})
    assert no_key.returncode == 1 and "SENTRIAL_API_KEY is not set" in no_key.stderr
    no_agent = sentrial_command("experiment", "run", experiment_id, "--agent", __file__, env=env)
    assert no_agent.returncode == 1 and "has no agent" in no_agent.stderr


def test_cli_creates_an_experiment_from_sessions(server: LocalServer) -> None:
    seed_experiment(server.url)
    env = {"SENTRIAL_API_KEY": API_KEY, "SENTRIAL_API_URL": server.url}
    args = ("--name", "from the CLI", "--variant", "X=prompt x", "--variant", "Y=prompt y")
    made = sentrial_command("experiment", "create", *args, "--session", "base-session-1", env=env)
    assert made.returncode == 0, made.stderr
    definition = call(server.url, "GET", f"/api/experiments/{made.stdout.strip()}/runs")["experiment"]
    assert definition["testCases"] == [{"sessionId": "base-session-1", "userInput": INPUTS[1]}]
    assert [variant["name"] for variant in definition["variants"]] == ["X", "Y"]


def test_client_requests_match_the_published_package(server: LocalServer) -> None:
    from data.capture_published_experiment import CLIENT_CALLS

    experiment_id, session_ids = seed_experiment(server.url)
    start = len(server.requests)
    subprocess.run(
        [sys.executable, "-c", CLIENT_CALLS, experiment_id, API_KEY, server.url], check=True, timeout=60
    )
    ours = normalised(server.requests[start:], experiment_id, session_ids)
    published = json.loads(CAPTURE.read_text())
    # The runs go out in the background, one lane per run: in order within a run, in any order across.
    assert ours[0] == published[0] and ours[-2:] == published[-2:]

    def key(request: dict[str, Any]) -> str:  # the bodies' keys in any order, as JSON objects are
        return json.dumps(request, sort_keys=True)

    assert sorted(map(key, ours[1:-2])) == sorted(map(key, published[1:-2]))


def test_the_prompt_follows_each_thread_and_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRIAL_EXPERIMENT_SYSTEM_PROMPT", raising=False)
    assert get_system_prompt("default") == "default"
    monkeypatch.setenv("SENTRIAL_EXPERIMENT_SYSTEM_PROMPT", "from the environment")
    assert get_system_prompt("default") == "from the environment"
    seen: dict[str, Any] = {}
    ready = threading.Barrier(2)

    def run(name: str) -> None:
        set_experiment_context(f"prompt {name}", name, "exp_1")
        ready.wait(timeout=5)  # both threads have set their own run before either reads
        seen[name] = (get_system_prompt("default"), get_variant_name())

    threads = [threading.Thread(target=run, args=(name,)) for name in ("A", "B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert seen == {"A": ("prompt A", "A"), "B": ("prompt B", "B")}
    assert get_variant_name() is None


def test_an_unknown_experiment_is_a_clear_error(server: LocalServer) -> None:
    experiment = Experiment("exp_missing", api_key=API_KEY, api_url=server.url)
    with pytest.raises(ExperimentError, match="experiment 'exp_missing' not found"):
        experiment.variants  # noqa: B018
    assert experiment.get_results() == {}
    assert experiment.reset() is False
    experiment.client.shutdown(timeout=5)


def test_redaction_leaves_the_runs_addresses_alone(server: LocalServer) -> None:
    from sentrial.redact import PiiConfig

    experiment_id, _ = seed_experiment(server.url)
    sentrial.configure(api_key=API_KEY, api_url=server.url, instrument=False, pii=PiiConfig(enabled=True))
    try:
        experiment = Experiment(experiment_id)
        with experiment.track_run("ops@example.com", "base-session-0") as tracker:
            tracker.set_result_session_id("base-session-0")
        assert sentrial.flush()
        [run] = call(server.url, "GET", f"/api/experiments/{experiment_id}/runs")["runs"]
        assert (run["variantName"], run["baseSessionId"], run["status"]) == (
            "ops@example.com",
            "base-session-0",
            "completed",
        )
    finally:
        sentrial.shutdown(timeout=5)


def test_llm_calls_outside_every_session_in_a_run_are_the_runs_session(
    server: LocalServer, fake: FakeOpenAI
) -> None:
    """An agent that begins no session: its LLM calls in a run join one session of the run's trace,
    which is the run's result, carries the run's attributes and is completed when the run ends."""
    import openai

    experiment_id, _ = seed_experiment(server.url)
    sentrial.configure(api_key=API_KEY, api_url=server.url, instrument=False)
    try:
        model = sentrial.wrap_openai(openai.OpenAI(base_url=fake.url, api_key="sk-test", max_retries=0))

        def agent_fn(case: Any, variant: Any, tracker: Any) -> None:
            for _ in range(2):
                model.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": case.user_input}]
                )

        experiment = Experiment(experiment_id)
        results = experiment.run(agent_fn, parallel=False)
        assert len(results) == 6 and all(result.success for result in results)
        assert sentrial.flush(timeout=10)
        runs = call(server.url, "GET", f"/api/experiments/{experiment_id}/runs")["runs"]
        assert len(runs) == 6
        produced = {run["resultSessionId"] for run in runs}
        assert None not in produced and len(produced) == 6  # one session per run, none per call
        for run in runs:
            session = server.session(run["resultSessionId"])
            assert session is not None and session["status"] == "completed"
            # The published wire's LLM events: tool calls named after the provider and model.
            names = [(event["eventType"], event["toolName"]) for event in session["events"]]
            assert names == [("tool_call", "llm:openai:gpt-4o-mini")] * 2
        assert len(server.sessions()) == 3 + 6  # the seeded test cases, and one per run
    finally:
        sentrial.shutdown(timeout=5)
