"""Fixtures of the frameworks' tests: they run in an environment of their own (the frameworks cap
the provider libraries), with the main tests' fixtures, fake providers and local server."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MAIN_TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(MAIN_TESTS))
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")  # nothing may leave 127.0.0.1
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")

# The main tests' fixtures (local_server, otlp_receiver and the autouse ones), the same here.
_spec = importlib.util.spec_from_file_location("main_tests_conftest", MAIN_TESTS / "conftest.py")
assert _spec is not None and _spec.loader is not None
_main = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_main)
local_server = _main.local_server
otlp_receiver = _main.otlp_receiver
own_config_home = _main.own_config_home
every_site_logs_afresh = _main.every_site_logs_afresh
no_lasting_instrumentation = _main.no_lasting_instrumentation


@pytest.fixture
def fake() -> Iterator[Any]:
    """The fake OpenAI endpoint (tests/fake_openai.py)."""
    from fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server
