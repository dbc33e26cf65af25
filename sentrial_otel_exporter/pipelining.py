"""Runs of one lane's calls pipelined on one connection: which calls make a run, and what each got.

The Sessions API takes one request per call and has no batch endpoint, so one request per round
trip would cap a session at a few dozen calls per second with the server 20 ms away. A lane
instead writes a run of its first calls back to back on one kept-alive HTTP/1.1 connection and
reads their answers in order. The server processes the requests of one connection in the order
they came (RFC 9112 section 9.3.2: a server may only process pipelined requests in parallel when
their methods are safe, and POST and PATCH are not), so the order on the wire is the order of
processing, and a run costs one round trip however many calls it holds.

A lane's run starts at one call and doubles with every run that was accepted whole (up to
``MAX_RUN_CALLS``), and drops back to one after any failure, as TCP's slow start does: a server
that refuses or stalls is asked one call at a time until it takes calls again. A server that
closes the connection after every answer, or stops answering in the middle of a run, is not
pipelined to at all (see :class:`Transport`).
"""

from __future__ import annotations

import http.client
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

from sentrial_otel_exporter.calls import ApiCall
from sentrial_otel_exporter.connection import Response
from sentrial_otel_exporter.retries import after_refusal, backoff_seconds

# The most calls one run holds: at 20 ms from the server, 32 per round trip is over 1,000 calls/s.
MAX_RUN_CALLS = 32
# The most request bytes one run holds (a run always holds at least one call). The answers are read
# only once the whole run is written: if they did not fit in the socket buffers while the client is
# still writing, client and server would each wait for the other to read.
MAX_RUN_BYTES = 64 * 1024


# Runs in a row answered in part, as a server that takes no pipelined requests answers them, before
# the transport sends one call at a time.
_STRIKES = 2


class PipeliningCheck:
    """Whether the server takes pipelined requests: true until shown otherwise.

    A server that closes a new connection after its first answer keeps no connection alive, and
    one that stops answering in the middle of a run (a timeout) may have thrown the pipelined
    requests away. Twice in a row, with no run answered whole between (a server that stalls once
    in a while still answers the runs around it), and it is false for good.
    """

    def __init__(self) -> None:
        self._strikes = 0
        self._takes_pipelining = True

    def __bool__(self) -> bool:
        return self._takes_pipelining

    def after_run(
        self, fresh: bool, sent: int, answers: list[Response], failure: BaseException | None
    ) -> bool:
        """Note how a run of ``sent`` calls was answered (``fresh``: on a new connection); returns
        whether the server still counts as taking pipelined requests."""
        if len(answers) == sent:
            self._strikes = 0
        elif answers and (
            (failure is None and fresh and len(answers) == 1) or isinstance(failure, TimeoutError)
        ):
            self._strikes += 1
            self._takes_pipelining = self._strikes < _STRIKES
        return self._takes_pipelining


@dataclass
class Outcome:
    """What became of one call of a run."""

    retry_in: float | None = None  # seconds to wait before sending it again; None: done with it
    failure: str | None = None  # why it failed, None when the server took it
    server_wait: float | None = None  # the wait the server asked for with Retry-After
    unanswered: bool = False  # the server closed the connection before reading it: send it again
    gave_up: bool = False  # dropped because its retry time ran out


def take_run(lane: deque[ApiCall], calls: int) -> list[ApiCall]:
    """The lane's first ``calls`` calls, fewer when their bodies would pass ``MAX_RUN_BYTES``.

    A session's completion (PATCH) only starts a run, never follows a call of it: it goes out once
    every call before it was answered, so that one refused and retried cannot land after it.
    """
    run: list[ApiCall] = []
    size = 0
    for call in islice(lane, calls):
        size += call.size
        if run and (size > MAX_RUN_BYTES or call.method == "PATCH"):
            break
        run.append(call)
    return run


def next_run_calls(calls: int, accepted_whole: bool) -> int:
    """How many calls the lane's next run may hold after a run that could hold ``calls``."""
    return min(MAX_RUN_CALLS, calls * 2) if accepted_whole else 1


def outcomes_of(
    run: list[ApiCall],
    answers: list[Response],
    failure: OSError | http.client.HTTPException | None,
    judge: Callable[[ApiCall, Response], Outcome],
    describe: Callable[[BaseException], str],
) -> list[Outcome]:
    """One outcome per call of ``run``: the answered ones judged, the rest sent again (after a
    backoff when the network failed, at once when the server closed before reading them)."""
    outcomes = [judge(call, answer) for call, answer in zip(run, answers, strict=False)]
    for call in run[len(answers) :]:
        if failure is None:
            outcomes.append(Outcome(unanswered=True))
        else:
            reason = f"{describe(failure)} on {call.method} {call.path}"
            outcomes.append(Outcome(backoff_seconds(call.attempts), reason))
    return outcomes


def judge_answer(call: ApiCall, response: Response, max_retry_after: float) -> Outcome:
    """A success, a refusal to retry, or a final refusal (see :mod:`retries`)."""
    if 200 <= response.status < 300:
        return Outcome()
    retry_in, failure, server_wait = after_refusal(call, response, max_retry_after)
    return Outcome(retry_in, failure, server_wait)
