"""Distinct events never share ids, whatever the app does with ``random`` or ``os.fork``."""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

import sentrial
from sentrial import SentrialClient
from sentrial._ids import PRIVATE_IDS, new_uuid, new_uuids
from sentrial.server import LocalServer


def _tool_call(client: SentrialClient, interaction: sentrial.Interaction, n: int) -> None:
    interaction.track_tool_call(tool_name="lookup", tool_input={"n": n}, tool_output={"ok": True})


def _decision(client: SentrialClient, interaction: sentrial.Interaction, n: int) -> None:
    interaction.track_decision(reasoning=f"step {n}", confidence=0.5)


def _decorated_tool(client: SentrialClient, interaction: sentrial.Interaction, n: int) -> None:
    @sentrial.tool(name="lookup")
    def lookup(n: int) -> int:
        return n

    lookup(n)


def _explicit_api(client: SentrialClient, interaction: sentrial.Interaction, n: int) -> None:
    client.track_tool_call(
        session_id=interaction.session_id,
        tool_name="lookup",
        tool_input={"n": n},
        tool_output={},
    )


@pytest.mark.parametrize("track", [_tool_call, _decision, _decorated_tool, _explicit_api])
def test_an_app_reseeding_random_between_calls_keeps_every_event(
    local_server: LocalServer, track: Callable[[SentrialClient, sentrial.Interaction, int], None]
) -> None:
    provider = TracerProvider()  # the app's own provider, shared with Sentrial
    client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=provider)
    try:
        with client.begin(user_id="u", event="seeded", input="go") as interaction:
            for n in range(10):
                random.seed(42)  # as ML code does before each step
                track(client, interaction, n)
        assert client.flush(timeout=10)
    finally:
        client.shutdown()
    events = local_server.session(interaction.session_id)["events"]  # type: ignore[index]
    assert len(events) == 10
    assert len({event["spanId"] for event in events}) == 10
    # The app's provider keeps its own generator: only Sentrial's tracers draw privately.
    assert type(provider.id_generator) is RandomIdGenerator


def test_sessions_begun_after_reseeding_are_distinct_traces(local_server: LocalServer) -> None:
    client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=TracerProvider())
    try:
        ids = []
        for _ in range(3):
            random.seed(7)
            with client.begin(user_id="u", event="seeded") as interaction:
                interaction.track_tool_call(tool_name="t", tool_input={}, tool_output={})
            ids.append(interaction.session_id)
        assert client.flush(timeout=10)
    finally:
        client.shutdown()
    trace_ids = {local_server.session(i)["events"][0]["traceId"] for i in ids}  # type: ignore[index]
    assert len(trace_ids) == 3


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_children_draw_different_ids() -> None:
    children = []
    for _ in range(2):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            os.close(read_end)
            os.write(write_end, f"{PRIVATE_IDS.generate_span_id()}".encode())
            os._exit(0)
        os.close(write_end)
        children.append((pid, read_end))
    drawn = []
    for pid, read_end in children:
        with os.fdopen(read_end, "rb") as pipe:
            drawn.append(int(pipe.read()))
        os.waitpid(pid, 0)
    drawn.append(PRIVATE_IDS.generate_span_id())
    assert len(set(drawn)) == 3, drawn


def test_generated_ids_are_distinct_version_4_uuids() -> None:
    """The ids ``begin()`` generates read as ``str(uuid.uuid4())`` does: version 4, RFC 4122 variant."""
    import uuid

    drawn = [new_uuid() for _ in range(200)] + [each for _ in range(200) for each in new_uuids()]
    for text in drawn:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    assert len(set(drawn)) == len(drawn)
