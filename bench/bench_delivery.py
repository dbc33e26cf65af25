"""End-to-end delivery rate with the server 20 ms away.

Measured: many users' interactions in flight at once, as in an agent service. Each of ``--sessions``
threads (default 32) begins an interaction, makes ``--calls`` tool calls (default 25) and finishes
it, all as fast as it can; the clock runs from the start of the first call until ``flush()`` returns
True. Rate = tool-call events delivered per second. After each round the script checks that the
server holds every event and that every session was completed. Two set-ups: batching off (the
default) and ``batching=True``.

Baseline, measured in the same run against the same server: the published client's approach, one
blocking ``requests.post`` per event on the app thread, one after the other (the "about 45/s" of
the issue).

The server is the local Sessions API server with every answer delayed by ``--delay-ms`` (20),
like a remote service: by default a thread of this process (it then competes for the GIL with the
SDK on the same cores), with ``--server-process`` a separate process (``python -m sentrial.cli
serve``).

Target: at least 400 events/s delivered with the server 20 ms away.

    python bench/bench_delivery.py [--quick] [--server-process]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from dataclasses import dataclass, field

import requests
from _support import BenchServer, argument_parser, machine_line, print_table, start_server
from opentelemetry.sdk.trace import TracerProvider

from sentrial import SentrialClient

TARGET_RATE = 400.0
API_KEY = "bench-key"
TOOL_NAME = "search"
TOOL_OUTPUT = {"results": ["sunny", "22C"], "ok": True}
FLUSH_TIMEOUT_S = 300.0
HTTP_TIMEOUT_S = 10.0


def tool_input(step: int) -> dict[str, object]:
    return {"query": "weather in Paris", "limit": 3, "step": step}


@dataclass
class Round:
    """One timed round: how many events, how long, and whether all of them arrived."""

    events: int
    seconds: float
    delivered: bool
    note: str = ""


@dataclass
class Results:
    label: str
    rounds: list[Round] = field(default_factory=list)

    def median_seconds(self) -> float:
        return statistics.median(r.seconds for r in self.rounds)

    def rate(self) -> float:
        """Events per second of the median round."""
        return self.rounds[0].events / self.median_seconds()

    def spread(self) -> str:
        rates = [r.events / r.seconds for r in self.rounds]
        return f"{min(rates):.0f}-{max(rates):.0f}"

    def all_delivered(self) -> bool:
        return all(r.delivered for r in self.rounds)


# --- the published client's way: one blocking POST per event ----------------------------------------
def open_session_by_hand(http: requests.Session, server: BenchServer) -> str:
    body = {"name": "baseline", "agentName": "bench_delivery", "userId": "user-baseline"}
    response = http.post(f"{server.url}/api/sdk/sessions", json=body, timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    session_id: str = response.json()["id"]
    return session_id


def post_event(http: requests.Session, server: BenchServer, session_id: str, step: int) -> None:
    body = {
        "sessionId": session_id,
        "eventType": "tool_call",
        "toolName": TOOL_NAME,
        "toolInput": tool_input(step),
        "toolOutput": TOOL_OUTPUT,
        "stateBefore": {},
        "stateAfter": {},
    }
    response = http.post(f"{server.url}/api/sdk/events", json=body, timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()


def baseline_round(server: BenchServer, events: int) -> Round:
    """``events`` sequential blocking POSTs on this thread (after an untimed warm-up of 3)."""
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {API_KEY}"
        session_id = open_session_by_hand(http, server)
        for step in range(3):
            post_event(http, server, session_id, step)
        start = time.perf_counter()
        for step in range(events):
            post_event(http, server, session_id, step)
        seconds = time.perf_counter() - start
    held = server.holdings([session_id]).events
    return Round(events, seconds, held == events + 3, f"server holds {held}/{events + 3}")


# --- the SDK: many interactions in flight --------------------------------------------------------
def agent(client: SentrialClient, user: int, calls: int, start: threading.Barrier, ids: list[str]) -> None:
    """One user's interaction: begin, ``calls`` tool calls, finish."""
    start.wait()
    interaction = client.begin(user_id=f"user-{user}", event="bench_delivery", input="Plan my trip")
    for step in range(calls):
        interaction.track_tool_call(tool_name=TOOL_NAME, tool_input=tool_input(step), tool_output=TOOL_OUTPUT)
    interaction.finish(output="done", success=True)
    ids[user] = interaction.session_id or ""


def sdk_round(client: SentrialClient, server: BenchServer, sessions: int, calls: int) -> Round:
    """``sessions`` threads at once; timed from the start of the first call to ``flush()`` returning."""
    start = threading.Barrier(sessions + 1)
    ids = [""] * sessions
    threads = [
        threading.Thread(target=agent, args=(client, user, calls, start, ids), name=f"agent-{user}")
        for user in range(sessions)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    produced = time.perf_counter() - began
    flushed = client.flush(timeout=FLUSH_TIMEOUT_S)
    seconds = time.perf_counter() - began
    held = server.holdings(ids)
    events = sessions * calls
    delivered = flushed and held.events == events and held.completed == sessions
    note = (
        f"flush={flushed}, server holds {held.events}/{events} events, "
        f"{held.completed}/{sessions} completed; app threads done after {produced:.2f} s"
    )
    return Round(events, seconds, delivered, note)


def make_client(server: BenchServer, batching: bool) -> SentrialClient:
    return SentrialClient(
        api_key=API_KEY, api_url=server.url, batching=batching, tracer_provider=TracerProvider()
    )


# --- running and reporting ------------------------------------------------------------------------
SdkRuns = list[tuple[Results, SentrialClient]]


def run(server: BenchServer, args: argparse.Namespace) -> tuple[Results, SdkRuns]:
    """Warm-up, then ``rounds`` rounds with the baseline and both SDK set-ups interleaved."""
    baseline = Results(f"baseline: blocking requests.post per event ({args.baseline_events} events)")
    size = f"{args.sessions}x{args.calls} events"
    sdk = [
        (Results(f"sentrial, batching off ({size})"), make_client(server, False)),
        (Results(f"sentrial, batching on ({size})"), make_client(server, True)),
    ]
    for _, client in sdk:  # warm-up: starts the delivery threads and opens connections
        sdk_round(client, server, min(8, args.sessions), min(5, args.calls))
    for _ in range(args.rounds):
        baseline.rounds.append(baseline_round(server, args.baseline_events))
        for results, client in sdk:
            results.rounds.append(sdk_round(client, server, args.sessions, args.calls))
    return baseline, sdk


def report(baseline: Results, sdk: SdkRuns) -> None:
    base_rate = baseline.rate()
    rows = [
        [
            results.label,
            f"{results.median_seconds():.2f}",
            f"{results.rate():.0f}",
            results.spread(),
            f"{results.rate() / base_rate:.1f}x",
            "yes" if results.all_delivered() else "NO",
        ]
        for results in [baseline, *(r for r, _ in sdk)]
    ]
    print_table(["case", "median s", "events/s", "min-max", "ratio", "all delivered"], rows)
    print()
    for results, client in sdk:
        stats = client.delivery.exporter.stats if client.delivery.exporter else None
        verdict = "meets" if results.rate() >= TARGET_RATE else "MISSES"
        rate = results.rate()
        print(f"{results.label}: {rate:.0f} events/s, {verdict} the {TARGET_RATE:.0f}/s target; {stats}")
        for number, one in enumerate(results.rounds, 1):
            rate = one.events / one.seconds
            print(f"  round {number}: {rate:.0f} events/s in {one.seconds:.2f} s; {one.note}")
    print(f"baseline rounds: {'; '.join(r.note for r in baseline.rounds)}")


def parse_args() -> argparse.Namespace:
    parser = argument_parser(__doc__ or "")
    parser.add_argument("--delay-ms", type=float, default=20, help="server answer delay (default 20)")
    parser.add_argument("--sessions", type=int, help="interactions in flight (default 32, quick 16)")
    parser.add_argument("--calls", type=int, help="tool calls per interaction (default 25, quick 10)")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 5, quick 2)")
    parser.add_argument("--baseline-events", type=int, help="baseline events a round (default 100, quick 25)")
    args = parser.parse_args()
    args.sessions = args.sessions or (16 if args.quick else 32)
    args.calls = args.calls or (10 if args.quick else 25)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.baseline_events = args.baseline_events or (25 if args.quick else 100)
    return args


def main() -> None:
    args = parse_args()
    server = start_server(args.delay_ms, args.server_process)
    print(f"Delivery rate, server answers delayed {args.delay_ms:g} ms ({machine_line()})")
    print(f"server: {server.mode}; {args.rounds} rounds; median round\n")
    clients: list[SentrialClient] = []
    try:
        baseline, sdk = run(server, args)
        clients = [client for _, client in sdk]
        report(baseline, sdk)
    finally:
        for client in clients:
            client.shutdown(timeout=FLUSH_TIMEOUT_S)
        server.stop()


if __name__ == "__main__":
    main()
