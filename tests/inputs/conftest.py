"""Fixtures of the input tests: a client on the local server, failing silently or strict."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from sentrial import SentrialClient
from sentrial.server import LocalServer


@pytest.fixture
def client(local_server: LocalServer) -> Iterator[SentrialClient]:
    client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=TracerProvider())
    yield client
    client.shutdown(timeout=5)


@pytest.fixture
def strict_client(local_server: LocalServer) -> Iterator[SentrialClient]:
    client = SentrialClient(
        api_key="k", api_url=local_server.url, fail_silently=False, tracer_provider=TracerProvider()
    )
    yield client
    client.shutdown(timeout=5)
