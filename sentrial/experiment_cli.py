"""``sentrial experiment``: run an experiment on an agent file, show one, create one from sessions.

The key and the server come from ``SENTRIAL_API_KEY`` and ``SENTRIAL_API_URL``. The agent is the
file's first ``@session`` function, else its function ``run_agent`` or ``agent``; it is called with
each test case's input while ``get_system_prompt()`` gives the variant's prompt. An agent may return
``(output, session_id)`` to name the session the run produced.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from sentrial_otel_exporter.exporter import ENV_API_KEY

_FALLBACK_NAMES = ("run_agent", "agent")


class CommandError(Exception):
    """A failure told to the user as one line, ``sentrial experiment: message``."""


def _is_session_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id == "session"
    return isinstance(target, ast.Attribute) and target.attr == "session"


def agent_name(source: str) -> str | None:
    """The name of the agent in a file's source: its first ``@session`` function, else ``run_agent``
    or ``agent`` (defined at the top level)."""
    functions = [
        node for node in ast.parse(source).body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]
    for function in functions:
        if any(_is_session_decorator(each) for each in function.decorator_list):
            return function.name
    names = {function.name for function in functions}
    return next((name for name in _FALLBACK_NAMES if name in names), None)


def load_agent(path: str) -> Callable[..., Any]:
    """The agent function of the Python file at ``path``; CommandError when there is none."""
    file = Path(path)
    try:
        source = file.read_text(encoding="utf-8")
        name = agent_name(source)
    except (OSError, SyntaxError, ValueError) as exc:
        raise CommandError(f"cannot read the agent file {path}: {exc}") from None
    if name is None:
        raise CommandError(
            f"{path} has no agent: decorate a function with @session, or name it run_agent or agent"
        )
    spec = importlib.util.spec_from_file_location(file.stem, file)
    if spec is None or spec.loader is None:
        raise CommandError(f"cannot load {path} as a Python module")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(file.parent.resolve()))  # the agent's own imports, as when run directly
    spec.loader.exec_module(module)
    agent: Callable[..., Any] = getattr(module, name)
    return agent


def _experiment(experiment_id: str) -> Any:
    from sentrial.api import configure
    from sentrial.experiment import Experiment

    if not os.environ.get(ENV_API_KEY):
        raise CommandError(f"{ENV_API_KEY} is not set: export the API key of the server to run against")
    # The default client records the agent's sessions; the runs go out through it too, in order.
    configure()
    experiment = Experiment(experiment_id)
    experiment.variants  # noqa: B018  fetched now, so that a wrong id or key is told at once
    return experiment


def _show(experiment: Any) -> None:
    print(f"Experiment {experiment.experiment_id}: {experiment.name} ({experiment.status})")
    print(f"Variants ({len(experiment.variants)}):")
    for variant in experiment.variants:
        prompt = (
            variant.system_prompt if len(variant.system_prompt) <= 70 else variant.system_prompt[:67] + "..."
        )
        print(f"  {variant.name}: {prompt}")
    print(f"Test cases ({len(experiment.test_cases)}):")
    for case in experiment.test_cases:
        print(f"  {case.session_id}: {case.user_input[:70]}")


def _summary(results: dict[str, Any]) -> None:
    """The results per variant as a table, the winner marked."""

    def cell(value: Any, form: str) -> str:
        return "-" if value is None else form.format(value)

    print(f"{'variant':<20} {'runs':>5} {'success':>8} {'mean cost':>10} {'tokens':>8} {'duration':>10}")
    for each in results.get("variants") or []:
        mark = "  <- winner" if each.get("variantName") == results.get("winner") else ""
        print(
            f"{str(each.get('variantName'))[:20]:<20} {each.get('runs', 0):>5} "
            f"{cell(each.get('successRate'), '{:.0%}'):>8} {cell(each.get('meanCost'), '${:.4f}'):>10} "
            f"{cell(each.get('meanTokens'), '{:.0f}'):>8} "
            f"{cell(each.get('meanDurationMs'), '{:.0f} ms'):>10}{mark}"
        )


def _run(args: argparse.Namespace) -> int:
    from sentrial.api import shutdown

    agent = load_agent(args.agent)
    experiment = _experiment(args.experiment_id)
    _show(experiment)
    print()

    def run_agent(case: Any, variant: Any, tracker: Any) -> None:
        answer = agent(case.user_input)
        if isinstance(answer, tuple) and len(answer) >= 2 and isinstance(answer[1], str):
            tracker.set_result_session_id(answer[1])

    runs = experiment.run(run_agent, parallel=args.parallel, max_workers=args.max_workers)
    print(f"\n{sum(run.success for run in runs)}/{len(runs)} runs succeeded\n")
    _summary(experiment.get_results())
    shutdown()
    return 0


def _info(args: argparse.Namespace) -> int:
    _show(_experiment(args.experiment_id))
    return 0


def _create(args: argparse.Namespace) -> int:
    from sentrial.experiment import ExperimentError
    from sentrial_otel_exporter.connection import Connection
    from sentrial_otel_exporter.exporter import DEFAULT_API_URL, ENV_API_URL

    key = os.environ.get(ENV_API_KEY)
    if not key:
        raise CommandError(f"{ENV_API_KEY} is not set: export the API key of the server")
    variants = []
    for each in args.variant:
        name, sep, prompt = each.partition("=")
        if not sep or not name:
            raise CommandError(f"--variant takes NAME=PROMPT, got {each!r}")
        variants.append({"name": name, "systemPrompt": prompt})
    body = {"name": args.name, "variants": variants, "sessionIds": args.session}
    url = os.environ.get(ENV_API_URL) or DEFAULT_API_URL
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    connection = Connection(url, 10.0, headers)
    try:
        response = connection.request("POST", "/api/experiments", json.dumps(body).encode())
    except OSError as exc:
        raise ExperimentError(f"POST /api/experiments: {connection.describe_failure(exc)} ({url})") from None
    finally:
        connection.close()
    answer = response.json() if response.body else {}
    if not 200 <= response.status < 300:
        raise CommandError(
            f"the server refused the experiment (HTTP {response.status}): {answer.get('error')}"
        )
    print(answer["experiment"]["id"])
    return 0


def _carry_out(args: argparse.Namespace) -> int:
    from sentrial.experiment import ExperimentError

    try:
        result: int = args.action(args)
    except (CommandError, ExperimentError, ValueError) as exc:
        print(f"sentrial experiment: {exc}", file=sys.stderr)
        return 1
    return result


def add_experiment(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``sentrial experiment`` and its subcommands."""
    parser = subparsers.add_parser("experiment", help="run, show or create prompt experiments")
    parser.set_defaults(command_parser=parser)
    commands = parser.add_subparsers(title="experiment commands", metavar="COMMAND")

    run = commands.add_parser("run", help="run an experiment's variants on an agent file")
    run.add_argument("experiment_id", metavar="EXPERIMENT_ID")
    run.add_argument("--agent", "-a", metavar="FILE", required=True, help="Python file with the agent")
    run.add_argument("--parallel", action="store_true", help="run several runs at once")
    run.add_argument("--max-workers", type=int, default=4, help="runs at once with --parallel (default: 4)")
    run.set_defaults(run=_carry_out, action=_run, command_parser=run)

    info = commands.add_parser("info", help="show an experiment's variants and test cases")
    info.add_argument("experiment_id", metavar="EXPERIMENT_ID")
    info.set_defaults(run=_carry_out, action=_info, command_parser=info)

    create = commands.add_parser("create", help="create an experiment from stored sessions; prints its id")
    create.add_argument("--name", required=True)
    create.add_argument("--variant", action="append", required=True, metavar="NAME=PROMPT")
    create.add_argument("--session", action="append", required=True, metavar="SESSION_ID", help="a test case")
    create.set_defaults(run=_carry_out, action=_create, command_parser=create)
