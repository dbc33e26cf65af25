"""End-to-end delivery with the server 20 ms away: many sessions at once, and one busy session.

Distance is modelled by the tests' delaying TCP proxy (``tests/delay_proxy.py``): every byte is
held ``--distance-ms``/2 (10 ms) in each direction, while the local server itself answers in
``--delay-ms`` (1 ms), as a hosted API does. Clients talk to the proxy; the results are read from
the server directly.

Cases, each timed from the start of the first call until ``flush()`` returns True, rate = tool-call
events delivered per second:

- many sessions: each of ``--sessions`` threads (default 32) begins an interaction, makes
  ``--calls`` tool calls (default 25) and finishes it, all as fast as it can; batching off (the
  default) and ``batching=True``.
- one session: one interaction makes ``--one-session-events`` tool calls (default 800) as fast as it
  can; batching off and on.
- one session paced: one interaction makes a tool call every 5 ms (200 events/s) for
  ``--paced-events`` (default 400); the delay of each event from its tracking call to the server's
  ``receivedAt`` (p50, p99).

After each round the script checks that the server holds every event of every session, in the order
they were tracked (the server stores events in the order it received them), and that every session
was completed.

Baseline, measured in the same run through the same proxy: the published client's approach, one
blocking ``requests.post`` per event on the app thread, one after the other.

The server and the proxy run as threads of this process (they then compete for the GIL with the
SDK on the same cores), or with ``--server-process`` as separate processes.

Targets: at least 400 events/s delivered, for many sessions and for one; at 200 events/s in one
session, a p99 delay below 100 ms.

    python bench/bench_delivery.py [--quick] [--server-process]
"""

from __future__ import annotations

import argparse
import contextvars
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import requests
from _support import BenchServer, Distance, argument_parser, machine_line, print_table, start_server
from opentelemetry.sdk.trace import TracerProvider

from sentrial import SentrialClient

TARGET_RATE = 400.0
TARGET_P99_MS = 100.0
PACE_S = 0.005  # one tracked event every 5 ms: 200 events/s
API_KEY = "bench-key"
TOOL_NAME = "search"
TOOL_OUTPUT = {"results": ["sunny", "22C"], "ok": True}
FLUSH_TIMEOUT_S = 300.0
HTTP_TIMEOUT_S = 10.0


def tool_input(step: int, at: float | None = None) -> dict[str, object]:
    query: dict[str, object] = {"query": "weather in Paris", "limit": 3, "step": step}
    if at is not None:
        query["at"] = at
    return query


@dataclass
class Round:
    """One timed round: how many events, how long, and whether all of them arrived in order."""

    events: int
    seconds: float
    delivered: bool
    note: str = ""
    delays_ms: list[float] = field(default_factory=list)  # tracking call to the server, per event


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

    def delay_ms(self, percentile: int) -> float:
        """The percentile of the delays of every round's events together."""
        delays = sorted(d for r in self.rounds for d in r.delays_ms)
        return delays[min(len(delays) - 1, len(delays) * percentile // 100)] if delays else float("nan")


# --- the published client's way: one blocking POST per event ----------------------------------------
def open_session_by_hand(http: requests.Session, url: str) -> str:
    body = {"name": "baseline", "agentName": "bench_delivery", "userId": "user-baseline"}
    response = http.post(f"{url}/api/sdk/sessions", json=body, timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    session_id: str = response.json()["id"]
    return session_id


def post_event(http: requests.Session, url: str, session_id: str, step: int) -> None:
    body = {
        "sessionId": session_id,
        "eventType": "tool_call",
        "toolName": TOOL_NAME,
        "toolInput": tool_input(step),
        "toolOutput": TOOL_OUTPUT,
        "stateBefore": {},
        "stateAfter": {},
    }
    response = http.post(f"{url}/api/sdk/events", json=body, timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()


def baseline_round(server: BenchServer, url: str, events: int) -> Round:
    """``events`` sequential blocking POSTs on this thread (after an untimed warm-up of 3)."""
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {API_KEY}"
        session_id = open_session_by_hand(http, url)
        for step in range(3):
            post_event(http, url, session_id, step)
        start = time.perf_counter()
        for step in range(events):
            post_event(http, url, session_id, step)
        seconds = time.perf_counter() - start
    held = server.holdings([session_id]).events
    return Round(events, seconds, held == events + 3, f"server holds {held}/{events + 3}")


# --- the SDK ------------------------------------------------------------------------------------------
def agent(
    client: SentrialClient, user: int, calls: int, start: threading.Barrier | None, ids: list[str]
) -> list[float]:
    """One user's interaction: begin, ``calls`` tool calls, finish; the calls' times (paced: each
    ``PACE_S`` after the one before it; else as fast as it can)."""
    if start is not None:
        start.wait()
    # An empty context: a session of its own, never a sub-session of one begun before.
    interaction = contextvars.Context().run(
        client.begin, user_id=f"user-{user}", event="bench_delivery", input="Plan my trip"
    )
    times: list[float] = []
    paced = start is None
    next_at = time.perf_counter()
    for step in range(calls):
        if paced:
            next_at += PACE_S
            time.sleep(max(0.0, next_at - time.perf_counter()))
        at = time.time()
        times.append(at)
        interaction.track_tool_call(
            tool_name=TOOL_NAME, tool_input=tool_input(step, at if paced else None), tool_output=TOOL_OUTPUT
        )
    interaction.finish(output="done", success=True)
    ids[user] = interaction.session_id or ""
    return times


def check(server: BenchServer, ids: list[str], calls: int, flushed: bool) -> tuple[bool, str, list[float]]:
    """Whether every session holds its events in the order they were tracked and is completed; a
    note; the delays from each event's tracking call to the server (paced events carry the time)."""
    held = completed = in_order = 0
    delays: list[float] = []
    for session_id in ids:
        stored = server.session(session_id)
        if stored is None:
            continue
        steps = [event["toolInput"]["step"] for event in stored["events"]]
        held += len(steps)
        in_order += steps == list(range(calls))
        completed += stored.get("status") != "active"
        for event in stored["events"]:
            at = event["toolInput"].get("at")
            if at is not None:
                received = datetime.fromisoformat(event["receivedAt"].replace("Z", "+00:00")).timestamp()
                delays.append((received - at) * 1000)
    sessions, events = len(ids), len(ids) * calls
    delivered = flushed and held == events and completed == sessions and in_order == sessions
    note = (
        f"flush={flushed}, server holds {held}/{events} events, {in_order}/{sessions} in order, "
        f"{completed}/{sessions} completed"
    )
    return delivered, note, delays


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
    delivered, note, _ = check(server, ids, calls, flushed)
    return Round(sessions * calls, seconds, delivered, f"{note}; app threads done after {produced:.2f} s")


def paced_round(client: SentrialClient, server: BenchServer, calls: int) -> Round:
    """One session tracking an event every ``PACE_S``, on this thread."""
    ids = [""]
    began = time.perf_counter()
    agent(client, 0, calls, None, ids)
    flushed = client.flush(timeout=FLUSH_TIMEOUT_S)
    seconds = time.perf_counter() - began
    delivered, note, delays = check(server, ids, calls, flushed)
    return Round(calls, seconds, delivered, note, delays)


def make_client(url: str, batching: bool) -> SentrialClient:
    return SentrialClient(api_key=API_KEY, api_url=url, batching=batching, tracer_provider=TracerProvider())


# --- running and reporting ------------------------------------------------------------------------
SdkRuns = list[tuple[Results, SentrialClient, int, int]]  # results, client, sessions, calls


def run(server: BenchServer, url: str, args: argparse.Namespace) -> tuple[Results, SdkRuns, Results]:
    """Warm-up, then ``rounds`` rounds with the baseline and every SDK case interleaved."""
    baseline = Results(f"baseline: blocking requests.post per event ({args.baseline_events} events)")
    clients = {batching: make_client(url, batching) for batching in (False, True)}
    size = f"{args.sessions}x{args.calls} events"
    one = f"1x{args.one_session_events} events"
    sdk = [
        (Results(f"sentrial, batching off ({size})"), clients[False], args.sessions, args.calls),
        (Results(f"sentrial, batching on ({size})"), clients[True], args.sessions, args.calls),
        (Results(f"sentrial, batching off, one session ({one})"), clients[False], 1, args.one_session_events),
        (Results(f"sentrial, batching on, one session ({one})"), clients[True], 1, args.one_session_events),
    ]
    paced = Results(f"sentrial, one session at 200 events/s ({args.paced_events} events)")
    for client in clients.values():  # warm-up: starts the delivery threads and opens connections
        sdk_round(client, server, min(8, args.sessions), min(5, args.calls))
    for _ in range(args.rounds):
        baseline.rounds.append(baseline_round(server, url, args.baseline_events))
        for results, client, sessions, calls in sdk:
            results.rounds.append(sdk_round(client, server, sessions, calls))
        paced.rounds.append(paced_round(clients[False], server, args.paced_events))
    return baseline, sdk, paced


def report(baseline: Results, sdk: SdkRuns, paced: Results) -> None:
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
        for results in [baseline, *(r for r, *_ in sdk)]
    ]
    print_table(["case", "median s", "events/s", "min-max", "ratio", "all delivered, in order"], rows)
    p50, p99 = paced.delay_ms(50), paced.delay_ms(99)
    verdict = "meets" if p99 < TARGET_P99_MS else "MISSES"
    in_order = "yes" if paced.all_delivered() else "NO"
    print(f"\n{paced.label}: delay from the tracking call to the server p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print(f"  {verdict} the {TARGET_P99_MS:.0f} ms p99 target; all delivered, in order: {in_order}")
    for number, one in enumerate(paced.rounds, 1):
        print(f"  round {number}: {one.note}")
    print()
    for results, client, *_ in sdk:
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
    parser.add_argument("--distance-ms", type=float, default=20, help="round trip to the server (default 20)")
    parser.add_argument("--delay-ms", type=float, default=0, help="the server's own answer delay (default 0)")
    parser.add_argument("--sessions", type=int, help="interactions in flight (default 32, quick 16)")
    parser.add_argument("--calls", type=int, help="tool calls per interaction (default 25, quick 10)")
    parser.add_argument("--one-session-events", type=int, help="events of the one session (default 800)")
    parser.add_argument("--paced-events", type=int, help="events at 200/s (default 400, quick 200)")
    parser.add_argument("--rounds", type=int, help="timed rounds (default 5, quick 2)")
    parser.add_argument("--baseline-events", type=int, help="baseline events a round (default 100, quick 25)")
    args = parser.parse_args()
    args.sessions = args.sessions or (16 if args.quick else 32)
    args.calls = args.calls or (10 if args.quick else 25)
    args.one_session_events = args.one_session_events or 800
    args.paced_events = args.paced_events or (200 if args.quick else 400)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.baseline_events = args.baseline_events or (25 if args.quick else 100)
    return args


def main() -> None:
    args = parse_args()
    server = start_server(args.delay_ms, args.server_process)
    distance = Distance(server.url, args.distance_ms, args.server_process)
    print(
        f"Delivery, server {args.distance_ms:g} ms away (delaying proxy), answering in {args.delay_ms:g} ms "
        f"({machine_line()})"
    )
    print(f"server and proxy: {server.mode}; {args.rounds} rounds; median round\n")
    clients: list[SentrialClient] = []
    try:
        baseline, sdk, paced = run(server, distance.url, args)
        clients = list({id(client): client for _, client, *_ in sdk}.values())
        report(baseline, sdk, paced)
    finally:
        for client in clients:
            client.shutdown(timeout=FLUSH_TIMEOUT_S)
        distance.stop()
        server.stop()


if __name__ == "__main__":
    main()
