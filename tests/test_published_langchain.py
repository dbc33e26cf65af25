"""``sentrial.langchain``, the published API's LangChain handler, used the published way (a session
opened by the app, the handler passed to the runs, ``finish()``), with the real langchain-core and
langchain-openai against the fake OpenAI endpoint, delivering to the local Sessions API server."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fake_openai import FakeOpenAI, Reply
from langchain_core.agents import AgentAction, AgentFinish
from langchain_core.callbacks import CallbackManager
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, chain
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

import sentrial
import sentrial.langchain
from sentrial import SentrialClient, pricing
from sentrial.langchain import SentrialCallbackHandler, create_agent_with_sentrial
from sentrial.server import LocalServer

CALL = ("call_1", "get_weather", '{"city": "Paris"}')


@tool
def get_weather(city: str) -> str:
    """The weather of a city."""
    return f"Sunny in {city}"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def client(local_server: LocalServer) -> Iterator[SentrialClient]:
    made = SentrialClient(api_key="k", api_url=local_server.url)
    try:
        yield made
    finally:
        made.shutdown(timeout=5)


def model(fake: FakeOpenAI) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o", base_url=fake.url, api_key="test-key", max_retries=0)


def weather_agent(fake: FakeOpenAI) -> Runnable[str, str]:
    """The model asks for the weather, the tool answers, the model sums up."""

    @chain
    def agent(question: str) -> str:
        fake.queued = [
            Reply(text="", tool_calls=[CALL], prompt_tokens=12, completion_tokens=5),
            Reply(text="Sunny.", prompt_tokens=40, completion_tokens=8),
        ]
        messages: list[BaseMessage] = [HumanMessage(question)]
        answer = model(fake).bind_tools([get_weather]).invoke(messages)
        messages.append(answer)
        messages.extend(get_weather.invoke(call) for call in answer.tool_calls)
        return str(model(fake).invoke(messages).content)

    return agent


def cost(prompt: int, completion: int) -> float:
    value = pricing.calculate_cost("openai", "gpt-4o", prompt, completion)
    assert value is not None
    return value


def stored(server: LocalServer, client: SentrialClient, session_id: str) -> dict[str, Any]:
    assert client.flush(timeout=5)
    session = server.session(session_id)
    assert session is not None
    return session


def test_the_runs_go_into_the_apps_session_and_finish_completes_it_with_the_totals(
    local_server: LocalServer, client: SentrialClient, fake: FakeOpenAI
) -> None:
    session_id = client.create_session(name="Weather", agent_name="weather", user_id="user_7")
    handler = SentrialCallbackHandler(client, session_id)
    handler.set_input("Weather in Paris?")
    answer = weather_agent(fake).invoke("Weather in Paris?", config={"callbacks": [handler]})
    assert answer == "Sunny."
    summary = handler.get_usage_summary()
    assert {k: summary[k] for k in ("llm_calls", "total_prompt_tokens", "total_completion_tokens")} == {
        "llm_calls": 2,
        "total_prompt_tokens": 52,
        "total_completion_tokens": 13,
    }
    assert (summary["total_tokens"], summary["model"]) == (65, "gpt-4o")
    assert handler.total_cost == pytest.approx(cost(12, 5) + cost(40, 8))
    assert handler.duration_ms >= 0 and handler.start_time is not None
    assert handler.finish(success=True, custom_metrics={"quality": 4}) == {
        "sessionId": session_id,
        "status": "completed",
    }

    session = stored(local_server, client, session_id)
    assert len(local_server.sessions()) == 1  # no session of its own: the app's
    assert [e["toolName"] for e in session["events"]] == [
        "llm:openai:gpt-4o",
        "get_weather",
        "llm:openai:gpt-4o",
    ]
    assert (session["userId"], session["agentName"], session["status"]) == ("user_7", "weather", "completed")
    assert (session["userInput"], session["assistantOutput"]) == ("Weather in Paris?", "Sunny.")
    assert (session["promptTokens"], session["completionTokens"], session["totalTokens"]) == (52, 13, 65)
    assert session["estimatedCost"] == pytest.approx(handler.total_cost)
    assert session["customMetrics"] == {"quality": 4}
    assert session["durationMs"] == handler.duration_ms


def test_an_agent_executors_steps_give_the_tools_reasoning_and_the_answer_a_decision(
    local_server: LocalServer, client: SentrialClient
) -> None:
    # As LangChain's AgentExecutor drives its callbacks: an action, its tool as a child, the finish.
    session_id = client.create_session(name="Executor", agent_name="executor", user_id="u")
    handler = SentrialCallbackHandler(client, session_id, verbose=True)
    executor = CallbackManager.configure(inheritable_callbacks=[handler]).on_chain_start(
        {"name": "AgentExecutor"}, {"input": "Weather?"}, name="AgentExecutor"
    )
    thought = "Thought: I need the weather.\nAction: get_weather"
    executor.on_agent_action(AgentAction(tool="get_weather", tool_input={"city": "Paris"}, log=thought))
    get_weather.run({"city": "Paris"}, callbacks=executor.get_child())
    executor.on_agent_finish(AgentFinish(return_values={"output": "Sunny in Paris."}, log=""))
    executor.on_chain_end({"output": "Sunny in Paris."})
    handler.finish()

    session = stored(local_server, client, session_id)
    tool_call, decision = session["events"]
    assert (tool_call["toolName"], tool_call["reasoning"]) == ("get_weather", thought)
    assert tool_call["toolInput"] == {"city": "Paris"}
    assert decision["eventType"] == "llm_decision"
    assert (decision["reasoning"], decision["confidence"]) == ("Agent completed: Sunny in Paris.", 1.0)
    assert session["assistantOutput"] == "Sunny in Paris."
    assert handler.step_count == 1


def test_a_model_invoked_on_its_own_is_an_llm_call_of_the_session(
    local_server: LocalServer, client: SentrialClient, fake: FakeOpenAI
) -> None:
    session_id = client.create_session(name="Chat", agent_name="chat", user_id="u")
    handler = SentrialCallbackHandler(client, session_id)
    fake.queued = [Reply(text="Hello there.", prompt_tokens=7, completion_tokens=3)]
    model(fake).invoke("Hi", config={"callbacks": [handler]})
    handler.finish(success=False, failure_reason="rated badly")

    session = stored(local_server, client, session_id)
    (llm_call,) = session["events"]
    assert llm_call["toolName"] == "llm:openai:gpt-4o"
    assert (session["status"], session["failureReason"]) == ("failed", "rated badly")
    assert (session["assistantOutput"], session["promptTokens"]) == ("Hello there.", 7)


def test_with_configure_on_too_the_handler_passed_by_hand_records_once(
    local_server: LocalServer, fake: FakeOpenAI
) -> None:
    client = sentrial.configure(api_key="k", api_url=local_server.url)
    try:
        session_id = client.create_session(name="Weather", agent_name="weather", user_id="u")
        handler = SentrialCallbackHandler(client, session_id)
        weather_agent(fake).invoke("Weather?", config={"callbacks": [handler]})
        handler.finish()
        session = stored(local_server, client, session_id)
        assert len(local_server.sessions()) == 1
        assert len(session["events"]) == 3  # the instrumented openai library adds no second LLM call
    finally:
        sentrial.shutdown(timeout=5)


def test_a_wrong_client_is_logged_and_the_default_client_records(
    local_server: LocalServer, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    default = sentrial.configure(api_key="k", api_url=local_server.url)
    try:
        session_id = default.create_session(name="Chat", agent_name="chat", user_id="u")
        handler = SentrialCallbackHandler("not a client", session_id)
        assert caplog.text.count("client must be a SentrialClient") == 1
        fake.queued = [Reply(text="Hi.")]
        model(fake).invoke("Hi", config={"callbacks": [handler]})
        assert handler.finish()["status"] == "completed"
        assert default.flush(timeout=5)
        assert len(stored(local_server, default, session_id)["events"]) == 1
    finally:
        sentrial.shutdown(timeout=5)


def test_create_agent_with_sentrial_names_what_to_install_when_no_agent_is_there() -> None:
    # langgraph and the pre-1.0 AgentExecutor are not in the main test environment (the
    # frameworks environment runs the agent itself).
    with pytest.raises(ImportError, match="pip install langgraph"):
        create_agent_with_sentrial(None, [], SentrialClient(api_key="k", api_url="http://127.0.0.1:9"), "a")


def test_importing_the_integrations_imports_no_framework() -> None:
    code = (
        "import sys, sentrial, sentrial.langchain, sentrial.claude_code, sentrial.autogen, sentrial.crewai,"
        " sentrial.langfuse_integration;"
        " print(sorted(m for m in ('langchain_core', 'claude_agent_sdk', 'autogen_agentchat', 'crewai')"
        " if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", sorted(sentrial._INTEGRATIONS))
def test_the_integrations_names_are_at_the_top_level_too(name: str) -> None:
    module = importlib.import_module(sentrial._INTEGRATIONS[name])
    assert getattr(sentrial, name) is getattr(module, name)


def test_a_name_whose_framework_is_missing_is_absent_at_the_top_level(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sentrial.__dict__, "SentrialCallbackHandler", raising=False)
    monkeypatch.delitem(sentrial.langchain.__dict__, "SentrialCallbackHandler", raising=False)
    monkeypatch.setitem(sys.modules, "sentrial.integrations._langchain_session_handler", None)  # unimportable
    assert not hasattr(sentrial, "SentrialCallbackHandler")
    with pytest.raises(ImportError, match="langchain-core"):
        sentrial.langchain.SentrialCallbackHandler  # noqa: B018
