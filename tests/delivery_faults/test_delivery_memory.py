"""Delivery under load and outage within its bounds: the queue's size and byte budget hold, bursts
are delivered or counted, and memory stays bounded while the server is down."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from delivery_support import KEY, MakeClient, open_session, stats, stored_count, track_steps
from helpers import drop_warnings, stored_steps, wait_until
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sentrial import BatcherConfig, SentrialClient
from sentrial.server import LocalServer


def test_memory_stays_bounded_while_the_server_is_down(
    dead_url: str, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Far more events than fit: what waits stays bounded, and every event beyond is dropped and counted."""
    caplog.set_level(logging.WARNING, logger="sentrial")
    queue = 100
    bound = queue  # the exporter holds at most max_queue_size calls too
    batching = BatcherConfig(enabled=True, max_queue_size=queue, flush_threshold=10, flush_interval=0.05)
    client = make_client(dead_url, batching=batching, timeout=0.2, retry_timeout=3.0)
    session_id = open_session(client)
    tracked = 1
    most_pending = 0
    for chunk in range(30):  # 1500 events, half a queue at a time, so the batch queue never overflows
        track_steps(client, session_id, range(chunk * 50, chunk * 50 + 50))
        tracked += 50
        counted = wait_until(
            lambda: (s := stats(client)).pending + s.dropped >= tracked and s,  # noqa: B023
            interval=0.002,
            what=f"{tracked} calls to reach the exporter",
        )
        most_pending = max(most_pending, counted.pending)
    assert client.flush(timeout=0.1) is False

    final = stats(client)
    assert most_pending == bound  # full, and never fuller
    assert final.pending + final.dropped == tracked  # every call either waits or is counted
    assert final.drop_reasons["delivery queue full"] > 0
    assert sum(final.drop_reasons.values()) == final.dropped
    assert any("delivery queue full" in message for message in drop_warnings(caplog))

    exporter = client.delivery.exporter
    assert exporter is not None
    exporter.shutdown(timeout_millis=0)  # what still waits is dropped, and counted
    assert (stats(client).pending, stats(client).dropped) == (0, tracked)


def test_waiting_events_never_exceed_max_queue_size(dead_url: str, make_client: MakeClient) -> None:
    queue = 50
    batching = BatcherConfig(enabled=True, max_queue_size=queue, flush_threshold=10, flush_interval=0.05)
    client = make_client(dead_url, batching=batching, timeout=0.2, retry_timeout=2.0)
    session_id = open_session(client)
    tracked = 1
    for chunk in range(8):
        track_steps(client, session_id, range(chunk * 25, chunk * 25 + 25))
        tracked += 25
        wait_until(lambda: (s := stats(client)).pending + s.dropped >= tracked, interval=0.002)  # noqa: B023
        assert stats(client).pending <= queue


def test_a_burst_beyond_the_queue_is_delivered_or_counted(
    local_server: LocalServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    batching = BatcherConfig(enabled=True, max_queue_size=20, flush_threshold=10, flush_interval=60.0)
    client = make_client(local_server.url, batching=batching)
    session_id = open_session(client)
    track_steps(client, session_id, range(200))
    client.complete_session(session_id, success=True)
    assert client.flush(timeout=10) is False  # something was dropped, and flush says so

    final = stats(client)
    assert client.delivery.dropped > 0
    assert final.sent + final.dropped + client.delivery.dropped == 202, final
    assert final.sent >= 2  # the session's opening got in, whatever else was dropped
    reported = [r.getMessage() for r in caplog.records if "were waiting to be sent" in r.getMessage()]
    assert sum(int(m.split()[2]) for m in reported) == client.delivery.dropped  # every drop reported


# --- delivery held for bursts -------------------------------------------------------------------
def test_events_of_a_burst_go_out_after_it_without_a_flush(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    """The background work waits for the app to pause, then sends on its own."""
    client = make_client(local_server.url)
    session_id = open_session(client)
    track_steps(client, session_id, range(30))
    wait_until(lambda: stored_count(local_server, session_id) == 30, timeout=10, what="30 events")
    assert stored_steps(local_server, session_id) == list(range(30))


def test_a_burst_that_never_pauses_is_still_delivered_while_it_lasts(
    local_server: LocalServer, make_client: MakeClient
) -> None:
    """Tracking with no pause long enough for the hold to end: delivery goes on during the burst."""
    client = make_client(local_server.url)
    session_id = open_session(client)
    stop = threading.Event()
    made: list[int] = []

    def produce() -> None:
        while not stop.is_set() and len(made) < 900:  # stays below the queue of 1000
            track_steps(client, session_id, range(len(made), len(made) + 1))
            made.append(1)
            time.sleep(0.001)  # below the pause the hold waits for

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wait_until(lambda: stored_count(local_server, session_id) >= 40 or not producer.is_alive(), 20)
        sent = stored_count(local_server, session_id)
        assert producer.is_alive(), f"only {sent} events sent while the burst made {len(made)}"
    finally:
        stop.set()
        producer.join()
    assert client.flush(timeout=20)
    assert stored_steps(local_server, session_id) == list(range(len(made)))


def test_holding_for_a_pause_never_overflows_the_queue() -> None:
    """Tracking without a pause, faster than a small queue could hold for the whole hold time:
    the hold ends when the queue is half full, so nothing is dropped. (An in-memory exporter
    behind the delivery, so that only the delivery's queue is measured, not a server's speed.)"""
    queue = 120
    exported = InMemorySpanExporter()
    batching = BatcherConfig(enabled=True, max_queue_size=queue, flush_threshold=10, flush_interval=0.05)
    provider = TracerProvider()
    client = SentrialClient(
        api_key=KEY,
        tracer_provider=provider,
        batching=batching,
        export_to_sentrial=False,
        additional_exporters=[exported],
    )
    try:
        session_id = open_session(client)
        for step in range(400):  # about 3 events per ms: 250 ms of holding would queue 700
            track_steps(client, session_id, range(step, step + 1))
            if step % 3 == 2:
                time.sleep(0.001)  # well below the pause that ends a hold
        assert client.flush(timeout=20)
        assert client.delivery.dropped == 0
        tool_calls = [s for s in exported.get_finished_spans() if s.name == "execute_tool step"]
        assert len(tool_calls) == 400
    finally:
        client.shutdown(timeout=5)
        provider.shutdown()


def _rss_kib(field: str = "VmRSS") -> int:
    """This process's resident memory (or another /proc/self/status field), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def test_memory_stays_within_the_byte_budget_while_the_server_is_down(
    dead_url: str, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """1500 events with two 60 KB values each, after a few small ones, against a server that is
    down, with a queue of 1000 spans and a byte budget of 4 MB: what waits stays within the budget
    (the process's peak RSS grows by far less than the 1000 events the item bound alone would
    keep; a jump in span size may overshoot by 64 spans), and what did not fit is dropped,
    counted and reported naming the byte budget."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux's /proc to measure the peak RSS")
    caplog.set_level(logging.WARNING, logger="sentrial")
    budget = 4 * 1024 * 1024
    batching = BatcherConfig(enabled=True, max_queue_size=1000, flush_threshold=10, flush_interval=0.05)
    client = make_client(dead_url, batching=batching, timeout=0.2, retry_timeout=30.0, max_queue_bytes=budget)
    session_id = open_session(client)

    def track(steps: range) -> None:
        for step in steps:
            big = f"{step:06d}" + "x" * 60_000  # a new text each time, as an app's would be
            client.track_tool_call(session_id, "step", big, big + "y")

    # Warm up with small events: the delivery has learnt their size when the large ones come.
    track_steps(client, session_id, range(3))
    wait_until(lambda: stats(client).pending >= 4, what="the warm-up requests to wait")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak RSS, to the current RSS
    before = _rss_kib("VmHWM")
    track(range(1500))
    exporter = client.delivery.exporter
    assert exporter is not None
    assert client.flush(timeout=0.5) is False  # the loss is reported
    grown_mib = (_rss_kib("VmHWM") - before) / 1024

    final = stats(client)
    assert final.pending_bytes <= budget
    assert exporter.pending_bytes == final.pending_bytes
    assert final.dropped + client.delivery.dropped > 1000, (final, client.delivery.dropped)
    # The item bound alone keeps 1000 x 120 KB, over 110 MB; the budget 4 MB, and up to 64 spans
    # (8 MB) past it when the size jumps, plus what is being built and sent.
    assert grown_mib < 40, f"peak RSS grew by {grown_mib:.0f} MiB with a 4 MiB byte budget"
    assert any("byte budget" in message for message in caplog.messages)
