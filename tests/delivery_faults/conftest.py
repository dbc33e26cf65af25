"""Fixtures of the delivery fault tests: a SentrialClient of its own per test, on a TracerProvider of
its own, and a URL where nothing listens.

Every delivery test talks real HTTP to the project's LocalServer on 127.0.0.1 (or to a port where
nothing listens). Nothing of the SDK is mocked: the server's fault injection, delay and request
log make the failures and show the wire."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from delivery_support import KEY, MakeClient
from opentelemetry.sdk.trace import TracerProvider

from sentrial import DeliveryError, SentrialClient


# --- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture
def make_client(request: pytest.FixtureRequest) -> Iterator[MakeClient]:
    """Build SentrialClients on fresh TracerProviders; every one is shut down after the test."""
    if "local_server" in request.fixturenames:
        # Set the server up first, so that it is stopped only after the clients have shut down.
        request.getfixturevalue("local_server")
    made: list[tuple[SentrialClient, TracerProvider]] = []

    def make(api_url: str, **options: Any) -> SentrialClient:
        provider = options.pop("tracer_provider", None) or TracerProvider()
        options.setdefault("api_key", KEY)
        options.setdefault("timeout", 1.0)
        options.setdefault("retry_timeout", 5.0)
        client = SentrialClient(api_url=api_url, tracer_provider=provider, **options)
        made.append((client, provider))
        return client

    yield make
    for client, provider in made:
        with contextlib.suppress(DeliveryError):
            client.shutdown(timeout=0.5)
        provider.shutdown()


@pytest.fixture
def dead_url() -> Iterator[str]:
    """The URL of a port that is bound but not listening: every connection is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
