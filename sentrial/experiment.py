"""Experiments: prompt A/B tests run here, recorded on the server.

An experiment is defined on the server: variants (each a system prompt) and test cases (each an
earlier session's user input). :class:`Experiment` fetches it and runs the agent once per variant ×
test case. Each run is a span (``experiment_run {variant}``) that the client's delivery turns into
the run's opening and completion calls, in the background like every other span; the sessions the
agent begins inside a run are the span's children, carry the run's attributes, and the first of
them (a root session) is the session the run produced unless the agent names another one.

Fetching the experiment, ``reset()`` and ``get_results()`` ask the server and wait for its answer
(at most the client's ``timeout``).
"""

from __future__ import annotations

import http.client
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from sentrial import semconv
from sentrial._guard import guard
from sentrial.api import get_client
from sentrial.client import SentrialClient
from sentrial.context import ExperimentContext, with_run
from sentrial.tracing import for_events, leave_context
from sentrial_otel_exporter.connection import Connection, Response
from sentrial_otel_exporter.experiments import experiment_path

logger = logging.getLogger("sentrial")


class ExperimentError(RuntimeError):
    """The experiment could not be fetched: no such experiment, a refused key, an unreachable server."""


@dataclass
class ExperimentVariant:
    """A variant under test: its name and its system prompt."""

    name: str
    system_prompt: str
    description: str | None = None


@dataclass
class ExperimentTestCase:
    """A test case: an earlier session and the user input the agent is run on."""

    session_id: str
    user_input: str


@dataclass
class ExperimentRunResult:
    """How one run (a variant on a test case) went."""

    variant_name: str
    test_case_session_id: str
    result_session_id: str | None
    success: bool
    error_message: str | None = None


def error_text(error: BaseException) -> str:
    """An exception as a failed run records it: ``"Type: message"`` (the type alone without a message)."""
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class ExperimentRunTracker:
    """One run of a variant on a test case, as a context manager (see :meth:`Experiment.track_run`).

    Inside it the run is current: ``get_system_prompt()`` gives the variant's prompt and sessions
    begun here belong to the run. ``run_id`` is the SDK's id of the run (the server's may differ);
    ``result_session_id`` is the session the run produced: the first root session begun inside it,
    unless ``set_result_session_id`` names one. An exception leaving the block fails the run with
    ``"Type: message"`` and propagates.
    """

    def __init__(self, experiment: Experiment, variant_name: str, base_session_id: str) -> None:
        self.experiment = experiment
        self.variant_name = variant_name
        self.base_session_id = base_session_id
        self.run_id: str | None = str(uuid.uuid4())
        self.result_session_id: str | None = None
        self.success = True
        self.error_message: str | None = None
        self._result_named = False  # set_result_session_id was called: the first session is not it
        self._lock = threading.Lock()
        self._span: trace.Span | None = None
        self._token: object = None

    @property
    def span_attributes(self) -> dict[str, str]:
        """The attributes of the run's span that the sessions begun inside it carry too."""
        return {
            semconv.EXPERIMENT_ID: self.experiment.experiment_id,
            semconv.EXPERIMENT_VARIANT: self.variant_name,
            semconv.EXPERIMENT_TEST_CASE: self.base_session_id,
            semconv.EXPERIMENT_RUN_ID: self.run_id or "",
        }

    def set_result_session_id(self, session_id: str) -> None:
        """Name the session this run produced (instead of the first one begun inside it)."""
        with self._lock:
            self.result_session_id = session_id
            self._result_named = True

    def set_error(self, message: str) -> None:
        """Fail this run with ``message``."""
        self.success = False
        self.error_message = message

    def session_begun(
        self, session_id: str, attributes: dict[str, Any], parent_session_id: str | None
    ) -> None:
        """Called as a session begins inside this run: it carries the run's attributes, and the first
        root session is the run's result unless one was named."""
        attributes.update(self.span_attributes)
        if parent_session_id is None:
            with self._lock:
                if self.result_session_id is None and not self._result_named:
                    self.result_session_id = session_id

    def __enter__(self) -> ExperimentRunTracker:
        with guard("experiment-run-start", "could not start recording experiment run %s", self.run_id):
            self._start()
        return self

    def _start(self) -> None:
        client = self.experiment.client
        variant = self.experiment.known_variant(self.variant_name)
        current = ExperimentContext(
            system_prompt=variant.system_prompt if variant is not None else "",
            variant_name=self.variant_name,
            experiment_id=self.experiment.experiment_id,
            test_case_id=self.base_session_id,
        )
        here = otel_context.get_current()
        # Started where the router hands it straight to the client's delivery (it is no session).
        span = client.tracer.start_span(
            semconv.experiment_run_span_name(self.variant_name),
            context=for_events(client.delivery, here),
            attributes={semconv.SPAN_KIND: semconv.KIND_EXPERIMENT_RUN, **self.span_attributes},
        )
        self._span = span
        if span.is_recording():
            client.delivery.session_started(span)  # type: ignore[arg-type]  # the run's opening, first
            router = client.router
            if router is not None:
                router.run_started(span, self, client.delivery)  # type: ignore[arg-type]
        self._token = otel_context.attach(with_run(current, self, trace.set_span_in_context(span, here)))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            self.set_error(error_text(exc))
        with guard("experiment-run-end", "could not record the end of experiment run %s", self.run_id):
            self._end(exc)

    def _end(self, exc: BaseException | None) -> None:
        if self._token is not None:
            leave_context(self._token)
            self._token = None
        span, self._span = self._span, None
        if span is None:
            return
        attributes: dict[str, Any] = {semconv.SUCCESS: self.success}
        if self.result_session_id is not None:
            attributes[semconv.EXPERIMENT_RESULT_SESSION_ID] = self.result_session_id
        if self.error_message is not None:
            attributes[semconv.FAILURE_REASON] = self.error_message
        span.set_attributes(attributes)
        if exc is not None:
            span.record_exception(exc)
        if not self.success:
            span.set_status(Status(StatusCode.ERROR, self.error_message))
        span.end()
        router = self.experiment.client.router
        if router is not None:
            router.run_ended(span)  # type: ignore[arg-type]


class Experiment:
    """An experiment defined on the server, run here.

    ``api_key`` and ``api_url`` default to the default client's (``sentrial.configure()``, else
    ``SENTRIAL_API_KEY`` / ``SENTRIAL_API_URL``); with neither given, the runs go out through the
    default client, in the same order as the sessions the agent records with it. The definition is
    fetched at the first use of ``name``, ``status``, ``variants`` or ``test_cases``; a failure
    raises :class:`ExperimentError`.
    """

    def __init__(self, experiment_id: str, api_key: str | None = None, api_url: str | None = None) -> None:
        if not isinstance(experiment_id, str) or not experiment_id:
            raise ValueError(f"experiment_id must be a non-empty string, got {experiment_id!r}")
        self.experiment_id = experiment_id
        if api_key is None and api_url is None:
            self.client = get_client()
        else:
            self.client = SentrialClient(api_key=api_key, api_url=api_url)
        self._definition: dict[str, Any] | None = None
        self._variants: list[ExperimentVariant] = []
        self._test_cases: list[ExperimentTestCase] = []
        self._lock = threading.Lock()

    # --- the definition -------------------------------------------------------------------------
    def _request(self, method: str, suffix: str) -> Response:
        """One request to the experiment's endpoints, waited for; ExperimentError when it cannot be made."""
        settings = self.client._settings
        headers = {"Content-Type": "application/json", "User-Agent": "sentrial-python"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        connection = Connection(settings.api_url, settings.timeout, headers)
        path = experiment_path(self.experiment_id) + suffix
        try:
            return connection.request(method, path)
        except (OSError, http.client.HTTPException) as exc:
            raise ExperimentError(
                f"{method} {path}: {connection.describe_failure(exc)} ({settings.api_url})"
            ) from None
        finally:
            connection.close()

    def _answer(self, method: str, suffix: str) -> Any:
        """The JSON answer of a request; ExperimentError for an error status or a body that is no JSON."""
        response = self._request(method, suffix)
        if response.status == 404:
            raise ExperimentError(f"experiment {self.experiment_id!r} not found on {self.client.api_url}")
        if response.status in (401, 403):
            raise ExperimentError(
                f"the server refused the API key (HTTP {response.status}); set SENTRIAL_API_KEY or api_key"
            )
        if not 200 <= response.status < 300:
            raise ExperimentError(f"{method} experiment {self.experiment_id!r}: HTTP {response.status}")
        try:
            return response.json() if response.body else {}
        except ValueError:
            raise ExperimentError(f"the server's answer for {self.experiment_id!r} is not JSON") from None

    def _fetched(self) -> dict[str, Any]:
        with self._lock:
            if self._definition is None:
                answer = self._answer("GET", "/runs")
                definition = answer.get("experiment") if isinstance(answer, dict) else None
                if not isinstance(definition, dict):
                    raise ExperimentError(f"the server's answer for {self.experiment_id!r} has no experiment")
                self._variants = [
                    ExperimentVariant(
                        name=str(each.get("name") or ""),
                        system_prompt=str(each.get("systemPrompt") or ""),
                        description=each.get("description"),
                    )
                    for each in definition.get("variants") or []
                    if isinstance(each, dict)
                ]
                self._test_cases = [  # a test case without an input has nothing to run
                    ExperimentTestCase(
                        session_id=str(each.get("sessionId") or ""), user_input=each["userInput"]
                    )
                    for each in definition.get("testCases") or []
                    if isinstance(each, dict) and isinstance(each.get("userInput"), str) and each["userInput"]
                ]
                self._definition = definition
            return self._definition

    @property
    def name(self) -> str:
        """The experiment's name."""
        return str(self._fetched().get("name") or "")

    @property
    def status(self) -> str:
        """The experiment's status on the server."""
        return str(self._fetched().get("status") or "")

    @property
    def variants(self) -> list[ExperimentVariant]:
        """The variants under test."""
        self._fetched()
        return list(self._variants)

    @property
    def test_cases(self) -> list[ExperimentTestCase]:
        """The test cases (those with a user input)."""
        self._fetched()
        return list(self._test_cases)

    def get_variant(self, name: str) -> ExperimentVariant | None:
        """The variant called ``name``, or None."""
        self._fetched()
        return self.known_variant(name)

    def known_variant(self, name: str) -> ExperimentVariant | None:
        """The variant called ``name`` if the definition was fetched already (a run does not fetch it)."""
        return next((variant for variant in self._variants if variant.name == name), None)

    # --- runs -----------------------------------------------------------------------------------
    def track_run(self, variant_name: str, base_session_id: str) -> ExperimentRunTracker:
        """A run of ``variant_name`` on the test case ``base_session_id``, to use with ``with``."""
        return ExperimentRunTracker(self, variant_name, base_session_id)

    def run(
        self,
        agent_fn: Callable[[ExperimentTestCase, ExperimentVariant, ExperimentRunTracker], Any],
        parallel: bool = False,
        max_workers: int = 4,
        on_result: Callable[[ExperimentRunResult], None] | None = None,
    ) -> list[ExperimentRunResult]:
        """Run ``agent_fn(test_case, variant, tracker)`` once per variant × test case, each inside its
        run; returns the results in that order. An exception of the agent fails that run only.

        With ``parallel`` the runs share ``max_workers`` threads. ``on_result`` is called with each
        result as it comes (default: a line on stdout).
        """
        pairs = [(variant, case) for variant in self.variants for case in self.test_cases]
        report = on_result if on_result is not None else _ProgressLines(len(pairs))

        def run_one(variant: ExperimentVariant, case: ExperimentTestCase) -> ExperimentRunResult:
            tracker = self.track_run(variant.name, case.session_id)
            try:
                with tracker:
                    agent_fn(case, variant, tracker)
            except Exception as exc:
                logger.info(
                    "sentrial: run %s x %s failed: %s", variant.name, case.session_id, error_text(exc)
                )
            result = ExperimentRunResult(
                variant.name,
                case.session_id,
                tracker.result_session_id,
                tracker.success,
                tracker.error_message,
            )
            report(result)
            return result

        if not parallel or len(pairs) <= 1:
            return [run_one(variant, case) for variant, case in pairs]
        with ThreadPoolExecutor(
            max_workers=max(1, int(max_workers)), thread_name_prefix="sentrial-run"
        ) as pool:
            futures = [pool.submit(run_one, variant, case) for variant, case in pairs]
            return [future.result() for future in futures]

    def reset(self) -> bool:
        """Remove every run of this experiment on the server (to run it again); True when done.

        What was recorded before is delivered first, so no earlier run arrives after the reset.
        """
        with guard("experiment-reset", "could not reset experiment %s", self.experiment_id):
            self.client.flush()
            self._answer("DELETE", "/runs")
            with self._lock:
                self._definition = None
            return True
        return False

    def get_results(self) -> dict[str, Any]:
        """The server's results per variant (with a winner), after delivering what was recorded;
        ``{}`` when they cannot be fetched."""
        with guard("experiment-results", "could not fetch the results of experiment %s", self.experiment_id):
            self.client.flush()
            answer = self._answer("GET", "/results")
            return answer if isinstance(answer, dict) else {}
        return {}


class _ProgressLines:
    """The default report of :meth:`Experiment.run`: one line per finished run."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._done = 0
        self._lock = threading.Lock()

    def __call__(self, result: ExperimentRunResult) -> None:
        with self._lock:
            self._done += 1
            mark = "ok" if result.success else f"FAILED ({result.error_message})"
            print(
                f"[{self._done}/{self._total}] {result.variant_name} x {result.test_case_session_id}: {mark}"
            )


__all__ = [
    "Experiment",
    "ExperimentError",
    "ExperimentRunResult",
    "ExperimentRunTracker",
    "ExperimentTestCase",
    "ExperimentVariant",
]
