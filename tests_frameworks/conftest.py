"""Fixtures of the frameworks' tests: they run in an environment of their own (the frameworks cap
the provider libraries), with the main tests' fake providers and the local Sessions API server."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")  # nothing may leave 127.0.0.1
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")

from fake_openai import FakeOpenAI

from sentrial.instrumentation import uninstrument_all
from sentrial.server import LocalServer


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A started LocalServer on a free port with an in-memory database, stopped afterwards."""
    server = LocalServer(db=":memory:").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    """The fake OpenAI endpoint."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(autouse=True)
def no_lasting_instrumentation() -> Iterator[None]:
    """configure() instruments LLM libraries for the whole process; no test may leave that behind."""
    yield
    uninstrument_all()
