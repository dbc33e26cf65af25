"""Where the LLM message-capture setting comes from."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sentrial.instrumentation._llm import capture_content, set_capture_content


@pytest.fixture(autouse=True)
def fresh_setting(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("SENTRIAL_CAPTURE_CONTENT", raising=False)
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    set_capture_content(None)
    yield
    set_capture_content(None)


def test_on_by_default() -> None:
    assert capture_content() is True


@pytest.mark.parametrize(
    "name", ["SENTRIAL_CAPTURE_CONTENT", "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"]
)
def test_each_variable_switches_it_off(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "false")
    set_capture_content(None)
    assert capture_content() is False


def test_sentrial_variable_wins_over_the_otel_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRIAL_CAPTURE_CONTENT", "true")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false")
    set_capture_content(None)
    assert capture_content() is True


def test_configure_wins_over_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTRIAL_CAPTURE_CONTENT", "true")
    set_capture_content(False)
    assert capture_content() is False
