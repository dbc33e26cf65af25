"""Bad input: wrong types, values JSON cannot encode and huge payloads degrade cleanly or raise."""

from __future__ import annotations

import datetime
import decimal
import json
import logging
import math
import sys
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

import sentrial
from sentrial import SentrialClient, pricing, semconv
from sentrial.server import LocalServer


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


@pytest.fixture
def client(local_server: LocalServer) -> Iterator[SentrialClient]:
    client = SentrialClient(api_key="k", api_url=local_server.url, tracer_provider=TracerProvider())
    yield client
    client.shutdown(timeout=5)


@pytest.fixture
def strict_client(local_server: LocalServer) -> Iterator[SentrialClient]:
    client = SentrialClient(
        api_key="k", api_url=local_server.url, fail_silently=False, tracer_provider=TracerProvider()
    )
    yield client
    client.shutdown(timeout=5)


def test_values_json_cannot_encode_arrive_readable(client: SentrialClient, local_server: LocalServer) -> None:
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    client.track_tool_call(
        session_id=sid,
        tool_name="odd",
        tool_input={"obj": Opaque(), "raw": b"bytes here", "blob": b"\xff\x00", "tags": {"b", "a"}},
        tool_output={"when": when, "nan": math.nan, "inf": math.inf, "price": decimal.Decimal("1.10")},
    )
    client.complete_session(sid)
    assert client.flush(timeout=5)
    event = local_server.session(sid)["events"][0]  # type: ignore[index]
    assert event["toolInput"] == {
        "obj": "<Opaque thing>",
        "raw": "bytes here",
        "blob": "<2 bytes: ff00>",
        "tags": ["a", "b"],
    }
    assert event["toolOutput"] == {
        "when": "2026-01-02T03:04:05+00:00",
        "nan": "nan",
        "inf": "inf",
        "price": "1.10",
    }


def test_circular_structures_do_not_hang(client: SentrialClient, local_server: LocalServer) -> None:
    loop: dict[str, object] = {"name": "loop"}
    loop["self"] = loop
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    client.track_tool_call(session_id=sid, tool_name="loop", tool_input=loop, tool_output={})
    client.complete_session(sid)
    assert client.flush(timeout=5)
    event = local_server.session(sid)["events"][0]  # type: ignore[index]
    assert event["toolInput"] == {"name": "loop", "self": "<dict: circular reference>"}


def test_huge_tool_output_is_truncated_with_a_marker(
    client: SentrialClient, local_server: LocalServer
) -> None:
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    client.track_tool_call(
        session_id=sid, tool_name="dump", tool_input={}, tool_output={"text": "x" * (5 * 1024 * 1024)}
    )
    client.complete_session(sid)
    assert client.flush(timeout=10)
    output = local_server.session(sid)["events"][0]["toolOutput"]  # type: ignore[index]
    assert output["truncated"] is True
    assert output["original_chars"] > 5 * 1024 * 1024
    assert output["preview"].startswith('{"text":"xxx')
    assert "truncated by sentrial" in output["preview"]
    assert len(json.dumps(output)) < 100 * 1024


def test_wrong_types_are_coerced_and_logged(
    client: SentrialClient, local_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    sid = client.create_session(name="n", agent_name="a", user_id=12345)  # type: ignore[arg-type]
    client.track_tool_call(
        session_id=sid,
        tool_name="search",
        tool_input="just a string",  # type: ignore[arg-type]
        tool_output=["a", "list"],  # type: ignore[arg-type]
        estimated_cost="0.5",  # type: ignore[arg-type]
    )
    client.track_decision(session_id=sid, reasoning="r", alternatives="one", confidence=7)  # type: ignore[arg-type]
    client.complete_session(sid, custom_metrics={"ok": 1, "bad": "high"})
    assert client.flush(timeout=5)
    session = local_server.session(sid)
    assert session is not None
    assert session["userId"] == "12345"
    tool, decision = session["events"]
    assert (tool["toolInput"], tool["toolOutput"]) == ({"value": "just a string"}, {"value": ["a", "list"]})
    assert tool["estimatedCost"] == 0.5
    assert (decision["alternativesConsidered"], decision["confidence"]) == (["one"], 1.0)
    assert session["customMetrics"] == {"ok": 1}
    messages = caplog.text
    assert "user_id must be a str" in messages and "tool_input must be a dict" in messages
    assert "confidence must be within" in messages


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


def test_ids_are_written_as_hex_and_ids_out_of_range_are_not_lost() -> None:
    assert semconv.span_hex(0xAB) == "00000000000000ab"
    assert semconv.trace_hex(2**128 - 1) == "f" * 32
    # A custom IdGenerator may hand out what no valid id is: written as it is, never an exception.
    assert semconv.span_hex(2**64 + 1) == "10000000000000001"
    assert semconv.trace_hex(-5) == "-" + "5".rjust(31, "0")


def test_ids_of_another_form_are_left_out_rather_than_losing_the_event(
    client: SentrialClient, local_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    returned = client.track_tool_call(
        sid, "search", {"q": 1}, {}, trace_id="req-1234", span_id="00F067AA0BA902B7"
    )
    client.complete_session(sid)
    assert client.flush(timeout=5)
    (event,) = local_server.session(sid)["events"]  # type: ignore[index]
    # The API refuses an event whose traceId is not 32 hex digits: the span's own trace id goes instead.
    assert len(event["traceId"]) == 32 and event["spanId"] == "00F067AA0BA902B7"
    assert (returned["traceId"], returned["spanId"]) == (event["traceId"], event["spanId"])
    assert "trace_id must be 32 hex digits, got 'req-1234'" in caplog.text


class Frame:
    """Like a pandas DataFrame or a numpy array: its truth value raises."""

    def __bool__(self) -> bool:
        raise ValueError("The truth value of a Frame is ambiguous.")

    def __eq__(self, other: object) -> bool:
        raise ValueError("Frames compare element by element.")

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "Frame(3 rows)"


def test_values_whose_truth_is_ambiguous_are_recorded_by_their_repr(
    client: SentrialClient, local_server: LocalServer
) -> None:
    interaction = client.begin(user_id="u", event="tables", input=Frame())  # type: ignore[arg-type]
    assert interaction.session_id is not None
    interaction.track_tool_call(tool_name="load", tool_input=Frame(), tool_output={"rows": Frame()})  # type: ignore[arg-type]
    interaction.finish(output=Frame())  # type: ignore[arg-type]
    assert client.flush(timeout=5)
    session = local_server.session(interaction.session_id)
    assert session is not None and session["status"] == "completed"
    # Text arguments given something else carry its JSON text (here a JSON string of its repr).
    assert (session["userInput"], session["assistantOutput"]) == ('"Frame(3 rows)"', '"Frame(3 rows)"')
    (event,) = session["events"]
    assert (event["toolInput"], event["toolOutput"]) == (
        {"value": "Frame(3 rows)"},
        {"rows": "Frame(3 rows)"},
    )


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
        pricing.calculate_cost("openai", ["gpt-4o"], 1000, 500)  # type: ignore[arg-type]


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


# --- values whose own methods raise, and values no request can carry ---------------------------
class Unprintable:
    """Its __str__ and __repr__ raise: the SDK has to record it without either."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class LenRaises(str):
    """A str subclass whose __len__ raises."""

    def __len__(self) -> int:
        raise RuntimeError("no len")


def nested_beyond_recursion(depth: int = 100_000) -> dict[str, object]:
    root: dict[str, object] = {}
    node = root
    for _ in range(depth):
        child: dict[str, object] = {}
        node["x"] = child
        node = child
    return root


@pytest.mark.parametrize(
    "output",
    [10**5000, LenRaises("said"), nested_beyond_recursion(), Unprintable()],
    ids=["huge int", "str subclass whose len raises", "nested too deep", "unprintable"],
)
def test_set_output_takes_any_value_and_the_session_completes(
    client: SentrialClient, local_server: LocalServer, output: object
) -> None:
    interaction = client.begin(user_id="u", event="chat")
    interaction.set_output(output)  # type: ignore[arg-type]
    interaction.finish()
    assert client.flush(timeout=5)
    session = local_server.session(interaction.session_id)  # type: ignore[arg-type]
    assert session is not None and session["status"] == "completed"
    assert isinstance(session["assistantOutput"], str) and session["assistantOutput"]


@pytest.mark.parametrize(
    "arguments",
    [
        {"output": Unprintable()},
        {"estimated_cost": 10**400},
        {"custom_metrics": {"m": 10**400, "ok": 2}},
        {"duration_ms": 10**5000, "prompt_tokens": 10**30},
        {"success": Frame(), "failure_reason": Unprintable()},
    ],
    ids=["unprintable output", "cost past float", "metric past float", "huge ints", "unreadable outcome"],
)
def test_an_absurd_finish_still_completes_its_session(
    client: SentrialClient,
    local_server: LocalServer,
    caplog: pytest.LogCaptureFixture,
    arguments: dict[str, object],
) -> None:
    caplog.set_level(logging.WARNING, logger="sentrial")
    interaction = client.begin(user_id="u", event="chat")
    interaction.track_tool_call(tool_name="search", tool_input={}, tool_output={})
    interaction.finish(**arguments)  # type: ignore[arg-type]
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    client.complete_session(sid, **{k.replace("output", "assistant_output"): v for k, v in arguments.items()})  # type: ignore[arg-type]
    assert client.flush(timeout=5)
    for each in (interaction.session_id, sid):
        session = local_server.session(each)  # type: ignore[arg-type]
        assert session is not None and session["status"] in ("completed", "failed")
    assert [e["toolName"] for e in local_server.session(interaction.session_id)["events"]] == ["search"]  # type: ignore[arg-type, index]
    assert "failed; the app carries on" not in caplog.text  # each bad field was read as such, and logged
    first_argument = next(iter(arguments))
    assert first_argument in caplog.text


def test_a_bad_field_is_left_out_or_cut_and_the_good_ones_arrive(
    client: SentrialClient, local_server: LocalServer
) -> None:
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    client.complete_session(
        sid,
        estimated_cost=10**400,
        custom_metrics={"m": 10**400, "ok": 2},
        prompt_tokens=10**30,
        completion_tokens=7,
        assistant_output="done",
    )
    assert client.flush(timeout=5)
    session = local_server.session(sid)
    assert session is not None and session["status"] == "completed"
    assert session["customMetrics"] == {"ok": 2}
    assert (session["promptTokens"], session["completionTokens"]) == (2**63 - 1, 7)
    assert session["assistantOutput"] == "done" and session["estimatedCost"] is None


def test_a_negative_cost_is_sent_as_zero_rather_than_losing_its_event_or_completion(
    client: SentrialClient, local_server: LocalServer
) -> None:
    interaction = client.begin(user_id="u", event="chat")
    interaction.track_decision(reasoning="r", estimated_cost=-5)
    interaction.track_tool_call(tool_name="t", tool_input={}, tool_output={}, estimated_cost=-0.5)
    interaction.finish(output="ok", estimated_cost=-1)
    assert client.flush(timeout=5)  # nothing refused by the server
    session = local_server.session(interaction.session_id)  # type: ignore[arg-type]
    assert session is not None and (session["status"], session["estimatedCost"]) == ("completed", 0)
    assert [e["estimatedCost"] for e in session["events"]] == [0, 0]


def test_event_costs_that_add_up_past_float_still_complete_the_session(
    client: SentrialClient, local_server: LocalServer
) -> None:
    interaction = client.begin(user_id="u", event="chat")
    for name in ("a", "b"):
        interaction.track_tool_call(tool_name=name, tool_input={}, tool_output={}, estimated_cost=1e308)
    interaction.finish(output="ok")
    assert client.flush(timeout=5)
    session = local_server.session(interaction.session_id)  # type: ignore[arg-type]
    assert session is not None and session["status"] == "completed"
    assert session["estimatedCost"] == sys.float_info.max


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


def test_a_tool_name_whose_str_raises_is_recorded_by_its_nearest_form(
    client: SentrialClient, local_server: LocalServer
) -> None:
    sid = client.create_session(name="n", agent_name="a", user_id="u")
    assert client.track_tool_call(sid, Unprintable(), {}, {}) is not None  # type: ignore[arg-type]
    client.track_error(sid, "boom", tool_name=Unprintable())  # type: ignore[arg-type]
    client.complete_session(sid)
    assert client.flush(timeout=5)
    tool, error = local_server.session(sid)["events"]  # type: ignore[index]
    assert tool["toolName"] == error["toolName"] == "<Unprintable: unrepresentable>"


def test_lone_surrogates_become_replacement_characters_and_the_session_arrives(
    client: SentrialClient, local_server: LocalServer
) -> None:
    sid = client.create_session(name="n\udc80", agent_name="a", user_id="u")
    client.track_tool_call(sid, "t\ud800", {"k\udc00": "v\udfff"}, {})
    client.complete_session(sid, assistant_output="o\udc80")
    assert client.flush(timeout=5)
    session = local_server.session(sid)
    assert session is not None and session["status"] == "completed"
    assert (session["name"], session["assistantOutput"]) == ("n\ufffd", "o\ufffd")
    (event,) = session["events"]
    assert (event["toolName"], event["toolInput"]) == ("t\ufffd", {"k\ufffd": "v\ufffd"})


class StrRaisesError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")


def test_an_exception_whose_str_raises_still_leaves_the_block_as_itself(
    client: SentrialClient, local_server: LocalServer
) -> None:
    with pytest.raises(StrRaisesError), client.begin(user_id="u", event="chat") as interaction:
        raise StrRaisesError
    assert client.flush(timeout=5)
    session = local_server.session(interaction.session_id)  # type: ignore[arg-type]
    assert session is not None and session["status"] == "failed"
    assert session["failureReason"].startswith("StrRaisesError: ")


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


def test_names_and_ids_are_capped_like_every_recorded_value(local_server: LocalServer) -> None:
    client = SentrialClient(
        api_key="k", api_url=local_server.url, tracer_provider=TracerProvider(), max_value_chars=100
    )
    huge = "x" * 100_000
    try:
        with client.begin(user_id=huge, event=huge, convo_id=huge) as interaction:
            interaction.track_tool_call(tool_name=huge, tool_input={}, tool_output={})
            interaction.track_error(error_message="failed", error_type=huge, tool_name=huge)
        assert client.flush(timeout=10)
    finally:
        client.shutdown()
    session = local_server.session(interaction.session_id)
    assert session is not None
    capped = [session["userId"], session["agentName"], session["convoId"], session["name"]]
    capped += [session["events"][0]["toolName"], session["events"][1]["toolName"]]
    capped.append(session["events"][1]["toolError"]["type"])
    for value in capped:
        assert value.startswith("x" * 100)
        assert len(value) < 200, len(value)  # the head and a truncation marker


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
