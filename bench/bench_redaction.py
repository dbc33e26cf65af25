"""What PII redaction costs: the app thread per tracked event, and one 1 MB tool output.

(a) Per event. A loop of ``interaction.track_tool_call(tool_name=..., tool_input={small dict},
tool_output={small dict}, reasoning="...")`` calls inside open interactions, on ``SentrialClient``s
pointed at the local Sessions API server, each on a ``TracerProvider`` of its own: redaction off
and on (``pii=PiiConfig()``, every built-in kind, label mode), each with data that holds no PII and
with data of the same shape that holds an address, a phone number and an IP address. Redaction runs
in the delivery's background worker, so on the app thread it shows only as the worker's share of
the GIL. Per event the table gives the wall time of the loop and the CPU time of the app thread (no
GIL waits), median of the rounds. Events are made in chunks, each timed on its own, with an untimed
flush between chunks. At the end the script checks that the server holds every event and, for the
redacting clients, that no raw PII reached it.

(b) Per 1 MB tool output. ``Redactor.redact_value`` on a 1 MB JSON text and a 1 MB plain text,
each with no PII and with PII in every record, ms per call (median): with the client's cap
(``max_value_chars``, 64 KiB: the rest is cut off, with a marker, before any regex runs) and,
for comparison, with the cap lifted above 1 MB.

(c) Per span, in the background. ``Redactor.redact_span`` on the very span one tracked event of (a)
makes (taken from an exporter of the app's provider), without and with PII: the background worker's
redaction cost per span, us per call (median of the rounds).

Target: redaction on within 2x of off (app-thread wall time per event).

    python bench/bench_redaction.py [--quick] [--server-process]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from _support import BenchServer, argument_parser, begin_own_session, machine_line, print_table, start_server
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sentrial import SentrialClient
from sentrial.redact import DEFAULT_MAX_SCAN_CHARS, PiiConfig, Redactor

TARGET_RATIO = 2.0
API_KEY = "bench-key"
TOOL_NAME = "crm_lookup"
FLUSH_TIMEOUT_S = 120.0
ONE_MB = 1024 * 1024


@dataclass(frozen=True)
class EventData:
    """What each tracked tool call carries."""

    name: str
    tool_input: dict[str, Any]
    tool_output: dict[str, Any]
    reasoning: str
    raw_pii: tuple[str, ...] = ()


CLEAN = EventData(
    "no PII",
    {"query": "open orders of customer 4821", "limit": 3},
    {"orders": ["ORD-2024-000123", "ORD-2024-000124"], "updated": 1732723200000, "ok": True},
    "The customer asked about two orders; looking them up in the CRM first.",
)
WITH_PII = EventData(
    "with PII",
    {"query": "orders of alice@example.com", "limit": 3},
    {"orders": ["ORD-2024-000123", "ORD-2024-000124"], "phone": "555-123-4567", "ok": True},
    "Customer wrote from 192.0.2.44; looking up alice@example.com in the CRM.",
    raw_pii=("alice@example.com", "555-123-4567", "192.0.2.44"),
)


@dataclass
class Sample:
    """Seconds per event in one round."""

    wall: float
    app_cpu: float


@dataclass
class Checked:
    """What the end-of-run check found for one case."""

    calls: int = 0
    flushes_ok: bool = True
    on_server: int = 0
    leaked: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.flushes_ok and self.on_server == self.calls and not self.leaked


class EventCase:
    """``interaction.track_tool_call`` on a client of its own, spread over several open interactions."""

    def __init__(self, server: BenchServer, pii: PiiConfig | None, data: EventData, sessions: int) -> None:
        self.label = f"redaction {'on' if pii else 'off'}, {data.name}"
        self.redacting = pii is not None
        self.data = data
        self._server = server
        self._provider = TracerProvider()
        self._client = SentrialClient(
            api_key=API_KEY, api_url=server.url, pii=pii, tracer_provider=self._provider
        )
        self._interactions = [self._begin(k) for k in range(sessions)]
        self.checked = Checked()

    def _begin(self, user: int) -> Any:
        return begin_own_session(self._client, user, "bench_redaction", "Where are my orders?")

    def run(self, count: int) -> None:
        interactions, data = self._interactions, self.data
        sessions = len(interactions)
        for i in range(count):
            interactions[i % sessions].track_tool_call(
                tool_name=TOOL_NAME,
                tool_input=data.tool_input,
                tool_output=data.tool_output,
                reasoning=data.reasoning,
            )
        self.checked.calls += count

    def settle(self) -> None:
        if not self._client.flush(timeout=FLUSH_TIMEOUT_S):
            self.checked.flushes_ok = False

    def close(self) -> None:
        """Finish the interactions, deliver, and check what the server holds."""
        for interaction in self._interactions:
            interaction.finish(output="done")
        checked = self.checked
        checked.flushes_ok = self._client.flush(timeout=FLUSH_TIMEOUT_S) and checked.flushes_ok
        session_ids = [i.session_id for i in self._interactions]
        checked.on_server = self._server.holdings(session_ids).events
        if self.redacting:
            stored = json.dumps([self._server.session(session_id) for session_id in session_ids])
            checked.leaked = [value for value in self.data.raw_pii if value in stored]
        self._client.shutdown(timeout=FLUSH_TIMEOUT_S)
        self._provider.shutdown()


def measure_round(case: EventCase, events: int, chunk: int) -> Sample:
    """Make ``events`` events in timed chunks, settling (untimed) after each; seconds per event."""
    wall = app_cpu = 0.0
    done = 0
    while done < events:
        count = min(chunk, events - done)
        gc.collect()
        thread0, start = time.thread_time(), time.perf_counter()
        case.run(count)
        end, thread1 = time.perf_counter(), time.thread_time()
        case.settle()
        wall += end - start
        app_cpu += thread1 - thread0
        done += count
    return Sample(wall / events, app_cpu / events)


def measure_events(cases: Sequence[EventCase], args: argparse.Namespace) -> dict[str, list[Sample]]:
    """A warm-up round per case, then ``rounds`` rounds with the cases interleaved (order rotated)."""
    for case in cases:
        measure_round(case, args.chunk, args.chunk)
    samples: dict[str, list[Sample]] = {case.label: [] for case in cases}
    for round_no in range(args.rounds):
        shift = round_no % len(cases)
        for case in [*cases[shift:], *cases[:shift]]:
            samples[case.label].append(measure_round(case, args.events, args.chunk))
    return samples


def report_events(samples: dict[str, list[Sample]], cases: Sequence[EventCase]) -> None:
    def median_us(label: str, what: str) -> float:
        return statistics.median(getattr(s, what) for s in samples[label]) * 1e6

    off = {case.data.name: case.label for case in cases if not case.redacting}
    rows = []
    for case in cases:
        runs = samples[case.label]
        wall, cpu = median_us(case.label, "wall"), median_us(case.label, "app_cpu")
        base = off[case.data.name]
        rows.append(
            [
                case.label,
                f"{wall:.1f}",
                f"{min(s.wall for s in runs) * 1e6:.1f}-{max(s.wall for s in runs) * 1e6:.1f}",
                f"{wall / median_us(base, 'wall'):.2f}x",
                f"{cpu:.1f}",
                f"{cpu / median_us(base, 'app_cpu'):.2f}x",
                "yes" if case.checked.complete else "NO",
            ]
        )
    print_table(["case", "wall us/ev", "min-max", "vs off", "app CPU us", "vs off", "checked"], rows)
    print()
    for case in cases:
        if case.redacting:
            ratio = median_us(case.label, "wall") / median_us(off[case.data.name], "wall")
            verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
            print(f"{case.label}: {ratio:.2f}x redaction off, {verdict} the {TARGET_RATIO:.0f}x target")
    for case in cases:
        c = case.checked
        if not c.complete:
            print(
                f"CHECK FAILED for {case.label}: flushes ok {c.flushes_ok}, "
                f"server holds {c.on_server}/{c.calls} events, raw PII on the server: {c.leaked or 'none'}"
            )


# --- (b) one 1 MB tool output ------------------------------------------------------------------
def one_mb_json(with_pii: bool) -> str:
    """About 1 MB of JSON records, as a CRM or search tool might return."""
    records = []
    size = 0
    i = 0
    while size < ONE_MB:
        record: dict[str, Any] = {
            "id": 100_000 + i,
            "name": f"Customer {i}",
            "status": "active" if i % 3 else "closed",
            "updated": f"2024-11-{1 + i % 28:02d}T10:{i % 60:02d}:00Z",
            "orders": [f"ORD-2024-{i:06d}", f"ORD-2024-{i + 1:06d}"],
            "note": "prefers e-mail, replied within two days",
        }
        if with_pii:
            record["email"] = f"customer.{i}@example.com"
            record["phone"] = f"555-{100 + i % 900:03d}-{i % 10_000:04d}"
            record["last_ip"] = f"192.0.2.{i % 256}"
        records.append(record)
        size += len(json.dumps(record)) + 2
        i += 1
    return json.dumps({"results": records, "total": len(records)})


def one_mb_text(with_pii: bool) -> str:
    """About 1 MB of log lines."""
    lines = []
    size = 0
    i = 0
    while size < ONE_MB:
        if with_pii:
            line = (
                f"2024-11-27 10:{i % 60:02d}:00 INFO order ORD-2024-{i:06d} for customer.{i}@example.com "
                f"(phone 555-{100 + i % 900:03d}-{i % 10_000:04d}) from 192.0.2.{i % 256} done in {i % 97} ms"
            )
        else:
            line = (
                f"2024-11-27 10:{i % 60:02d}:00 INFO order ORD-2024-{i:06d} for customer {i} "
                f"(worker {i % 16}, v10.0.19045) done in {i % 97} ms, total 1732723200000"
            )
        lines.append(line)
        size += len(line) + 1
        i += 1
    return "\n".join(lines)


def time_calls(call: Callable[[], object], calls: int) -> list[float]:
    """Seconds per call, ``calls`` times, after one warm-up call."""
    call()
    times = []
    for _ in range(calls):
        gc.collect()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def measure_large(calls: int) -> None:
    payloads = [
        ("JSON, no PII", one_mb_json(False)),
        ("JSON, with PII", one_mb_json(True)),
        ("text, no PII", one_mb_text(False)),
        ("text, with PII", one_mb_text(True)),
    ]
    capped = Redactor(PiiConfig())
    uncapped = Redactor(PiiConfig(), max_chars=2 * ONE_MB)
    rows = []
    for label, payload in payloads:
        cells = [label, f"{len(payload) / ONE_MB:.2f}"]
        for redactor in (capped, uncapped):
            times = time_calls(lambda r=redactor, p=payload: r.redact_value(p), calls)
            result = str(redactor.redact_value(payload))
            changes = sum(result.count(tag) for tag in ("[EMAIL]", "[PHONE]", "[IP_ADDRESS]"))
            cells += [f"{statistics.median(times) * 1e3:.2f}", f"{max(times) * 1e3:.2f}", str(changes)]
        rows.append(cells)
    cap_kib = DEFAULT_MAX_SCAN_CHARS // 1024
    print_table(
        [
            "1 MB tool output",
            "MiB",
            f"cap {cap_kib} KiB: ms",
            "max ms",
            "redacted",
            "no cap: ms",
            "max ms",
            "redacted",
        ],
        rows,
    )


# --- (c) the background cost per span ------------------------------------------------------------
def tool_call_span(server: BenchServer, data: EventData) -> ReadableSpan:
    """The span one ``track_tool_call`` of ``data`` makes, as the app's own exporter receives it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = SentrialClient(api_key=API_KEY, api_url=server.url, tracer_provider=provider)
    interaction = begin_own_session(client, 0, "bench_redaction", "Where are my orders?")
    interaction.track_tool_call(
        tool_name=TOOL_NAME,
        tool_input=data.tool_input,
        tool_output=data.tool_output,
        reasoning=data.reasoning,
    )
    client.shutdown(timeout=FLUSH_TIMEOUT_S)
    provider.shutdown()
    (span,) = [span for span in exporter.get_finished_spans() if span.name.endswith(TOOL_NAME)]
    return span


def measure_per_span(server: BenchServer, rounds: int, calls: int) -> None:
    redactor = Redactor(PiiConfig())
    rows = []
    for data in (CLEAN, WITH_PII):
        span = tool_call_span(server, data)
        copied = redactor.redact_span(span) is not span
        per_round = []
        for _ in range(rounds + 1):  # the first is a warm-up
            gc.collect()
            start = time.perf_counter()
            for _ in range(calls):
                redactor.redact_span(span)
            per_round.append((time.perf_counter() - start) / calls)
        times = per_round[1:]
        rows.append(
            [
                data.name,
                f"{statistics.median(times) * 1e6:.1f}",
                f"{min(times) * 1e6:.1f}-{max(times) * 1e6:.1f}",
                "yes" if copied else "no",
            ]
        )
    print_table(["span of one event", "us/span", "min-max", "copied"], rows)


def parse_args() -> argparse.Namespace:
    parser = argument_parser(__doc__ or "")
    parser.add_argument("--rounds", type=int, help="timed rounds per case (default 7, quick 3)")
    parser.add_argument("--events", type=int, help="events per round (default 2000, quick 500)")
    parser.add_argument("--chunk", type=int, help="events per timed chunk (default 500, quick 250)")
    parser.add_argument("--sessions", type=int, default=16, help="open interactions (default 16)")
    parser.add_argument("--calls", type=int, help="timed calls per 1 MB payload (default 15, quick 5)")
    args = parser.parse_args()
    args.rounds = args.rounds or (3 if args.quick else 7)
    args.events = args.events or (500 if args.quick else 2000)
    args.chunk = args.chunk or (250 if args.quick else 500)
    args.calls = args.calls or (5 if args.quick else 15)
    args.span_calls = 500 if args.quick else 2000
    return args


def main() -> None:
    args = parse_args()
    server = start_server(0, args.server_process)
    print(f"PII redaction cost ({machine_line()})")
    print(
        f"(a) one track_tool_call; server: {server.mode}; {args.rounds} rounds x {args.events} events in "
        f"chunks of {args.chunk}, {args.sessions} open interactions; median per event\n"
    )
    cases = [
        EventCase(server, pii, data, args.sessions)
        for data in (CLEAN, WITH_PII)
        for pii in (None, PiiConfig())
    ]
    try:
        try:
            samples = measure_events(cases, args)
        finally:
            for case in cases:
                case.close()
        report_events(samples, cases)
        print(f"\n(b) Redactor.redact_value on about 1 MB; {args.calls} calls each after a warm-up; median\n")
        measure_large(args.calls)
        print(
            f"\n(c) Redactor.redact_span on the span of one tracked event (the background worker's cost); "
            f"{args.rounds} rounds x {args.span_calls} calls after a warm-up round; median\n"
        )
        measure_per_span(server, args.rounds, args.span_calls)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
