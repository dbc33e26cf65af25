"""What the OpenAI instrumentation adds to a non-streamed chat completion.

Measured: ``client.chat.completions.create(model="gpt-4o", messages=[system, user])`` with the real
openai SDK against the fake OpenAI endpoint of the tests (``tests/fake_openai.py``). Variants, all
in the same run, their calls interleaved one by one (the order rotating with every call, so each
runs under the same load):

  plain            an OpenAI client as it comes: the baseline
  bare OTel span   the plain call inside an OTel span that carries the very attributes the
                   instrumentation records (values computed beforehand): the floor that any
                   span-based instrumentation pays
  traced           a client traced with this instrumentation (``wrap_instance`` with its patches,
                   as ``wrap_openai`` does), spans to a ``BatchSpanProcessor`` that drops them
  traced+Sentrial  traced inside an open interaction of a ``SentrialClient`` that delivers every
                   call to the local Sessions API server; after each call (untimed) the client is
                   flushed, as the long wait of a real LLM call would let it, and the CPU that the
                   delivery took in the background is reported apart ("bg CPU us")

Per variant: wall and CPU time (``time.thread_time``: the calling thread alone) of each call,
median per round, median over the rounds; the overheads are relative to ``plain``. Messages are
captured (the default).

The fake endpoint and the Sessions API server run as child processes by default, so on a 2-core
machine they neither hold this process's GIL nor run on its core during the call;
``--in-process`` runs both as threads here instead (noisier).

Targets: ``traced`` within 5% of ``plain`` (wall); ``traced+Sentrial``, the realistic path, within
4.5% (the app thread; its background delivery is shown apart).

    python bench/bench_llm_overhead.py [--quick] [--in-process] [--rounds N] [--calls N]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
from _support import BenchServer, DroppingExporter, argument_parser, machine_line, print_table, start_server
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from sentrial import SentrialClient
from sentrial import semconv as sc
from sentrial.instrumentation._base import TRACER_NAME, wrap_instance
from sentrial.instrumentation.openai import PATCHES

TARGET_OVERHEAD = 0.05
REALISTIC_TARGET = 0.045  # the realistic path: inside an interaction, delivering to the server
FAKE_SCRIPT = Path(__file__).resolve().parents[1] / "tests" / "fake_openai.py"
FLUSH_TIMEOUT_S = 60.0
MESSAGES = [
    {"role": "system", "content": "You are a concise travel assistant. Answer in one or two sentences."},
    {
        "role": "user",
        "content": "I land in Paris at 7 am on a Sunday. What can I do before my hotel check-in?",
    },
]


class FakeEndpoint:
    """The tests' fake OpenAI endpoint: a child process (default) or a thread of this process."""

    def __init__(self, in_process: bool) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._fake: Any = None
        if in_process:
            sys.path.insert(0, str(FAKE_SCRIPT.parent))
            from fake_openai import FakeOpenAI

            self._fake = FakeOpenAI().start()
            self.url = str(self._fake.url)
            self.mode = "in-process thread"
        else:
            self.url = self._spawn()
            self.mode = "separate process"

    def _spawn(self) -> str:
        command = [sys.executable, str(FAKE_SCRIPT)]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # "fake openai on http://127.0.0.1:PORT/v1", or "" if it died
        if not line.startswith("fake openai on "):
            self.stop()
            raise RuntimeError(f"the fake endpoint did not start: {line!r}")
        return line.split(" on ", 1)[1].strip()

    def stop(self) -> None:
        if self._fake is not None:
            self._fake.stop()
        if self._process is not None and self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()  # the fake serves until its stdin closes
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


@dataclass
class Variant:
    """One way of making the call; per round, the median of its calls (wall and CPU seconds)."""

    label: str
    call: Callable[[], Any]
    after: Callable[[], Any] | None = None  # untimed, after each call; its process CPU is kept
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    after_cpu: list[float] = field(default_factory=list)
    _calls: list[tuple[float, float, float]] = field(default_factory=list)

    def timed_call(self) -> None:
        started_cpu, started = time.thread_time(), time.perf_counter()
        self.call()
        wall, cpu = time.perf_counter() - started, time.thread_time() - started_cpu
        after_cpu = 0.0
        if self.after is not None:
            started_after = time.process_time()
            self.after()
            after_cpu = time.process_time() - started_after
        self._calls.append((wall, cpu, after_cpu))

    def end_round(self) -> None:
        walls, cpus, afters = zip(*self._calls, strict=True)
        self.wall.append(statistics.median(walls))
        self.cpu.append(statistics.median(cpus))
        self.after_cpu.append(statistics.median(afters))
        self._calls.clear()


def openai_client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key="test-key", max_retries=0)


def chat(client: openai.OpenAI) -> Callable[[], Any]:
    return lambda: client.chat.completions.create(model="gpt-4o", messages=MESSAGES)


def dropping_provider() -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
    return provider


def recorded_attributes(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The attributes the instrumentation records for the measured call: (at start, at end)."""
    provider = TracerProvider()
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    with openai_client(url) as client:
        wrap_instance(client, PATCHES, provider.get_tracer(TRACER_NAME))
        chat(client)()
    (span,) = spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    start_names = {sc.SPAN_KIND, sc.GEN_AI_OPERATION_NAME, sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_REQUEST_MODEL}
    start_names |= {sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS}
    at_start = {k: v for k, v in attributes.items() if k in start_names}
    return at_start, {k: v for k, v in attributes.items() if k not in start_names}


def bare_span(client: openai.OpenAI, provider: TracerProvider, url: str) -> Callable[[], Any]:
    """The plain call inside a span with the instrumentation's attributes, computed beforehand."""
    tracer = provider.get_tracer("bench")
    at_start, at_end = recorded_attributes(url)
    call = chat(client)

    def traced_by_hand() -> Any:
        span = tracer.start_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes=at_start)
        with trace.use_span(span, end_on_exit=False):
            result = call()
        span.set_attributes(at_end)
        span.end()
        return result

    return traced_by_hand


def make_variants(url: str, server: BenchServer) -> tuple[list[Variant], Callable[[], None]]:
    """The variants, and how to close what they opened."""
    plain, by_hand, traced, full = (openai_client(url) for _ in range(4))
    floor_provider, traced_provider, full_provider = (
        dropping_provider(),
        dropping_provider(),
        TracerProvider(),
    )
    wrap_instance(traced, PATCHES, traced_provider.get_tracer(TRACER_NAME))
    sentrial_client = SentrialClient(api_key="bench-key", api_url=server.url, tracer_provider=full_provider)
    wrap_instance(full, PATCHES, full_provider.get_tracer(TRACER_NAME))
    interaction = sentrial_client.begin(user_id="bench", event="bench_llm_overhead", input="Paris?")

    def close() -> None:
        interaction.finish(output="done")
        sentrial_client.shutdown(timeout=FLUSH_TIMEOUT_S)
        for provider in (floor_provider, traced_provider, full_provider):
            provider.shutdown()
        for client in (plain, by_hand, traced, full):
            client.close()

    variants = [
        Variant("plain (baseline)", chat(plain)),
        Variant("bare OTel span (floor)", bare_span(by_hand, floor_provider, url)),
        Variant("traced", chat(traced)),
        Variant("traced+Sentrial", chat(full), lambda: sentrial_client.flush(FLUSH_TIMEOUT_S)),
    ]
    return variants, close


def measure(variants: list[Variant], rounds: int, calls: int, warmup: int) -> None:
    """Warm up each variant, then time ``rounds`` rounds of ``calls`` calls each, interleaved."""
    for variant in variants:
        for _ in range(warmup):
            variant.call()
            if variant.after is not None:
                variant.after()
    for _ in range(rounds):
        gc.collect()
        for i in range(calls):
            shift = i % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                variant.timed_call()
        for variant in variants:
            variant.end_round()


def _percent(value: float, base: float) -> str:
    return f"{(value / base - 1) * 100:+.1f}%"


def _row(variant: Variant, baseline: Variant) -> list[str]:
    wall, cpu = statistics.median(variant.wall), statistics.median(variant.cpu)
    base_wall, base_cpu = statistics.median(baseline.wall), statistics.median(baseline.cpu)
    first = variant is baseline
    return [
        variant.label,
        f"{wall * 1000:.3f}",
        f"{min(variant.wall) * 1000:.3f}-{max(variant.wall) * 1000:.3f}",
        "-" if first else _percent(wall, base_wall),
        f"{cpu * 1000:.3f}",
        "-" if first else _percent(cpu, base_cpu),
        "-" if first else f"{(cpu - base_cpu) * 1e6:+.0f}",
        f"{statistics.median(variant.after_cpu) * 1e6:.0f}" if variant.after else "-",
    ]


def report(variants: list[Variant]) -> tuple[float, float]:
    """Print the table; returns the wall overheads of ``traced`` and of ``traced+Sentrial``."""
    headers = ["variant", "wall ms", "min-max ms", "wall +", "CPU ms", "CPU +", "CPU us", "bg CPU us"]
    print_table(headers, [_row(v, variants[0]) for v in variants])
    base = statistics.median(variants[0].wall)
    traced, realistic = (
        next(v for v in variants if v.label == label) for label in ("traced", "traced+Sentrial")
    )
    return statistics.median(traced.wall) / base - 1, statistics.median(realistic.wall) / base - 1


def parse_args() -> argparse.Namespace:
    parser = argument_parser(__doc__ or "", server_option=False)
    parser.add_argument(
        "--in-process", action="store_true", help="run the fake endpoint and server as threads"
    )
    parser.add_argument("--rounds", type=int, help="timed rounds (default 15, quick 5)")
    parser.add_argument("--calls", type=int, help="calls per variant and round (default 100, quick 30)")
    parser.add_argument("--warmup", type=int, help="untimed calls per variant first (default 50, quick 20)")
    args = parser.parse_args()
    args.rounds = args.rounds or (5 if args.quick else 15)
    args.calls = args.calls or (30 if args.quick else 100)
    args.warmup = args.warmup or (20 if args.quick else 50)
    return args


def main() -> None:
    args = parse_args()
    endpoint = FakeEndpoint(args.in_process)
    server = start_server(0, separate_process=not args.in_process)
    try:
        variants, close = make_variants(endpoint.url, server)
        try:
            print("OpenAI instrumentation overhead: non-streamed chat completion, fake endpoint on 127.0.0.1")
            print(machine_line())
            print(f"fake endpoint: {endpoint.mode}; Sessions API server: {server.mode}")
            print(f"{args.rounds} rounds x {args.calls} calls per variant, {args.warmup} warm-up calls each")
            measure(variants, args.rounds, args.calls, args.warmup)
            print()
            overhead, realistic = report(variants)
        finally:
            close()
    finally:
        server.stop()
        endpoint.stop()
    print()
    verdict = "within" if overhead < TARGET_OVERHEAD else "NOT within"
    print(f"target: traced within {TARGET_OVERHEAD:.0%} of plain (wall): {overhead:+.1%} -> {verdict}")
    verdict = "within" if realistic <= REALISTIC_TARGET else "NOT within"
    print(
        f"target: traced+Sentrial (in an interaction, delivery on) within {REALISTIC_TARGET:.1%} of plain "
        f"(wall): {realistic:+.1%} -> {verdict}"
    )


if __name__ == "__main__":
    main()
