"""The experiment run current here: which variant's system prompt the agent should use.

An experiment (:mod:`sentrial.experiment`, ``sentrial experiment run``) makes a run current while
the agent runs; the agent asks for its prompt with ``get_system_prompt("my usual prompt")`` and gets
the variant's prompt during a run, its own default otherwise. The run is kept in the OpenTelemetry
context (contextvars), so threads and asyncio tasks each see their own run. Outside a run,
``SENTRIAL_EXPERIMENT_SYSTEM_PROMPT`` (when set and not empty) stands in for the variant's prompt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context

if TYPE_CHECKING:
    from sentrial.experiment import ExperimentRunTracker

ENV_SYSTEM_PROMPT = "SENTRIAL_EXPERIMENT_SYSTEM_PROMPT"

_EXPERIMENT_KEY = otel_context.create_key("sentrial-experiment")
_RUN_KEY = otel_context.create_key("sentrial-experiment-run")


@dataclass
class ExperimentContext:
    """The experiment run current here: the variant's prompt and name, the experiment, the test case."""

    system_prompt: str
    variant_name: str
    experiment_id: str
    test_case_id: str | None = None
    metadata: dict[str, Any] | None = None


def get_experiment_context() -> ExperimentContext | None:
    """The experiment run current here, or None outside every run."""
    value = otel_context.get_value(_EXPERIMENT_KEY)
    return value if isinstance(value, ExperimentContext) else None


def get_system_prompt(default: str | None = None) -> str | None:
    """The system prompt to use: the current run's variant's, else ``SENTRIAL_EXPERIMENT_SYSTEM_PROMPT``,
    else ``default``."""
    current = get_experiment_context()
    if current is not None and current.system_prompt:
        return current.system_prompt
    return os.environ.get(ENV_SYSTEM_PROMPT) or default


def is_experiment_mode() -> bool:
    """Whether an experiment run is current here."""
    return get_experiment_context() is not None


def get_variant_name() -> str | None:
    """The name of the current run's variant, or None outside every run."""
    current = get_experiment_context()
    return current.variant_name if current is not None else None


def set_experiment_context(
    system_prompt: str,
    variant_name: str,
    experiment_id: str,
    test_case_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Make an experiment run current here (this thread or task) until ``clear_experiment_context()``.

    ``Experiment.run``, ``track_run`` and the CLI do this themselves; it is for running an agent by
    hand with a variant's prompt.
    """
    current = ExperimentContext(system_prompt, variant_name, experiment_id, test_case_id, metadata)
    otel_context.attach(otel_context.set_value(_EXPERIMENT_KEY, current))


def clear_experiment_context() -> None:
    """No experiment run is current here from now on."""
    otel_context.attach(otel_context.set_value(_EXPERIMENT_KEY, None))


def with_run(
    current: ExperimentContext, tracker: ExperimentRunTracker, ctx: otel_context.Context
) -> otel_context.Context:
    """``ctx`` with ``current`` as the experiment run and ``tracker`` as the run's record."""
    return otel_context.set_value(_RUN_KEY, tracker, otel_context.set_value(_EXPERIMENT_KEY, current, ctx))


def current_run() -> ExperimentRunTracker | None:
    """The run's record (see :mod:`sentrial.experiment`) while a run is current here."""
    current = otel_context.get_current()  # read once (a Context is a dict): this runs on every begin()
    if current.get(_EXPERIMENT_KEY) is None:  # cleared inside the run
        return None
    return current.get(_RUN_KEY)  # type: ignore[return-value]
