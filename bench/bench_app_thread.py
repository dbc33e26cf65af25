"""What one tracked event costs the application thread.

Measured: a loop of ``interaction.track_tool_call(tool_name=..., tool_input={small dict},
tool_output={small dict})`` calls inside open interactions, on a ``SentrialClient`` pointed at the
local Sessions API server, in four set-ups: the server answering at once or with every answer
delayed by 20 ms, each with batching off (the default) and ``batching=True``.

Baseline, measured in the same run: a bare OpenTelemetry span start/end with the same 7 attributes
(strings of similar size and one float) under an open parent span, on an SDK ``TracerProvider`` of
its own with a ``BatchSpanProcessor`` and a no-op exporter. For reference a second line adds the two
``json.dumps`` calls that turning the dicts into attributes needs anyway.

Per event the table shows:
  wall      the time the app thread spends in the loop (what the app waits), median of the rounds;
            it includes waiting for the GIL while the background delivery runs
  app CPU   CPU time of the app thread alone (no GIL waits)
  all CPU   CPU time of the whole process over the loop and the flush after it: the app thread plus
            the background delivery (plus the server, when it runs in this process)

Events are made in chunks (default 500, well below the span queue of 1000 with batching and 2048
without, and the transport's 2048 pending requests), each chunk timed on its own; between chunks,
outside the timed region, the client is flushed, so no queue overflows. At the end the script checks
that everything was delivered: flush results, the exporter's counters and the server's event count.

By default the calls run back to back (a burst: the background delivery competes for the GIL during
the loop). ``--pace-ms N`` sleeps N ms before each call, untimed, and times each call on its own,
like an agent whose tool calls are apart (the delivery then mostly runs in the gaps).

Target: within 1.5x of the bare span (wall), also with the server 20 ms away.

    python bench/bench_app_thread.py [--quick] [--server-process] [--pace-ms N]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import astuple, dataclass, field
from typing import Any, Protocol

from _support import (
    BenchServer,
    DroppingExporter,
    argument_parser,
    begin_own_session,
    machine_line,
    print_table,
    start_server,
)
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from sentrial import SentrialClient, semconv

TARGET_RATIO = 1.5
SLOW_SERVER_MS = 20
API_KEY = "bench-key"
TOOL_NAME = "search"
TOOL_INPUT = {"query": "weather in Paris", "limit": 3}
TOOL_OUTPUT = {"results": ["sunny", "22C"], "ok": True}
TOOLS_PER_INTERACTION = 5
SPANS_PER_INTERACTION = TOOLS_PER_INTERACTION + 2  # the session, the tool calls, one decision
REASONING = "The forecast answers the question; no more searches needed."
# An interaction's input and output as the GenAI conventions' messages (JSON text), as its span carries them.
INPUT_MESSAGES = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Weather?"}]}])
OUTPUT_MESSAGES = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "done"}]}])
ALTERNATIVES = ["search again", "answer"]
FLUSH_TIMEOUT_S = 120.0


@dataclass
class Sample:
    """Seconds per event in one round."""

    wall: float
    app_cpu: float
    all_cpu: float


class Case(Protocol):
    label: str

    def run(self, count: int) -> None:
        """Make ``count`` events; this is the timed part."""

    def settle(self) -> None:
        """Deliver what was made (untimed)."""


class BareSpanCase:
    """The baseline: a plain OTel span with the tool call's attributes, nothing else."""

    def __init__(self, encode_json: bool, processor: BatchSpanProcessor | None = None) -> None:
        self.label = "bare OTel span + 2x json.dumps" if encode_json else "bare OTel span (baseline)"
        self._encode_json = encode_json
        self._provider = TracerProvider()
        self._processor = processor or BatchSpanProcessor(DroppingExporter())
        self._provider.add_span_processor(self._processor)
        self._tracer = self._provider.get_tracer("bench")
        self._parent = self._tracer.start_span("invoke_agent bench")
        self._context = trace.set_span_in_context(self._parent)
        self._session_id = str(uuid.uuid4())

    def run(self, count: int) -> None:
        tracer, context, session_id = self._tracer, self._context, self._session_id
        # Without the encodings the attributes are the same every time: made once (the stricter floor).
        attributes = _tool_attributes(
            session_id,
            json.dumps(TOOL_INPUT, separators=(",", ":")),
            json.dumps(TOOL_OUTPUT, separators=(",", ":")),
        )
        for _ in range(count):
            if self._encode_json:
                tool_input = json.dumps(TOOL_INPUT, separators=(",", ":"))
                tool_output = json.dumps(TOOL_OUTPUT, separators=(",", ":"))
                attributes = _tool_attributes(session_id, tool_input, tool_output)
            tracer.start_span(f"execute_tool {TOOL_NAME}", context=context, attributes=attributes).end()

    def settle(self) -> None:
        self._processor.force_flush()

    def close(self) -> None:
        self._parent.end()
        self._provider.shutdown()


def _tool_attributes(session_id: str, tool_input: str, tool_output: str) -> dict[str, Any]:
    return {
        semconv.SPAN_KIND: semconv.KIND_TOOL_CALL,
        semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_EXECUTE_TOOL,
        semconv.GEN_AI_TOOL_NAME: TOOL_NAME,
        semconv.GEN_AI_TOOL_TYPE: semconv.TOOL_TYPE_FUNCTION,
        semconv.GEN_AI_TOOL_CALL_ARGUMENTS: tool_input,
        semconv.GEN_AI_TOOL_CALL_RESULT: tool_output,
        semconv.COST_USD: 0.0,
        semconv.SESSION_ID: session_id,
    }


class BareInteractionCase:
    """The baseline of a whole interaction: the same 7 spans made with bare OTel, as an app that
    traces by hand would (``start_as_current_span`` for the agent run): a root span with the
    session's attributes made current, five tool spans and a decision span under it, the outcome
    set on the root, the context left and the root ended; the attribute values are computed once
    (no ids, no JSON per interaction). ``run(count)`` makes ``count // 7`` of them."""

    label = "bare OTel, whole interaction"

    def __init__(self, processor: BatchSpanProcessor | None = None) -> None:
        self._provider = TracerProvider()
        self._processor = processor or BatchSpanProcessor(DroppingExporter())
        self._provider.add_span_processor(self._processor)
        self._tracer = self._provider.get_tracer("bench")
        # Values computed once, as in BareSpanCase: the floor is the spans alone.
        self._session_id, self._event_id = str(uuid.uuid4()), str(uuid.uuid4())

    def run(self, count: int) -> None:
        tracer, session_id, event_id = self._tracer, self._session_id, self._event_id
        tool_attributes = _tool_attributes(
            session_id,
            json.dumps(TOOL_INPUT, separators=(",", ":")),
            json.dumps(TOOL_OUTPUT, separators=(",", ":")),
        )
        alternatives = json.dumps(ALTERNATIVES)
        for _ in range(count // SPANS_PER_INTERACTION):
            root = tracer.start_span(
                "invoke_agent bench",
                attributes={
                    semconv.SPAN_KIND: semconv.KIND_SESSION,
                    semconv.SESSION_ID: session_id,
                    semconv.SESSION_NAME: f"bench:{event_id[:8]}",
                    semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_INVOKE_AGENT,
                    semconv.GEN_AI_AGENT_NAME: "bench",
                    semconv.USER_ID: "user-1",
                    semconv.EVENT_ID: event_id,
                    semconv.GEN_AI_INPUT_MESSAGES: INPUT_MESSAGES,
                },
            )
            token = otel_context.attach(trace.set_span_in_context(root))
            for _ in range(TOOLS_PER_INTERACTION):
                tracer.start_span(f"execute_tool {TOOL_NAME}", attributes=tool_attributes).end()
            tracer.start_span(
                semconv.SPAN_NAME_DECISION,
                attributes={
                    semconv.SPAN_KIND: semconv.KIND_DECISION,
                    semconv.GEN_AI_OPERATION_NAME: semconv.OPERATION_PLAN,
                    semconv.DECISION_REASONING: REASONING,
                    semconv.COST_USD: 0.0,
                    semconv.DECISION_ALTERNATIVES: alternatives,
                    semconv.DECISION_CONFIDENCE: 0.8,
                    semconv.SESSION_ID: session_id,
                },
            ).end()
            root.set_attributes({semconv.SUCCESS: True, semconv.GEN_AI_OUTPUT_MESSAGES: OUTPUT_MESSAGES})
            otel_context.detach(token)
            root.end()

    def settle(self) -> None:
        self._processor.force_flush()

    def close(self) -> None:
        self._provider.shutdown()


def run_interactions(client: Any, count: int, user: str = "bench") -> list[str]:
    """``count // 7`` whole interactions on ``client`` (``begin``, five tool calls, a decision,
    ``finish``); their session ids."""
    sessions = []
    for _ in range(count // SPANS_PER_INTERACTION):
        interaction = client.begin(user_id=user, event="bench", input="Weather?")
        for _ in range(TOOLS_PER_INTERACTION):
            interaction.track_tool_call(tool_name=TOOL_NAME, tool_input=TOOL_INPUT, tool_output=TOOL_OUTPUT)
        interaction.track_decision(reasoning=REASONING, alternatives=ALTERNATIVES, confidence=0.8)
        interaction.finish(output="done")
        sessions.append(interaction.session_id)
    return sessions


@dataclass
class Delivered:
    """What the end-of-run check found for one SDK case."""

    calls: int = 0
    flushes_ok: bool = True
    final_flush: bool = False
    stats: Any = None
    on_server: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return (
            self.flushes_ok
            and self.final_flush
            and self.stats is not None
            and self.stats.dropped == 0
            and self.on_server == self.calls
        )


class SdkCase:
    """``interaction.track_tool_call`` on a client of its own, spread over several open interactions."""

    def __init__(self, label: str, server: BenchServer, batching: bool, sessions: int) -> None:
        self.label = label
        self._server = server
        self._provider = TracerProvider()  # not shared with the baseline's processors
        self._client = SentrialClient(
            api_key=API_KEY, api_url=server.url, batching=batching, tracer_provider=self._provider
        )
        self._interactions = [self._begin(k) for k in range(sessions)]
        self._turn = 0  # the interaction whose turn it is
        self.delivered = Delivered()

    def _begin(self, user: int) -> Any:
        return begin_own_session(self._client, user, "bench_app_thread", "Weather?")

    def run(self, count: int) -> None:
        interactions, turn = self._interactions, self._turn
        sessions = len(interactions)
        for i in range(turn, turn + count):
            interactions[i % sessions].track_tool_call(
                tool_name=TOOL_NAME, tool_input=TOOL_INPUT, tool_output=TOOL_OUTPUT
            )
        self._turn = (turn + count) % sessions
        self.delivered.calls += count

    def settle(self) -> None:
        if not self._client.flush(timeout=FLUSH_TIMEOUT_S):
            self.delivered.flushes_ok = False

    def close(self) -> None:
        """Finish the interactions, deliver, and count what the server holds."""
        for interaction in self._interactions:
            interaction.finish(output="done")
        delivered = self.delivered
        delivered.final_flush = self._client.flush(timeout=FLUSH_TIMEOUT_S)
        exporter = self._client.delivery.exporter
        delivered.stats = exporter.stats if exporter is not None else None
        delivered.on_server = self._server.holdings([i.session_id for i in self._interactions]).events
        self._client.shutdown(timeout=FLUSH_TIMEOUT_S)
        self._provider.shutdown()


class SdkInteractionCase(SdkCase):
    """Whole interactions (``begin``, five tool calls, a decision, ``finish``) on a client of its own;
    ``run(count)`` makes ``count // 7`` of them, as :class:`BareInteractionCase` does."""

    def __init__(self, label: str, server: BenchServer, batching: bool) -> None:
        super().__init__(label, server, batching, sessions=0)
        self._session_ids: list[str] = []

    def run(self, count: int) -> None:
        self._session_ids += run_interactions(self._client, count)
        self.delivered.calls += (count // SPANS_PER_INTERACTION) * (TOOLS_PER_INTERACTION + 1)

    def close(self) -> None:
        delivered = self.delivered
        delivered.final_flush = self._client.flush(timeout=FLUSH_TIMEOUT_S)
        exporter = self._client.delivery.exporter
        delivered.stats = exporter.stats if exporter is not None else None
        held = self._server.holdings(self._session_ids)
        delivered.on_server = held.events
        if held.completed != len(self._session_ids):
            delivered.flushes_ok = False
        self._client.shutdown(timeout=FLUSH_TIMEOUT_S)
        self._provider.shutdown()


def timed_chunk(case: Case, count: int, pace: float) -> tuple[float, float]:
    """Wall and app-thread CPU seconds of ``count`` events: one timed loop, or with ``pace`` seconds
    of (untimed) sleep before each event, each event timed on its own."""
    if not pace:
        thread0, start = time.thread_time(), time.perf_counter()
        case.run(count)
        end, thread1 = time.perf_counter(), time.thread_time()
        return end - start, thread1 - thread0
    wall = cpu = 0.0
    for _ in range(count):
        time.sleep(pace)
        thread0, start = time.thread_time(), time.perf_counter()
        case.run(1)
        end, thread1 = time.perf_counter(), time.thread_time()
        wall += end - start
        cpu += thread1 - thread0
    return wall, cpu


def measure_chunk(case: Case, count: int, pace: float) -> Sample:
    """One timed chunk of ``count`` events, then settling (untimed); seconds (not per event)."""
    gc.collect()
    process0 = time.process_time()
    wall, app_cpu = timed_chunk(case, count, pace)
    case.settle()
    return Sample(wall, app_cpu, time.process_time() - process0)


def measure(cases: Sequence[Case], args: argparse.Namespace) -> dict[str, list[Sample]]:
    """A warm-up chunk per case, then ``rounds`` rounds; per round and case, seconds per event.

    Within a round the cases take turns chunk by chunk (the order rotating), so that every case
    runs under the same conditions as its neighbours; a round's ratios compare such neighbours.
    """
    for case in cases:
        measure_chunk(case, args.warmup, 0.0)
    samples: dict[str, list[Sample]] = {case.label: [] for case in cases}
    turn = 0
    for _ in range(args.rounds):
        totals = {case.label: Sample(0.0, 0.0, 0.0) for case in cases}
        done = 0
        while done < args.events:
            count = min(args.chunk, args.events - done)
            shift = turn % len(cases)
            turn += 1
            for case in [*cases[shift:], *cases[:shift]]:
                chunk = measure_chunk(case, count, args.pace_ms / 1000)
                total = totals[case.label]
                total.wall += chunk.wall
                total.app_cpu += chunk.app_cpu
                total.all_cpu += chunk.all_cpu
            done += count
        for label, total in totals.items():
            samples[label].append(Sample(*(value / args.events for value in astuple(total))))
    return samples


def median_us(samples: list[Sample], what: str) -> float:
    return statistics.median(getattr(s, what) for s in samples) * 1e6


def median_ratio(samples: list[Sample], baseline: list[Sample], what: str) -> float:
    """The median over the rounds of each round's ratio to the baseline's same round."""
    pairs = zip(samples, baseline, strict=True)
    return statistics.median(getattr(sample, what) / getattr(base, what) for sample, base in pairs)


def report(samples: dict[str, list[Sample]], baselines: dict[str, str], sdk_cases: Sequence[SdkCase]) -> None:
    """The table; ``baselines`` names each case's baseline (a baseline is its own)."""
    delivered = {case.label: case.delivered for case in sdk_cases}
    rows = []
    for label, runs in samples.items():
        base = samples[baselines[label]]
        wall, cpu, all_cpu = (median_us(runs, what) for what in ("wall", "app_cpu", "all_cpu"))
        spread = f"{min(s.wall for s in runs) * 1e6:.1f}-{max(s.wall for s in runs) * 1e6:.1f}"
        done = delivered.get(label)
        rows.append(
            [
                label,
                f"{wall:.1f}",
                spread,
                f"{median_ratio(runs, base, 'wall'):.2f}x",
                f"{cpu:.1f}",
                f"{median_ratio(runs, base, 'app_cpu'):.2f}x",
                f"{all_cpu:.1f}",
                "-" if done is None else ("yes" if done.complete else "NO"),
            ]
        )
    headers = ["case", "wall us/ev", "min-max", "ratio", "app CPU us", "ratio", "all CPU us", "delivered"]
    print_table(headers, rows)
    print()
    for case in sdk_cases:
        ratio = median_ratio(samples[case.label], samples[baselines[case.label]], "wall")
        verdict = "meets" if ratio <= TARGET_RATIO else "MISSES"
        d = case.delivered
        stats = d.stats
        print(
            f"{case.label}: {ratio:.2f}x {baselines[case.label]}, {verdict} the {TARGET_RATIO}x target; "
            f"flushes all True: {d.flushes_ok and d.final_flush}; "
            f"sent={stats.sent} retried={stats.retried} dropped={stats.dropped} pending={stats.pending}; "
            f"server holds {d.on_server}/{d.calls} events"
        )


def parse_args() -> argparse.Namespace:
    parser = argument_parser(__doc__ or "")
    parser.add_argument("--rounds", type=int, help="timed rounds per case (default 9, quick 3)")
    parser.add_argument("--events", type=int, help="events per round (default 1000, quick 400)")
    parser.add_argument("--chunk", type=int, help="events per timed chunk (default 500, quick 200)")
    parser.add_argument("--sessions", type=int, default=16, help="open interactions (default 16)")
    parser.add_argument(
        "--pace-ms",
        type=float,
        default=0.0,
        help="sleep this long (untimed) before each event and time each call on its own, like an "
        "agent whose tool calls are apart; default 0: back-to-back calls, one timed loop",
    )
    args = parser.parse_args()
    args.rounds = args.rounds or (3 if args.quick else 9)
    args.events = args.events or (400 if args.quick else 1000)
    args.chunk = args.chunk or (200 if args.quick else 500)
    args.warmup = args.chunk
    return args


def main() -> None:
    args = parse_args()
    fast = start_server(0, args.server_process)
    slow = start_server(SLOW_SERVER_MS, args.server_process)
    print(f"App-thread cost of one track_tool_call ({machine_line()})")
    print(
        f"server: {fast.mode}; {args.rounds} rounds x {args.events} events in chunks of {args.chunk}, "
        f"{args.sessions} open interactions, "
        + (f"{args.pace_ms:g} ms apart" if args.pace_ms else "back to back")
        + "; median per event\n"
    )
    baseline = BareSpanCase(encode_json=False)
    with_json = BareSpanCase(encode_json=True)
    sdk_cases = [
        SdkCase("sentrial, server at once, batching off", fast, False, args.sessions),
        SdkCase("sentrial, server at once, batching on", fast, True, args.sessions),
        SdkCase(f"sentrial, server {SLOW_SERVER_MS} ms, batching off", slow, False, args.sessions),
        SdkCase(f"sentrial, server {SLOW_SERVER_MS} ms, batching on", slow, True, args.sessions),
    ]
    bare_interaction = BareInteractionCase()
    whole = SdkInteractionCase("sentrial, whole interaction, server at once", fast, False)
    baselines = {case.label: baseline.label for case in [baseline, with_json, *sdk_cases]}
    baselines |= {bare_interaction.label: bare_interaction.label, whole.label: bare_interaction.label}
    try:
        samples = measure([baseline, with_json, *sdk_cases, bare_interaction, whole], args)
    finally:
        for case in [*sdk_cases, whole]:
            case.close()
        for bare in (baseline, with_json, bare_interaction):
            bare.close()
        fast.stop()
        slow.stop()
    report(samples, baselines, [*sdk_cases, whole])


if __name__ == "__main__":
    main()
