"""Calls made wrongly: missing or refused arguments, bad settings, session ids the API cannot
take, any timeout. Logged and carried on by default, a clear error naming the argument when strict."""

from __future__ import annotations

import logging
import math
import threading

import pytest
from inputs_support import Frame, Unprintable
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import sentrial
from sentrial import SentrialClient, pricing
from sentrial.server import LocalServer


def test_missing_arguments_never_crash_by_default(
    client: SentrialClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="sentrial")
    assert client.track_tool_call() is None  # type: ignore[call-arg]
    assert "track_tool_call() failed" in caplog.text


def test_interaction_calls_with_arguments_missing_never_crash_by_default(
    client: SentrialClient, local_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="sentrial")
    interaction = client.begin(user_id="u", event="chat")
    assert interaction.track_tool_call() is None  # type: ignore[call-arg]
    assert interaction.track_decision() is None  # type: ignore[call-arg]
    interaction.set_output()  # type: ignore[call-arg]
    assert interaction.finish(outcome="ok") is None  # type: ignore[call-arg]
    assert "track_tool_call() failed" in caplog.text and "finish() failed" in caplog.text
    interaction.finish(output="ok")  # the call refused above left it to finish
    assert client.flush(timeout=5)
    session = local_server.session(interaction.session_id)  # type: ignore[arg-type]
    assert session is not None and (session["status"], session["assistantOutput"]) == ("completed", "ok")


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c, sid: c.track_tool_call(sid, "t", "not a dict", {}), TypeError),
        (lambda c, sid: c.track_decision(sid, "r", confidence=1.5), ValueError),
        (lambda c, sid: c.track_decision(sid, "r", confidence=math.nan), ValueError),
        (lambda c, sid: c.track_tool_call(sid, "", {}, {}), ValueError),
        (lambda c, sid: c.complete_session(sid, prompt_tokens=-1), ValueError),
        (lambda c, sid: c.track_tool_call(), TypeError),
        (lambda c, sid: c.track_tool_call(sid, "t", {}, {}, trace_id="req-1234"), ValueError),
        (lambda c, sid: c.track_tool_call(sid, "t", {}, {}, span_id="00f067aa0ba902"), ValueError),
    ],
)
def test_strict_client_raises_at_the_call(strict_client: SentrialClient, call: object, error: type) -> None:
    sid = strict_client.create_session(name="n", agent_name="a", user_id="u")
    with pytest.raises(error):
        call(strict_client, sid)  # type: ignore[operator]


def test_bad_configuration_raises_when_strict_and_is_logged_otherwise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ValueError, match="api_url"):
        SentrialClient(api_url="localhost:8000", fail_silently=False, tracer_provider=TracerProvider())
    with pytest.raises(TypeError, match="batching"):
        SentrialClient(
            api_url="http://127.0.0.1:9",
            batching="yes",  # type: ignore[arg-type]
            fail_silently=False,
            tracer_provider=TracerProvider(),
        )
    caplog.set_level(logging.WARNING, logger="sentrial")
    # A URL that cannot be used sends nothing (the key goes nowhere it was not meant for).
    client = SentrialClient(api_key="k", api_url="localhost:8000", tracer_provider=TracerProvider())
    assert not client._settings.can_send
    client.shutdown(timeout=1)
    client = SentrialClient(api_url="http://127.0.0.1:9", batching="yes", tracer_provider=TracerProvider())  # type: ignore[arg-type]
    assert client._settings.batching is None and client._settings.can_send  # the default instead
    client.shutdown(timeout=1)
    assert "api_url must start with http" in caplog.text and "nothing will be sent" in caplog.text
    assert "batching must be a bool or a BatcherConfig" in caplog.text


def test_threads_never_see_each_others_sessions(local_server: LocalServer) -> None:
    client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=TracerProvider())
    results: dict[int, str] = {}
    start = threading.Barrier(20)

    def agent(n: int) -> None:
        start.wait()
        for turn in range(3):
            with client.begin(user_id=f"user-{n}", event="chat", input=f"q{n}.{turn}") as interaction:
                for step in range(5):
                    interaction.track_tool_call(
                        tool_name=f"tool-{n}", tool_input={"thread": n, "step": step}, tool_output={}
                    )
                interaction.set_output(f"a{n}.{turn}")
            results[n * 10 + turn] = interaction.session_id or ""

    threads = [threading.Thread(target=agent, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.flush(timeout=10)
    client.shutdown()

    assert len(results) == 60
    for key, sid in results.items():
        n, turn = divmod(key, 10)
        session = local_server.session(sid)
        assert session is not None
        assert (session["userId"], session["userInput"], session["assistantOutput"]) == (
            f"user-{n}",
            f"q{n}.{turn}",
            f"a{n}.{turn}",
        )
        assert session["parentSessionId"] is None
        assert [(e["toolName"], e["toolInput"]) for e in session["events"]] == [
            (f"tool-{n}", {"thread": n, "step": step}) for step in range(5)
        ]


def test_a_strict_finish_refused_leaves_the_interaction_to_finish_again(
    strict_client: SentrialClient, local_server: LocalServer
) -> None:
    interaction = strict_client.begin(user_id="u", event="chat", input="hi")
    with pytest.raises(ValueError, match="estimated_cost must be at least 0"):
        interaction.finish(output="ok", estimated_cost=-1.0)
    assert not interaction.finished
    assert interaction.finish(output="ok", estimated_cost=1.0) is not None
    assert strict_client.flush(timeout=5)
    session = local_server.session(interaction.session_id)  # type: ignore[arg-type]
    assert session is not None and (session["status"], session["estimatedCost"]) == ("completed", 1.0)


def test_a_cost_helper_given_a_model_that_is_not_a_string_says_so() -> None:
    with pytest.raises(TypeError, match="model must be a str, got NoneType"):
        SentrialClient.calculate_openai_cost(model=None, input_tokens=1000, output_tokens=500)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="model must be a str, got list"):
        pricing.calculate_provider_cost("openai", ["gpt-4o"], 1000, 500)  # type: ignore[arg-type]


def test_an_unusable_url_in_the_environment_is_logged_and_the_app_carries_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SENTRIAL_API_URL", "127.0.0.1:8080")  # no scheme
    caplog.set_level(logging.WARNING, logger="sentrial")
    try:
        interaction = sentrial.begin(user_id="u", event="chat", input="hi")  # makes the default client
        interaction.track_tool_call(tool_name="search", tool_input={}, tool_output={})
        interaction.finish(output="ok")
        assert sentrial.flush(timeout=2)  # nothing is sent, so nothing is waiting
    finally:
        sentrial.shutdown(timeout=2)
    assert "SENTRIAL_API_URL is not usable" in caplog.text
    assert "no API key and no API URL" not in caplog.text  # the message says what is wrong
    with pytest.raises(ValueError, match="api_url must start with http"):
        SentrialClient(fail_silently=False, tracer_provider=TracerProvider())


def test_a_session_the_sampler_drops_is_logged_not_lost_silently(
    local_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    provider = TracerProvider(sampler=ALWAYS_OFF)
    client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=provider)
    try:
        interaction = client.begin(user_id="u", event="unsampled")
        interaction.finish(output="ok")
        assert client.flush(timeout=5)
    finally:
        client.shutdown(timeout=5)
    assert local_server.sessions() == []
    assert f"did not sample session {interaction.session_id}, so it is not recorded" in caplog.text


@pytest.mark.parametrize(
    ("call", "argument", "error"),
    [
        (lambda c, sid: c.complete_session(sid, custom_metrics={"m": 10**400}), "custom_metrics", ValueError),
        (lambda c, sid: c.complete_session(sid, estimated_cost=10**400), "estimated_cost", ValueError),
        (lambda c, sid: c.complete_session(sid, total_tokens=10**30), "total_tokens", ValueError),
        (
            lambda c, sid: c.complete_session(sid, assistant_output=Unprintable()),
            "assistant_output",
            TypeError,
        ),
        (lambda c, sid: c.complete_session(sid, success=Frame()), "success", TypeError),
        (lambda c, sid: c.track_tool_call(sid, "t", {}, {}, token_count=10**5000), "token_count", ValueError),
        (lambda c, sid: c.track_decision(sid, "r", alternatives=Frame()), "alternatives", TypeError),
    ],
)
def test_strict_errors_name_the_argument(
    strict_client: SentrialClient, call: object, argument: str, error: type
) -> None:
    sid = strict_client.create_session(name="n", agent_name="a", user_id="u")
    with pytest.raises(error, match=argument):
        call(strict_client, sid)  # type: ignore[operator]


class ItemsRaise(dict):  # type: ignore[type-arg]
    """A dict subclass whose items cannot be listed."""

    def keys(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("no keys")

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("no iter")


def test_a_value_that_raises_while_read_is_a_clear_error_when_strict(strict_client: SentrialClient) -> None:
    sid = strict_client.create_session(name="n", agent_name="a", user_id="u")
    with pytest.raises(ValueError, match=r"track_error\(\) metadata could not be read \(RuntimeError\)"):
        strict_client.track_error(sid, "boom", metadata=ItemsRaise(a=1))


# --- session ids ---------------------------------------------------------------------------------
BAD_SESSION_IDS = [
    ("x\udc80", ValueError),
    ("x" * (10 * 1024 * 1024), ValueError),
    ("line\nbreak", ValueError),
    ("", ValueError),
    (12345, TypeError),
]


@pytest.mark.parametrize(
    ("bad_id", "error"), BAD_SESSION_IDS, ids=["surrogate", "10 MB", "control", "empty", "int"]
)
def test_a_session_id_the_api_cannot_take_is_refused_when_strict(
    strict_client: SentrialClient, bad_id: object, error: type
) -> None:
    with pytest.raises(error, match="session_id"):
        strict_client.track_tool_call(bad_id, "t", {}, {})  # type: ignore[arg-type]
    with pytest.raises(error, match="session_id"):
        strict_client.complete_session(bad_id)  # type: ignore[arg-type]
    with pytest.raises(error, match="parent_session_id"):
        strict_client.create_session(name="n", agent_name="a", user_id="u", parent_session_id=bad_id)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad_id", "error"), BAD_SESSION_IDS, ids=["surrogate", "10 MB", "control", "empty", "int"]
)
def test_a_session_id_the_api_cannot_take_is_logged_and_dropped(
    client: SentrialClient,
    local_server: LocalServer,
    caplog: pytest.LogCaptureFixture,
    bad_id: object,
    error: type,
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    assert client.track_tool_call(bad_id, "t", {}, {}) is None  # type: ignore[arg-type]
    assert client.track_decision(bad_id, "r") is None  # type: ignore[arg-type]
    assert client.track_error(bad_id, "boom") is None  # type: ignore[arg-type]
    assert client.complete_session(bad_id) is None  # type: ignore[arg-type]
    sid = client.create_session(name="n", agent_name="a", user_id="u", parent_session_id=bad_id)  # type: ignore[arg-type]
    client.track_tool_call(sid, "good", {}, {})
    client.complete_session(sid)
    assert client.flush(timeout=5)  # nothing was dropped on the way: the bad id never left the app
    session = local_server.session(sid)
    assert session is not None and session["status"] == "completed" and session["parentSessionId"] is None
    assert [e["toolName"] for e in session["events"]] == ["good"]
    assert [s["id"] for s in local_server.sessions()] == [sid]
    assert "session_id must be" in caplog.text
    assert max(len(r.getMessage()) for r in caplog.records) < 2000  # a 10 MB id is not logged whole


def test_flush_and_shutdown_take_any_timeout(strict_client: SentrialClient, client: SentrialClient) -> None:
    # Longer than threads can wait (it overflowed there): waits the longest they can instead.
    assert strict_client.flush(timeout=9223372037.0) and client.flush(timeout=1e308)
    with pytest.raises(TypeError, match=r"flush\(\) timeout must be a number"):
        strict_client.flush(timeout="soon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"shutdown\(\) timeout must be finite"):
        strict_client.shutdown(timeout=math.nan)
    assert client.flush(timeout=math.inf)  # logged; the default wait instead


class HashRaises(str):
    """A str subclass that cannot be hashed or compared: it cannot be looked up in a dict."""

    def __hash__(self) -> int:
        raise RuntimeError("no hash")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no eq")


def test_session_ids_given_as_str_subclasses_are_read_as_their_text(
    client: SentrialClient, local_server: LocalServer
) -> None:
    parent = client.create_session(name="p", agent_name="a", user_id="u")
    child = client.create_session(name="c", agent_name="a", user_id="u", parent_session_id=HashRaises(parent))
    assert client.track_tool_call(HashRaises(child), "t", {}, {}) is not None
    assert client.complete_session(HashRaises(child)) is not None
    client.complete_session(parent)
    assert client.flush(timeout=5)
    recorded = local_server.session(child)
    assert recorded is not None and (recorded["status"], recorded["parentSessionId"]) == ("completed", parent)
    assert [e["toolName"] for e in recorded["events"]] == ["t"]


@pytest.mark.parametrize("setting", ["timeout", "retry_timeout"])
def test_a_wait_longer_than_a_day_is_refused_not_left_to_break_every_request(
    local_server: LocalServer, setting: str, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ValueError, match=setting):
        SentrialClient(api_url=local_server.url, fail_silently=False, **{setting: 1e308})
    with pytest.raises(ValueError, match="flush_interval"):
        sentrial.BatcherConfig(flush_interval=1e308)
    client = SentrialClient(
        api_key="k", api_url=local_server.url, tracer_provider=TracerProvider(), **{setting: 1e308}
    )
    try:
        session_id = client.create_session(name="n", agent_name="a", user_id="u")
        client.track_tool_call(session_id, "t", {}, {})
        client.complete_session(session_id)
        assert client.flush(timeout=10)  # the default wait was used instead, and everything arrived
    finally:
        client.shutdown()
    assert len(local_server.session(session_id)["events"]) == 1  # type: ignore[index]
    assert f"{setting} must be at most" in caplog.text
