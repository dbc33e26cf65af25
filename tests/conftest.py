"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sentrial.server import LocalServer


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A started LocalServer on a free port with an in-memory database, stopped afterwards."""
    server = LocalServer(db=":memory:").start()
    try:
        yield server
    finally:
        server.stop()
