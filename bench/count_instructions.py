"""The speed targets counted in CPU instructions instead of time.

Wall-clock ratios on a small shared machine move by a few points from run to run, mostly with
cache effects; an instruction count does not. Each case runs in a process of its own under
valgrind (``--tool=cachegrind --cache-sim=no``), once making ``--calls`` calls after 20 untimed
ones and once making none; the difference divided by ``--calls`` is what one call executes. Both
runs have the same hash seed, and after the warm-up everything alive is moved out of the garbage
collector's sight (``gc.freeze()``): a full collection of the start-up's objects falling inside
one run but not the other would otherwise move a case by several thousand instructions per call.
Two cases are counted at a time, one per core.

  LLM call (as bench_llm_overhead.py): the real openai SDK against the fake endpoint (a child
      process, not counted): plain, inside a bare OTel span with the same attributes (the floor),
      and traced; and traced+Sentrial, the realistic path: traced inside an interaction of a
      ``SentrialClient`` with delivery on (its batch processor set never to run: the app thread
      alone; its queue emptied after each call, as the worker would in the call's wait, see
      ``let_go_after``). Targets: traced within 5% of plain, traced+Sentrial within 4.5%.
  LLM span in the background: the traced call inside an interaction of a ``SentrialClient`` that
      delivers to the local server (a child process, not counted), its batch processor set never to
      run on its own; after each call the client is flushed, which hands that one span on (the
      fan-out, mapping, encoding) and waits until the transport sent it and read the answer: each
      span delivered alone, as in an agent whose LLM calls are seconds apart. The baseline makes the
      same calls and flushes a second such client that holds nothing (the flush's own calls). The
      difference per call is what the delivery executes per LLM span, on all its threads. Not
      counted: the batch worker's wake-up and its looks for a pause in the app's calls, which
      depend on timing (a flush exports at once, on the flushing thread), nor the GIL's forced
      hand-overs every 5 ms (the switch interval is 1 s here: threads hand it over when they wait).
  tracked event (as bench_app_thread.py): a bare OTel span with the tool call's attributes, and
      ``interaction.track_tool_call(...)``. Only the app thread counts: both batch processors are
      set never to run during the count. Target: within 1.5x of the bare span.
  whole interaction (as bench_app_thread.py; a call is one interaction): its 7 spans made with bare
      OTel, and ``begin``, five tool calls, a decision and ``finish``; the app thread alone.
      Target: within 1.3x of the bare spans.

Needs valgrind on the PATH; takes about 2 minutes (valgrind runs Python about 50x slower).

    python bench/count_instructions.py [--calls N] [--only llm|background|event|interaction ...]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

HOLD_MS = 3_600_000.0  # a batch processor's delay that no count lasts
HOLD_SPANS = 1_000_000  # a batch size and queue size that no count fills
WARMUP = 20
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
LLM_CASES = ("plain", "floor", "traced", "traced+Sentrial")
BACKGROUND_CASES = ("held, idle flush", "delivered span by span")
EVENT_CASES = ("bare span", "tracked event")
INTERACTION_CASES = ("bare spans", "interaction")
GROUPS = ("llm", "background", "event", "interaction")


def held_processor() -> Any:
    """A batch processor that never runs during a count: only the app thread counts."""
    from _support import DroppingExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return BatchSpanProcessor(
        DroppingExporter(),
        max_queue_size=HOLD_SPANS,
        schedule_delay_millis=HOLD_MS,
        max_export_batch_size=HOLD_SPANS,
    )


def held_client(provider: Any = None) -> Any:
    """A ``SentrialClient`` whose delivery is on but holds every span during the count.

    Its batch worker never runs (nothing reaches the exporter, so nothing is sent; port 9, discard,
    has no listener), so the count is the app thread's: routing, the hand-off to the delivery and
    its queue, as when delivering to a server.
    """
    from opentelemetry.sdk.trace import TracerProvider

    from sentrial import BatcherConfig, SentrialClient

    batching = BatcherConfig(
        enabled=True, flush_interval=HOLD_MS / 1000, flush_threshold=HOLD_SPANS, max_queue_size=HOLD_SPANS
    )
    return SentrialClient(
        api_key="bench-key",
        api_url="http://127.0.0.1:9",
        batching=batching,
        tracer_provider=provider or TracerProvider(),
    )


def let_go_after(call: Callable[[], Any], client: Any) -> Callable[[], Any]:
    """``call``, after which the held client's batch queue lets go of the span it was handed.

    The batch worker takes an LLM call's span during the app's next wait (an LLM call is one), so a
    queue never fills with them; held through the whole count, hundreds would pile up, and every
    garbage collection on the app thread would walk them all (about 25k instructions per call by the
    end of a count, which grows with the count's length). Emptying it, on the app thread and
    counted, leaves what the hand-off costs: routing, the hand-on and the queueing itself.
    """
    queue = client.delivery._batcher._batch_processor._queue  # OTel's deque of the held spans

    def call_and_let_go() -> Any:
        result = call()
        queue.clear()
        return result

    return call_and_let_go


def llm_case(name: str, url: str) -> Callable[[int], Any]:
    from bench_llm_overhead import bare_span, chat, dropping_provider, openai_client
    from opentelemetry.sdk.trace import TracerProvider

    from sentrial.instrumentation._base import TRACER_NAME, wrap_instance
    from sentrial.instrumentation.openai import PATCHES

    client, provider = openai_client(url), dropping_provider()
    if name == "floor":
        call = bare_span(client, provider, url)
    elif name == "traced+Sentrial":  # the realistic path: inside an interaction, delivery on
        provider = TracerProvider()  # as bench_llm_overhead.py: the instrumentation's own tracer on it
        sentrial_client = held_client(provider)
        wrap_instance(client, PATCHES, provider.get_tracer(TRACER_NAME))
        sentrial_client.begin(user_id="bench", event="count_instructions", input="Paris?")
        call = let_go_after(chat(client), sentrial_client)
    else:
        if name == "traced":
            wrap_instance(client, PATCHES, provider.get_tracer(TRACER_NAME))
        call = chat(client)

    def run(calls: int) -> None:
        for _ in range(calls):
            call()

    return run


def background_case(name: str, url: str, server_url: str) -> Callable[[int], Any]:
    """The traced call inside an interaction; after each call a flush that delivers its span, or
    (the baseline) a flush of a second client that holds nothing."""
    from bench_llm_overhead import chat, openai_client
    from opentelemetry.sdk.trace import TracerProvider

    from sentrial import BatcherConfig, SentrialClient
    from sentrial.instrumentation._base import TRACER_NAME, wrap_instance
    from sentrial.instrumentation.openai import PATCHES

    held = BatcherConfig(
        enabled=True, flush_interval=HOLD_MS / 1000, flush_threshold=HOLD_SPANS, max_queue_size=HOLD_SPANS
    )

    def delivering_client() -> Any:
        provider = TracerProvider()
        client = SentrialClient(
            api_key="bench-key", api_url=server_url, batching=held, tracer_provider=provider
        )
        client.begin(user_id="bench", event="count_instructions", input="Paris?")
        client.flush(timeout=60)  # the opening is not counted
        return client, provider

    idle = delivering_client()[0] if name.startswith("held") else None
    client, provider = delivering_client()  # begun last: its interaction is the current one
    flushed = idle or client
    openai = openai_client(url)
    wrap_instance(openai, PATCHES, provider.get_tracer(TRACER_NAME))
    call = chat(openai)

    def run(calls: int) -> None:
        for _ in range(calls):
            call()
            if not flushed.flush(timeout=60):
                raise RuntimeError("a span was not delivered")

    return run


def event_case(name: str) -> Callable[[int], Any]:
    from bench_app_thread import TOOL_INPUT, TOOL_NAME, TOOL_OUTPUT, BareSpanCase

    if name == "bare span":
        return BareSpanCase(encode_json=False, processor=held_processor()).run
    interaction = held_client().begin(user_id="bench", event="count_instructions", input="Weather?")

    def run(calls: int) -> None:
        for _ in range(calls):
            interaction.track_tool_call(tool_name=TOOL_NAME, tool_input=TOOL_INPUT, tool_output=TOOL_OUTPUT)

    return run


def interaction_case(name: str) -> Callable[[int], Any]:
    """A call is one whole interaction: its 7 spans, bare or through ``begin`` ... ``finish``."""
    from bench_app_thread import SPANS_PER_INTERACTION, BareInteractionCase, run_interactions

    if name == "bare spans":
        bare = BareInteractionCase(processor=held_processor())
        return lambda calls: bare.run(calls * SPANS_PER_INTERACTION)
    client = held_client()
    return lambda calls: run_interactions(client, calls * SPANS_PER_INTERACTION)


def child(case: str, url: str, calls: int) -> None:
    """Make the calls of one case, then leave at once (no exit hooks: both runs end alike)."""
    if case in BACKGROUND_CASES:
        # The GIL changes hands where a thread waits, not every 5 ms: how many forced switches fall
        # inside a span's delivery depends on how fast valgrind runs, i.e. on the machine's load.
        sys.setswitchinterval(1.0)
        endpoint, server_url = url.split(" ")
        run = background_case(case, endpoint, server_url)
    elif case in LLM_CASES:
        run = llm_case(case, url)
    elif case in EVENT_CASES:
        run = event_case(case)
    else:
        run = interaction_case(case)
    run(WARMUP)
    gc.collect()
    gc.freeze()
    run(calls)
    sys.stdout.flush()
    os._exit(0)


def count(case: str, url: str, calls: int) -> int:
    """Instructions the process executed for ``calls`` calls of ``case`` (startup included)."""
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    command += [sys.executable, __file__, "--child", case, "--url", url, "--calls", str(calls)]
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    found = _REFS.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{case}: valgrind failed:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def per_call(cases: tuple[str, ...], url: str, calls: int) -> list[float]:
    """Instructions per call of each case; two valgrind runs at a time."""
    runs = [(case, made) for case in cases for made in (calls, 0)]
    with ThreadPoolExecutor(2) as pool:
        counted = dict(zip(runs, pool.map(lambda run: count(run[0], url, run[1]), runs), strict=True))
    return [(counted[case, calls] - counted[case, 0]) / calls for case in cases]


def report(title: str, cases: tuple[str, ...], url: str, calls: int) -> list[float]:
    print(title)
    figures = per_call(cases, url, calls)
    for case, figure in zip(cases, figures, strict=True):
        ratio = figure / figures[0]
        print(f"  {case:14s} {figure / 1000:9.1f}k instructions per call  {ratio:6.3f}x  ({ratio - 1:+.1%})")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="counted calls per case (default 300)")
    parser.add_argument(
        "--only", choices=GROUPS, action="append", help="count only this group of cases (repeatable)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.calls)
    if shutil.which("valgrind") is None:
        sys.exit("count_instructions: valgrind is not on the PATH")
    from _support import start_server
    from bench_llm_overhead import FakeEndpoint

    wanted = set(args.only or GROUPS)
    lines: list[str] = []
    if wanted & {"llm", "background"}:
        endpoint = FakeEndpoint(in_process=False)
        server = start_server(0, separate_process=True)
        try:
            if "llm" in wanted:
                title = "LLM call (openai chat completion, fake endpoint):"
                plain, _, traced, realistic = report(title, LLM_CASES, endpoint.url, args.calls)
                lines.append(f"target: traced within 5% of plain: {traced / plain - 1:+.1%}")
                lines.append(
                    "target: traced+Sentrial (in an interaction, delivery on) within 4.5% of plain: "
                    f"{realistic / plain - 1:+.1%}"
                )
            if "background" in wanted:
                title = "LLM call inside an interaction, each span delivered alone (all threads):"
                held, delivered = report(title, BACKGROUND_CASES, f"{endpoint.url} {server.url}", args.calls)
                background = (delivered - held) / 1000
                lines.append(f"the background delivery per LLM span: {background:.0f}k instructions")
        finally:
            server.stop()
            endpoint.stop()
    if "event" in wanted:
        bare, tracked = report("Tracked event (app thread only):", EVENT_CASES, "", args.calls)
        lines.append(f"target: a tracked event within 1.5x of the bare span: {tracked / bare:.2f}x")
    if "interaction" in wanted:
        title = "Whole interaction: begin, 5 tool calls, a decision, finish (app thread only):"
        bare, whole = report(title, INTERACTION_CASES, "", args.calls // 5)
        lines.append(f"target: a whole interaction within 1.3x of its bare spans: {whole / bare:.2f}x")
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
