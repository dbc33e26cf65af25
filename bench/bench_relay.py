"""bench_relay.py: one `sentrial relay`'s throughput (spans/s) and memory per open trace.

Throughput: pre-encoded OTLP/HTTP protobuf requests (each a batch of whole agent runs: a root, three
LLM calls and a tool call per trace, as the OTel SDK's encoder writes them) are POSTed over
keep-alive connections by sender threads to a relay in this process, which sends to the local
server. Two rates: `accepted` (the relay answered 200: decoded, mapped, queued) and `delivered`
(until the server holds every session's completion). Baseline, same run: decoding the same bodies
alone (``opentelemetry-proto``), no HTTP and no mapping.

Memory per open trace: LLM spans of traces whose root has not come yet, handed to the relay
directly; the Python heap it holds per open trace (tracemalloc) once their calls were delivered.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
import tracemalloc
from collections.abc import Sequence
from urllib.parse import urlsplit

from _support import argument_parser, machine_line, print_table, start_server
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sentrial.relay import Relay, RelayServer, otlp

SPANS_PER_TRACE = 5
LLM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "Plan a trip"}]}]',
    "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"type": "text", "content": "Sure."}]}]',
}
TOOL = {
    "gen_ai.operation.name": "execute_tool",
    "gen_ai.tool.name": "search",
    "gen_ai.tool.call.arguments": "{}",
}


def agent_runs(traces: int, root: bool = True) -> list[ReadableSpan]:
    """The spans of ``traces`` agent runs (without their roots when ``root`` is False)."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for _ in range(traces):
        with tracer.start_as_current_span("invoke_agent bench"):
            for name, attributes in (("chat", LLM), ("chat", LLM), ("execute_tool", TOOL), ("chat", LLM)):
                with tracer.start_as_current_span(name, attributes=attributes):
                    pass
    provider.shutdown()
    spans = list(memory.get_finished_spans())
    return spans if root else [s for s in spans if s.parent is not None]


def bodies(traces: int, per_request: int) -> list[bytes]:
    spans = agent_runs(traces)
    step = per_request * SPANS_PER_TRACE
    return [encode_spans(spans[i : i + step]).SerializeToString() for i in range(0, len(spans), step)]


def post_all(url: str, requests: Sequence[bytes], senders: int) -> None:
    parts = urlsplit(url)
    shares = [requests[i::senders] for i in range(senders)]

    def send(share: Sequence[bytes]) -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        for body in share:
            while True:
                connection.request("POST", "/v1/traces", body, {"Content-Type": otlp.PROTOBUF})
                answer = connection.getresponse()
                answer.read()
                if answer.status == 200:
                    break
                time.sleep(float(answer.getheader("Retry-After") or 1))  # 429: as a sender would
        connection.close()

    threads = [threading.Thread(target=send, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def throughput_round(server_url: str, requests: Sequence[bytes], senders: int) -> tuple[float, float, float]:
    """Spans/s decoded alone (baseline), accepted by the relay, delivered to the server."""
    spans = sum(len(otlp.decode(body, otlp.PROTOBUF).spans) for body in requests[:1]) * len(requests)
    start = time.perf_counter()
    for body in requests:
        otlp.decode(body, otlp.PROTOBUF)
    decoded = spans / (time.perf_counter() - start)
    relay = RelayServer(Relay(api_url=server_url, api_key="bench"), port=0).start()
    try:
        start = time.perf_counter()
        post_all(relay.url, requests, senders)
        accepted = spans / (time.perf_counter() - start)
        assert relay.relay.flush(timeout=300), "the relay did not deliver everything"
        delivered = spans / (time.perf_counter() - start)
        stats = relay.relay.stats()
        assert stats["delivery"]["dropped"] == 0, stats
    finally:
        relay.stop()
    return decoded, accepted, delivered


def memory_per_open_trace(server_url: str, traces: int) -> float:
    """Heap bytes the relay holds per trace whose session is open (its root not yet received)."""
    spans = agent_runs(traces, root=False)
    step = 100 * (SPANS_PER_TRACE - 1)
    requests = [encode_spans(spans[i : i + step]).SerializeToString() for i in range(0, len(spans), step)]
    relay = Relay(api_url=server_url, api_key="bench", quiet_s=3600)
    try:
        relay.receive(requests[0], otlp.PROTOBUF, None)  # warm-up: the connections and caches
        assert relay.flush(timeout=60)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for body in requests[1:]:
            assert relay.receive(body, otlp.PROTOBUF, None).status == 200
        assert relay.flush(timeout=300)
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    finally:
        relay.close()
    return held / (traces - 100)


def main() -> None:
    parser = argument_parser(__doc__)
    parser.add_argument("--traces", type=int, default=2000, help="agent runs per round (5 spans each)")
    parser.add_argument("--per-request", type=int, default=20, help="agent runs per OTLP request")
    parser.add_argument("--senders", type=int, default=4, help="sender threads (keep-alive connections)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--open-traces", type=int, default=10_000, help="open traces for the memory figure")
    args = parser.parse_args()
    if args.quick:
        args.traces, args.rounds, args.open_traces = 300, 2, 1000
    server = start_server(0, args.server_process)
    try:
        print(machine_line(), f"server: {server.mode}")
        requests = bodies(args.traces, args.per_request)
        rounds = [throughput_round(server.url, requests, args.senders) for _ in range(args.rounds)]
        decoded, accepted, delivered = (statistics.median(column) for column in zip(*rounds, strict=True))
        rows = [
            ["decode alone (baseline)", f"{decoded:,.0f}", "1.00"],
            ["relay: accepted (200)", f"{accepted:,.0f}", f"{accepted / decoded:.2f}"],
            ["relay: delivered to the server", f"{delivered:,.0f}", f"{delivered / decoded:.2f}"],
        ]
        print_table(["spans/s (median of rounds)", "spans/s", "x baseline"], rows)
        per_trace = memory_per_open_trace(server.url, args.open_traces)
        print(f"memory per open trace: {per_trace:,.0f} bytes ({args.open_traces:,} open traces)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
