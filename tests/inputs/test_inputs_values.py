"""Values of any type, size or shape given to the SDK: coerced, cut or left out, never a crash,
and the session still arrives."""

from __future__ import annotations

import datetime
import decimal
import json
import logging
import math
import sys

import pytest
from inputs_support import Frame, Unprintable
from opentelemetry.sdk.trace import TracerProvider

from sentrial import SentrialClient, semconv
from sentrial.server import LocalServer


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


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
