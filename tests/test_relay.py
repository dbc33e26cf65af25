"""OTLP in: ``sentrial relay`` and ``sentrial serve`` receive the spans of any OpenTelemetry pipeline.

The sending apps know nothing of Sentrial: the OpenTelemetry SDK's own OTLP/HTTP exporter in a
process of their own (tests/otlp_apps/), over real HTTP to a relay in front of the local server, or
to the local server itself.
"""

from __future__ import annotations

import gzip
import http.client
import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cli_runner import running_sentrial, sentrial_command
from fake_openai import FakeOpenAI, Reply
from helpers import wait_until
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from sentrial.relay import Relay, RelayServer
from sentrial.server import LocalServer
from sentrial_otel_exporter.pricing import calculate_cost

SENDER = Path(__file__).parent / "otlp_apps" / "python_sender.py"
PROTOBUF = "application/x-protobuf"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as service:
        yield service


def start_relay(server: LocalServer, **options: Any) -> RelayServer:
    return RelayServer(Relay(api_url=server.url, api_key="k", **options), port=0).start()


def run_sender(endpoint: str, fake: FakeOpenAI, *args: str) -> list[str]:
    from openinference.instrumentation.openai import OpenAIInstrumentor

    conflict = OpenAIInstrumentor()._check_dependency_conflicts()
    if conflict:  # an older openai than OpenInference takes (.ci/lowest): the sender would send nothing
        pytest.skip(f"OpenInference's instrumentation does not take this openai: {conflict}")
    run = subprocess.run(
        [sys.executable, str(SENDER), endpoint, fake.url, *args], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    ids: list[str] = json.loads(run.stdout)
    return ids


def post(url: str, body: bytes, content_type: str = PROTOBUF, **headers: str) -> tuple[int, bytes, Any]:
    request = urllib.request.Request(
        f"{url}/v1/traces", data=body, headers={"Content-Type": content_type, **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


@pytest.mark.parametrize("route", ["relay", "serve"])
def test_an_apps_own_otlp_exporter_reaches_the_server(
    local_server: LocalServer, fake: FakeOpenAI, route: str
) -> None:
    """OpenInference spans of the real openai client, by the OTel SDK's OTLP exporter (protobuf,
    gzip): through a relay that redacts PII, or straight to ``sentrial serve``."""
    relay = start_relay(local_server, pii=True) if route == "relay" else None
    fake.queued = [Reply(), Reply(status=500)]
    try:
        worked, failed = run_sender(relay.url if relay else local_server.url, fake)
        if relay is not None:
            assert relay.relay.flush(timeout=10)
    finally:
        if relay is not None:
            relay.stop()
    good = wait_until(lambda: _completed(local_server, f"trace-{worked}"), what="the good session")
    bad = wait_until(lambda: _completed(local_server, f"trace-{failed}"), what="the failed session")
    assert (good["agentName"], good["status"], good["totalTokens"]) == ("py-agent", "completed", 17)
    (call,) = good["events"]
    assert call["toolName"] == "llm:openai:gpt-4o"
    assert call["estimatedCost"] == pytest.approx(calculate_cost("openai", "gpt-4o", 12, 5))
    email = "[EMAIL]" if relay else "jane@example.com"
    assert call["toolInput"]["messages"] == [{"role": "user", "content": f"Write to {email}"}]
    assert bad["status"] == "failed" and "500" in bad["failureReason"]
    assert bad["events"][0]["toolError"]["message"].startswith("InternalServerError")


def _completed(server: LocalServer, session_id: str) -> dict[str, Any] | None:
    session = server.session(session_id)
    return session if session is not None and session["status"] != "active" else None


def _spans() -> list[ReadableSpan]:
    """One agent run: the root, two LLM calls and a tool call, as an app's SDK recorded them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "split-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("agent")
    llm = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1000,
        "gen_ai.usage.output_tokens": 500,
    }
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"}
    with tracer.start_as_current_span("invoke_agent helper"):
        with tracer.start_as_current_span("chat gpt-4o", attributes=llm):
            pass
        with tracer.start_as_current_span("execute_tool lookup", attributes=tool):
            pass
        with tracer.start_as_current_span("chat gpt-4o", attributes=llm):
            pass
    provider.shutdown()
    return list(memory.get_finished_spans())  # in the order they ended: llm, tool, llm, root


def test_a_trace_split_over_requests_and_out_of_order_is_one_session(local_server: LocalServer) -> None:
    """The root first, then the last call, then the first call and the tool in one request (in
    reverse order within it): one session, opened before its events, its totals complete."""
    first_llm, tool, last_llm, root = _spans()
    relay = start_relay(local_server)
    try:
        for batch in ([root], [last_llm], [tool, first_llm]):
            status, _, _ = post(relay.url, encode_spans(batch).SerializeToString())
            assert status == 200
        assert relay.relay.flush(timeout=10)
    finally:
        relay.stop()
    sid = f"trace-{root.context.trace_id:032x}"  # type: ignore[union-attr]
    (session,) = local_server.sessions()
    assert session["id"] == sid and session["status"] == "completed"
    stored = local_server.session(sid)
    assert stored is not None
    assert [e["toolName"] for e in stored["events"]] == ["llm:openai:gpt-4o", "llm:openai:gpt-4o", "lookup"]
    assert stored["estimatedCost"] == pytest.approx(2 * calculate_cost("openai", "gpt-4o", 1000, 500))
    assert (stored["promptTokens"], stored["completionTokens"]) == (2000, 1000)
    wire = [
        (r["method"], r["path"].split("/")[3])
        for r in local_server.requests
        if r["path"].startswith("/api/sdk/")
    ]
    # Opened first; the events after the completion (in the order they ended) come after it, each
    # that counts (the LLM call) followed by the totals again.
    assert wire == [
        ("POST", "sessions"),
        ("POST", "events"),
        ("PATCH", "sessions"),
        ("POST", "events"),
        ("PATCH", "sessions"),
        ("POST", "events"),
    ]


def test_otlp_json_with_hex_ids_and_gzip(local_server: LocalServer) -> None:
    """OTLP/JSON as the OTel SDKs of other languages send it: ids in hex, numbers as strings."""
    trace_id = "5b8efff798038103d269b633813fc60c"
    span = {
        "traceId": trace_id,
        "spanId": "eee19b7ec3c1b174",
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000500000000",
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "2000"}},
            {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 100}},
        ],
        "status": {"code": 2, "message": "rate limited"},
    }
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "node-app"}}]},
                "scopeSpans": [{"scope": {"name": "app"}, "spans": [span]}],
            }
        ]
    }
    relay = start_relay(local_server)
    try:
        status, answer, _ = post(
            relay.url,
            gzip.compress(json.dumps(body).encode()),
            "application/json",
            **{"Content-Encoding": "gzip"},
        )
        assert relay.relay.flush(timeout=10)
    finally:
        relay.stop()
    assert status == 200 and json.loads(answer) == {}
    session = local_server.session(f"trace-{trace_id}")
    assert session is not None
    assert (session["agentName"], session["status"], session["durationMs"]) == ("node-app", "failed", 500)
    assert session["estimatedCost"] == pytest.approx(calculate_cost("openai", "gpt-4o-mini", 2000, 100))


def test_malformed_otlp_gets_400_with_a_reason_and_other_traces_go_on(local_server: LocalServer) -> None:
    first_llm, _, _, root = _spans()
    relay = start_relay(local_server)
    try:
        garbage = post(relay.url, b"\xff\x00 not protobuf")
        not_json = post(relay.url, b"{", "application/json")
        bad_gzip = post(relay.url, b"plain", PROTOBUF, **{"Content-Encoding": "gzip"})
        wrong_type = post(relay.url, b"x", "text/plain")
        request = encode_spans([first_llm, root])
        request.resource_spans[0].scope_spans[0].spans[1].span_id = b"\x01"  # the root's id is broken
        partial = post(relay.url, request.SerializeToString())
        assert relay.relay.flush(timeout=10)
        stats = relay.relay.stats()
    finally:
        relay.stop()
    assert [answer[0] for answer in (garbage, not_json, bad_gzip, wrong_type)] == [400] * 4
    assert b"malformed OTLP protobuf" in garbage[1]
    assert json.loads(not_json[1])["message"].startswith("malformed OTLP JSON")
    assert b"cannot be decompressed" in bad_gzip[1]
    assert b"Content-Type" in wrong_type[1]
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    response = ExportTraceServiceResponse.FromString(partial[1])
    assert partial[0] == 200 and response.partial_success.rejected_spans == 1
    assert "span id" in response.partial_success.error_message
    assert (stats["malformed_requests"], stats["rejected_spans"]) == (4, 1)
    # The rest of that request still made its session and event.
    (session,) = local_server.sessions()
    assert session["id"] == f"trace-{first_llm.context.trace_id:032x}"  # type: ignore[union-attr]
    assert len(local_server.session(session["id"])["events"]) == 1  # type: ignore[index]


def test_a_full_queue_answers_429_and_the_retrying_sender_loses_nothing(
    local_server: LocalServer, fake: FakeOpenAI
) -> None:
    """A relay with room for a few calls only, in front of a slow server: the burst is partly refused
    with 429 and Retry-After; the OTel SDK's exporter sends again, and every trace arrives."""
    local_server.set_delay(50)
    relay = start_relay(local_server, max_pending=6)
    try:
        ids = run_sender(relay.url, fake, "6")
        assert relay.relay.flush(timeout=30)
        stats = relay.relay.stats()
    finally:
        relay.stop()
    assert stats["refused_requests"] > 0
    assert stats["delivery"]["dropped"] == 0
    for trace_id in ids:
        session = local_server.session(f"trace-{trace_id}")
        assert session is not None and session["status"] == "completed"
        assert [e["toolName"] for e in session["events"]] == ["llm:openai:gpt-4o"]


def test_a_trace_whose_root_never_comes_completes_when_it_goes_quiet(local_server: LocalServer) -> None:
    first_llm, tool, _, _ = _spans()
    relay = start_relay(local_server, quiet_s=0.2)
    try:
        assert post(relay.url, encode_spans([first_llm, tool]).SerializeToString())[0] == 200
        sid = f"trace-{first_llm.context.trace_id:032x}"  # type: ignore[union-attr]
        session = wait_until(lambda: _completed(local_server, sid), what="the quiet trace's completion")
    finally:
        relay.stop()
    assert session["status"] == "completed" and session["totalTokens"] == 1500
    assert [e["toolName"] for e in session["events"]] == ["llm:openai:gpt-4o", "lookup"]


def test_the_relay_command_delivers_what_it_took_before_ctrl_c_ends_it(local_server: LocalServer) -> None:
    first_llm, tool, _, root = _spans()
    args = ("relay", "--port", "0", "--api-url", local_server.url, "--api-key", "k")
    with running_sentrial(*args) as relay:
        url = relay.line_starting("Sentrial relay: OTLP/HTTP on ").split()[4].removesuffix("/v1/traces")
        assert post(url, encode_spans([first_llm, tool, root]).SerializeToString())[0] == 200
        status, err = relay.interrupt()
    assert status == 130 and err.startswith("sentrial relay: interrupted; stopped: ") and err.count("\n") == 1
    counters = json.loads(err.split("stopped: ", 1)[1])
    assert (counters["spans"], counters["delivery"]["dropped"], counters["delivery"]["pending"]) == (3, 0, 0)
    session = local_server.session(f"trace-{root.context.trace_id:032x}")  # type: ignore[union-attr]
    assert session is not None and session["status"] == "completed" and len(session["events"]) == 2


def test_the_relay_command_names_a_port_it_cannot_listen_on(local_server: LocalServer) -> None:
    port = urlsplit(local_server.url).port
    result = sentrial_command("relay", "--port", str(port), "--api-url", local_server.url)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"sentrial relay: cannot listen on 127.0.0.1:{port}: ")


def test_serve_with_a_key_takes_otlp_only_with_it() -> None:
    first_llm, _, _, root = _spans()
    body = encode_spans([first_llm, root]).SerializeToString()
    with LocalServer(api_key="k-1") as server:
        assert post(server.url, body)[0] == 401
        assert post(server.url, body, Authorization="Bearer k-1")[0] == 200
        session = wait_until(lambda: _completed(server, f"trace-{root.context.trace_id:032x}"))  # type: ignore[union-attr]
    assert session["totalTokens"] == 1500


def test_a_chunked_body_is_read(local_server: LocalServer) -> None:
    first_llm, _, _, root = _spans()
    body = gzip.compress(encode_spans([first_llm, root]).SerializeToString())
    relay = start_relay(local_server)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", urlsplit(relay.url).port, timeout=10)
        headers = {"Content-Type": PROTOBUF, "Content-Encoding": "gzip", "Transfer-Encoding": "chunked"}
        pieces = [body[: len(body) // 2], body[len(body) // 2 :]]
        connection.request("POST", "/v1/traces", iter(pieces), headers, encode_chunked=True)
        assert connection.getresponse().status == 200
        connection.close()
        assert relay.relay.flush(timeout=10)
    finally:
        relay.stop()
    session = local_server.session(f"trace-{root.context.trace_id:032x}")  # type: ignore[union-attr]
    assert session is not None and session["status"] == "completed"
