"""The SDK's one error policy: raise where the caller is strict, else log once per site and go on."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from sentrial import SentrialClient
from sentrial._guard import guard, guarded


def _records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "sentrial"]


def test_a_block_logs_its_first_failure_as_an_error_and_later_ones_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="sentrial")
    for attempt in range(3):
        with guard("test-block", "could not do %s", "the thing"):
            raise RuntimeError(f"attempt {attempt}")
    assert (
        _records(caplog)
        == [(logging.ERROR, "sentrial: could not do the thing")]
        + [(logging.DEBUG, "sentrial: could not do the thing")] * 2
    )
    assert caplog.records[0].exc_info is not None  # with its traceback


def test_a_strict_block_raises_and_nothing_stops_a_base_exception() -> None:
    with pytest.raises(RuntimeError), guard("test-strict", "x", strict=True):
        raise RuntimeError("the caller asked for it")
    with pytest.raises(KeyboardInterrupt), guard("test-interrupt", "x"):
        raise KeyboardInterrupt


class _Owner:
    def __init__(self, fail_silently: bool) -> None:
        self.fail_silently = fail_silently

    @guarded("%s() failed", fallback=lambda owner: "fallback", strict=lambda owner: not owner.fail_silently)
    def work(self, value: Any) -> str:
        return str(1 / value)


def test_a_method_gives_its_fallback_or_raises_as_its_owner_says(caplog: pytest.LogCaptureFixture) -> None:
    assert _Owner(fail_silently=True).work(2) == "0.5"
    assert _Owner(fail_silently=True).work(0) == "fallback"
    assert "work() failed" in caplog.text
    with pytest.raises(ZeroDivisionError):
        _Owner(fail_silently=False).work(0)


def test_a_client_call_failing_again_and_again_logs_one_error(caplog: pytest.LogCaptureFixture) -> None:
    client = SentrialClient(api_url="http://127.0.0.1:9")
    try:
        caplog.set_level(logging.INFO, logger="sentrial")
        for _ in range(5):
            assert client.track_tool_call() is None  # type: ignore[call-arg]
    finally:
        client.shutdown(timeout=1)
    errors = [message for level, message in _records(caplog) if level >= logging.ERROR]
    assert errors == ["sentrial: track_tool_call() failed; the app carries on"]
