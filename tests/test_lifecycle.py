"""Providers, several clients in one process, reconfiguration and the end of the process."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import textwrap

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import sentrial
from sentrial import AsyncSentrialClient, BatcherConfig, DeliveryError, SentrialClient
from sentrial.server import LocalServer


def test_two_clients_deliver_their_own_sessions_to_their_own_servers() -> None:
    with LocalServer(api_key="key-a") as server_a, LocalServer(api_key="key-b") as server_b:
        provider = TracerProvider()
        a = SentrialClient(api_key="key-a", api_url=server_a.url, tracer_provider=provider)
        b = SentrialClient(
            api_key="key-b",
            api_url=server_b.url,
            batching=BatcherConfig(enabled=True, flush_threshold=5),
            tracer_provider=provider,
        )
        with (
            a.begin(user_id="ua", event="agent-a") as first,
            b.begin(user_id="ub", event="agent-b") as second,
        ):
            first.track_tool_call(tool_name="tool-a", tool_input={}, tool_output={})
            second.track_tool_call(tool_name="tool-b", tool_input={}, tool_output={})
        assert a.flush(timeout=5) and b.flush(timeout=5)
        a.shutdown()
        b.shutdown()
        assert [s["agentName"] for s in server_a.sessions()] == ["agent-a"]
        assert [s["agentName"] for s in server_b.sessions()] == ["agent-b"]
        assert [e["toolName"] for e in server_a.session(first.session_id)["events"]] == ["tool-a"]  # type: ignore[index]
        assert [e["toolName"] for e in server_b.session(second.session_id)["events"]] == ["tool-b"]  # type: ignore[index]
        # The second interaction began while the first was current, but on another client: no nesting.
        assert server_b.session(second.session_id)["parentSessionId"] is None  # type: ignore[index]


def test_configure_joins_an_app_provider_and_twice_does_not_stack(local_server: LocalServer) -> None:
    app_spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(app_spans))
    sentrial.configure(api_key="k", api_url=local_server.url, tracer_provider=provider)
    sentrial.configure(api_key="k", api_url=local_server.url, tracer_provider=provider)
    try:
        tracer = provider.get_tracer("app")
        with tracer.start_as_current_span("GET /chat") as request_span:
            interaction = sentrial.begin(user_id="u", event="chat")
            interaction.track_tool_call(tool_name="lookup", tool_input={}, tool_output={})
            interaction.finish(output="ok")
        assert sentrial.flush(timeout=5)
    finally:
        sentrial.shutdown(timeout=5)
    # The app's exporter sees each span once, the interaction inside the app's trace.
    names = [s.name for s in app_spans.get_finished_spans()]
    assert names.count("invoke_agent chat") == 1 and names.count("execute_tool lookup") == 1
    session_span = next(s for s in app_spans.get_finished_spans() if s.name == "invoke_agent chat")
    assert session_span.context.trace_id == request_span.get_span_context().trace_id
    # Sentrial received the session once, with its event once, and not the app's own span.
    assert [r["method"] for r in local_server.requests] == ["POST", "POST", "PATCH"]


def test_open_sessions_are_completed_and_delivered_at_exit(local_server: LocalServer) -> None:
    script = textwrap.dedent(
        """
        import sys, sentrial
        sentrial.configure(api_key="k", api_url=sys.argv[1])
        interaction = sentrial.begin(user_id="u", event="never_finished", input="x")
        interaction.track_tool_call(tool_name="t", tool_input={}, tool_output={})
        """
    )
    subprocess.run([sys.executable, "-c", script, local_server.url], check=True, timeout=60)
    (session,) = local_server.sessions()
    assert (session["status"], session["failureReason"]) == ("failed", "not finished before shutdown")
    assert len(local_server.session(session["id"])["events"]) == 1  # type: ignore[index]


def test_exit_waits_for_an_async_shutdown_nobody_awaited(local_server: LocalServer) -> None:
    """The reference ends with ``client.shutdown()`` un-awaited: its thread is still sending when the
    script ends, and the exit hook waits for it rather than exiting under it."""
    local_server.set_delay(300)
    script = textwrap.dedent(
        """
        import asyncio, sys
        from sentrial import AsyncSentrialClient, BatcherConfig

        async def main():
            client = AsyncSentrialClient(
                api_key="k", api_url=sys.argv[1], batching=BatcherConfig(enabled=True, flush_interval=600.0)
            )
            async with client.begin(user_id="u", event="async_exit") as interaction:
                interaction.set_output("done")
            client.shutdown()

        asyncio.run(main())
        """
    )
    subprocess.run([sys.executable, "-c", script, local_server.url], check=True, timeout=60)
    (session,) = local_server.sessions()
    assert (session["status"], session["assistantOutput"]) == ("completed", "done")


def test_import_is_cheap_and_imports_no_provider_library() -> None:
    # Package roots, except the 'google' namespace, which a .pth file of another package may preload.
    script = "import sys, sentrial; print(sorted(m for m in sys.modules if m.split('.')[0] in "
    script += "{'openai', 'anthropic', 'langchain_core', 'httpx', 'requests'} or m.startswith('google.')))"
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_libraries_imported_after_uninstrument_all_stay_untraced() -> None:
    # A fresh interpreter: the libraries must not be imported before the hooks are set.
    script = textwrap.dedent(
        """
        import sys
        from sentrial.instrumentation import instrument_when_imported, load_instrumentor, uninstrument_all

        assert "openai" not in sys.modules and "anthropic" not in sys.modules
        instrument_when_imported()
        import anthropic  # imported after: its import hook instruments it
        assert load_instrumentor("anthropic").is_instrumented_by_opentelemetry
        uninstrument_all()
        assert not load_instrumentor("anthropic").is_instrumented_by_opentelemetry
        import openai  # its hook was set before uninstrument_all(): it must now do nothing
        assert not load_instrumentor("openai").is_instrumented_by_opentelemetry
        instrument_when_imported()  # wanted again: imported libraries are instrumented at once
        assert load_instrumentor("openai").is_instrumented_by_opentelemetry
        assert load_instrumentor("anthropic").is_instrumented_by_opentelemetry
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_the_api_key_is_in_no_repr_no_log_record_and_no_error(caplog: pytest.LogCaptureFixture) -> None:
    key = "sentrial_live_Secret0123456789"
    caplog.set_level(logging.DEBUG)  # every logger, every level
    with socket.socket() as unused:  # a port nothing listens on: delivery fails there
        unused.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{unused.getsockname()[1]}"
    with LocalServer(api_key=key) as server:
        client = SentrialClient(api_key=key, api_url=server.url, pii=True, tracer_provider=TracerProvider())
        failing = SentrialClient(
            api_key=key,
            api_url=dead_url,
            fail_silently=False,
            retry_timeout=0.2,
            tracer_provider=TracerProvider(),
        )
        async_client = AsyncSentrialClient(api_key=key, api_url=server.url, tracer_provider=TracerProvider())
        objects = [client, client._settings, client.delivery, client.delivery.exporter, async_client, failing]
        texts = [repr(each) for each in objects] + [str(each) for each in objects]
        for each in (client, failing):
            with each.begin(user_id="u", event="chat", input="hi") as interaction:
                interaction.track_tool_call(tool_name="search", tool_input={"q": 1}, tool_output={})
        assert client.flush(timeout=5)
        with pytest.raises(DeliveryError) as refused:
            failing.flush(timeout=5)
        texts.append(str(refused.value))
        client.shutdown(timeout=5)
        async_client.sync_client.shutdown(timeout=5)
        try:
            failing.shutdown(timeout=1)
        except DeliveryError as error:  # what it could not deliver: its message is checked too
            texts.append(str(error))
        assert server.session(interaction.session_id or "") is None  # the failing client's went nowhere
    texts += [record.getMessage() for record in caplog.records] + [caplog.text]
    assert caplog.records  # delivering did log: the check below looked at something
    assert not [text for text in texts if key in text]


def test_a_disabled_sdk_blames_no_sampler(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SENTRIAL_DISABLED", "true")
    caplog.set_level(logging.INFO, logger="sentrial")
    client = SentrialClient(api_key="k", api_url="http://127.0.0.1:9")
    with client.begin(user_id="u", event="e") as interaction:
        interaction.track_tool_call(tool_name="t", tool_input={}, tool_output={})
    client.shutdown()
    assert "disabled" in caplog.text
    assert "sampler" not in caplog.text
