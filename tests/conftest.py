"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from otlp_receiver import OtlpReceiver

from sentrial import _guard
from sentrial.instrumentation import uninstrument_all
from sentrial.server import LocalServer


@pytest.fixture(autouse=True, scope="session")
def own_config_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hash mode keeps its secret in the user's config directory: the tests' is a temporary one."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
        yield


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A started LocalServer on a free port with an in-memory database, stopped afterwards."""
    server = LocalServer(db=":memory:").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """An OTLP/HTTP trace receiver on a free port, stopped afterwards."""
    receiver = OtlpReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(autouse=True)
def every_site_logs_afresh() -> None:
    """The SDK logs a failure once per site and process: each test sees its own first time."""
    _guard._sites_logged.clear()


@pytest.fixture(autouse=True)
def no_lasting_instrumentation() -> Iterator[None]:
    """configure() instruments LLM libraries for the whole process; no test may leave that behind."""
    yield
    uninstrument_all()
