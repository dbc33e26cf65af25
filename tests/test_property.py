"""Property-based: every public tracking call, and the client's settings, given arbitrary values.

With ``fail_silently=True`` no call raises and the valid events around the bad ones arrive (over
real HTTP, at a LocalServer); with ``fail_silently=False`` a call either works or raises a
TypeError/ValueError that names the argument. The runs are derandomized and database-free, so CI
sees the same examples every time, and bounded in number to keep the suite fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from helpers import wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

import sentrial
from sentrial import AsyncSentrialClient, Interaction, SentrialClient, session, tool
from sentrial.instrumentation._llm import set_capture_content
from sentrial.server import LocalServer

BOUNDED = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- values that break naive code ----------------------------------------------------------------
def _raise(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("nasty value")


RAISING_DUNDERS = (
    "__str__",
    "__repr__",
    "__len__",
    "__eq__",
    "__hash__",
    "__bool__",
    "__iter__",
    "__float__",
    "__int__",
    "__index__",
)
RAISERS = [type(f"Raises{name.strip('_').title()}", (), {name: _raise}) for name in RAISING_DUNDERS]
RAISERS.append(type("RaisesEverything", (), dict.fromkeys(RAISING_DUNDERS, _raise)))
STR_SUBCLASSES = [
    type(f"StrRaises{name.strip('_').title()}", (str,), {name: _raise})
    for name in ("__str__", "__repr__", "__len__", "__eq__", "__hash__", "__iter__")
]


class ItemsRaise(dict):  # type: ignore[type-arg]
    """A dict subclass whose contents cannot be listed."""

    keys = items = values = __iter__ = __len__ = _raise


class GetRaises(Mapping):  # type: ignore[type-arg]
    """A Mapping whose items cannot be read."""

    def __getitem__(self, key: Any) -> Any:
        raise RuntimeError("nasty value")

    def __iter__(self) -> Iterator[Any]:
        return iter(["a", "b"])

    def __len__(self) -> int:
        return 2


def _cycle() -> dict[str, Any]:
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    return loop


def _nested(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["x"] = {}
        node = node["x"]
    return root


SPECIAL = [
    10**5000,
    -(10**400),
    2**63,
    2**64 + 1,
    float("inf"),
    float("-inf"),
    float("nan"),
    1e308,
    "",
    "\ud800",
    "x\udfffy",
    "line\nbreak\x00",
    "x" * (1024 * 1024),
    b"\xff\xfe raw",
    bytearray(b"abc"),
    _cycle(),
    _nested(100_000),  # past the interpreter's recursion limit
    [[[[[[[[[[[[[[[[[[[[[["deep list"]]]]]]]]]]]]]]]]]]]]]],
    {1, 2, 3},
    object(),
    ItemsRaise(a=1),
    GetRaises(),
    TracerProvider,  # a class, not an instance
]


def _special(index: int) -> Any:
    """One of SPECIAL, drawn by index (Hypothesis writes the strategy out, and their reprs may raise)."""
    return SPECIAL[index]


leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.binary(max_size=12),
    st.integers(0, len(SPECIAL) - 1).map(_special),
    st.sampled_from(RAISERS).map(lambda cls: cls()),
    st.sampled_from(STR_SUBCLASSES).map(lambda cls: cls("text")),
)
NASTY = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), children, max_size=3),
    ),
    max_leaves=6,
)


# --- the calls -------------------------------------------------------------------------------
SID = "<session>"  # stands for the id of the session each example opens
CLIENT_CALLS: dict[str, dict[str, Any]] = {
    "create_session": {
        "name": "n",
        "agent_name": "a",
        "user_id": "u",
        "parent_session_id": None,
        "convo_id": None,
        "metadata": None,
    },
    "track_tool_call": {
        "session_id": SID,
        "tool_name": "t",
        "tool_input": {},
        "tool_output": {},
        "reasoning": None,
        "estimated_cost": 0.0,
        "tool_error": None,
        "token_count": None,
        "trace_id": None,
        "span_id": None,
        "metadata": None,
    },
    "track_decision": {
        "session_id": SID,
        "reasoning": "r",
        "alternatives": None,
        "confidence": None,
        "estimated_cost": 0.0,
        "token_count": None,
    },
    "track_error": {
        "session_id": SID,
        "error_message": "e",
        "error_type": None,
        "tool_name": None,
        "stack_trace": None,
        "metadata": None,
    },
    "complete_session": {
        "session_id": SID,
        "success": True,
        "failure_reason": None,
        "estimated_cost": None,
        "custom_metrics": None,
        "duration_ms": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "total_tokens": None,
        "user_input": None,
        "assistant_output": None,
    },
    "begin": {
        "user_id": "u",
        "event": "e",
        "input": None,
        "event_id": None,
        "convo_id": None,
        "metadata": None,
    },
}


def _without(call: str, *names: str) -> dict[str, Any]:
    return {k: v for k, v in CLIENT_CALLS[call].items() if k not in names}


INTERACTION_CALLS: dict[str, dict[str, Any]] = {
    "set_output": {"output": "o"},
    "track_tool_call": _without("track_tool_call", "session_id"),
    "track_decision": _without("track_decision", "session_id"),
    "track_error": _without("track_error", "session_id"),
    "finish": {
        "output": None,
        **_without("complete_session", "session_id", "user_input", "assistant_output"),
    },
}
CLIENT_CALLS["flush"] = {"timeout": 2.0}
COMPLETING = {"complete_session", "finish"}
ALL_CALLS = [("client", n) for n in CLIENT_CALLS] + [("interaction", n) for n in INTERACTION_CALLS]


def _arguments(target: str, name: str) -> list[str]:
    return list((CLIENT_CALLS if target == "client" else INTERACTION_CALLS)[name])


@st.composite
def bad_calls(draw: Callable[..., Any], replace_at_most: int) -> tuple[str, str, dict[str, Any], list[str]]:
    """A call with some of its arguments replaced by nasty values: (target, name, kwargs, replaced)."""
    target, name = draw(st.sampled_from(ALL_CALLS))
    kwargs = dict((CLIENT_CALLS if target == "client" else INTERACTION_CALLS)[name])
    names = draw(
        st.lists(st.sampled_from(_arguments(target, name)), min_size=1, max_size=replace_at_most, unique=True)
    )
    for argument in names:
        kwargs[argument] = draw(NASTY)
    return target, name, kwargs, names


def _call(
    client: SentrialClient,
    interaction: Interaction,
    target: str,
    name: str,
    kwargs: dict[str, Any],
    use_async: bool,
) -> Any:
    """Make the call on ``client`` or ``interaction``, sync or through the async API."""
    kwargs = {k: interaction.session_id if v is SID else v for k, v in kwargs.items()}
    if target == "client":
        if use_async:
            async_client = AsyncSentrialClient.__new__(AsyncSentrialClient)
            async_client._client = client  # the same client, through the async API
            if name == "begin":
                return async_client.begin(**kwargs)
            if name == "flush":  # runs in a thread of its own: wait for its result
                return async_client.flush(**kwargs).result(timeout=30)
            return asyncio.run(getattr(async_client, name)(**kwargs))
        return getattr(client, name)(**kwargs)
    if use_async:
        wrapped = sentrial.AsyncInteraction(interaction)
        method = getattr(wrapped, name)
        return method(**kwargs) if name == "set_output" else asyncio.run(method(**kwargs))
    return getattr(interaction, name)(**kwargs)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer(db=":memory:") as local:
        yield local


def _client(server: LocalServer, strict: bool) -> SentrialClient:
    return SentrialClient(
        api_key="k",
        api_url=server.url,
        fail_silently=not strict,
        tracer_provider=TracerProvider(),
        max_value_chars=4096,
        retry_timeout=0.5,
    )


def test_no_call_raises_and_the_valid_events_around_the_bad_ones_arrive(server: LocalServer) -> None:
    logging.getLogger("sentrial").setLevel(logging.CRITICAL)  # thousands of expected warnings
    client = _client(server, strict=False)
    sessions: dict[str, str] = {}  # id: the bad call made in it

    @BOUNDED
    @given(bad_calls(replace_at_most=3), st.booleans())
    def run(call: tuple[str, str, dict[str, Any], list[str]], use_async: bool) -> None:
        # In a context of its own: what an example leaves current (a session a bad finish() did not
        # leave, or one finished in another event loop) must not be the next example's, or a later test's.
        contextvars.copy_context().run(example, call, use_async)

    def example(call: tuple[str, str, dict[str, Any], list[str]], use_async: bool) -> None:
        target, name, kwargs, replaced = call
        interaction = client.begin(user_id="u", event="valid")
        sid = interaction.session_id
        assert sid is not None
        sessions[sid] = f"{target}.{name}({', '.join(replaced)} replaced, async={use_async})"
        interaction.track_tool_call(tool_name="before", tool_input={"n": 1}, tool_output={})
        if name in COMPLETING:
            interaction.track_tool_call(tool_name="after", tool_input={}, tool_output={})
        _call(client, interaction, target, name, kwargs, use_async)  # must not raise
        if name not in COMPLETING:
            interaction.track_tool_call(tool_name="after", tool_input={}, tool_output={})
        elif target == "interaction" or "session_id" not in replaced:  # the call named this session
            assert sid not in client._sessions, "an absurd completion must still complete its session"
        if sid in client._sessions:  # not completed by the call (another session was named)
            client.complete_session(sid, assistant_output="done")

    try:
        run()
        client.flush(timeout=10)  # some calls named sessions the server does not know: not all lands
    finally:
        client.shutdown(timeout=5)
        logging.getLogger("sentrial").setLevel(logging.NOTSET)
    for sid in sessions:
        recorded = wait_until(lambda sid=sid: server.session(sid), what=f"session {sid}")
        assert recorded["status"] in ("completed", "failed"), sessions[sid]
        names = [e["toolName"] for e in recorded["events"] if e["eventType"] == "tool_call"]
        assert names[0] == "before" and "after" in names, (names, sessions[sid])


def test_a_strict_client_raises_only_type_and_value_errors_naming_the_argument(server: LocalServer) -> None:
    logging.getLogger("sentrial").setLevel(logging.CRITICAL)
    client = _client(server, strict=True)

    @BOUNDED
    @given(bad_calls(replace_at_most=1), st.booleans())
    def run(call: tuple[str, str, dict[str, Any], list[str]], use_async: bool) -> None:
        # In a context of its own: what an example leaves current (a session a bad finish() did not
        # leave, or one finished in another event loop) must not be the next example's, or a later test's.
        contextvars.copy_context().run(example, call, use_async)

    def example(call: tuple[str, str, dict[str, Any], list[str]], use_async: bool) -> None:
        target, name, kwargs, (replaced,) = call
        interaction = client.begin(user_id="u", event="valid")
        sid = interaction.session_id
        assert sid is not None
        try:
            _call(client, interaction, target, name, kwargs, use_async)
        except (TypeError, ValueError) as error:
            assert replaced in str(error), (name, replaced, str(error))
        except sentrial.DeliveryError:  # flush(): an earlier call named a session the server lacks
            assert name == "flush"
        if sid in client._sessions:
            client.complete_session(sid)

    try:
        run()
    finally:
        client.shutdown(timeout=5)
        logging.getLogger("sentrial").setLevel(logging.NOTSET)


# --- the client's settings ------------------------------------------------------------------
SETTINGS: dict[str, Any] = {
    "api_key": "k",
    "pii": None,
    "batching": None,
    "timeout": 1.0,
    "retry_timeout": 0.5,
    "max_value_chars": 4096,
    "export_to_sentrial": True,
    "additional_exporters": (),
    "tracer_provider": None,
}
# An api_url that is a usable URL would send to it: only the loopback, or no URL at all.
URLS = st.one_of(
    NASTY.filter(lambda v: not (isinstance(v, str) and v.lower().startswith(("http://", "https://")))),
    st.sampled_from(["http://127.0.0.1:9", "https://127.0.0.1:9/x", "http://[::1]:9", "127.0.0.1:9"]),
)


CONFIGURE_ONLY = {"instrument": False, "capture_content": None}


@st.composite
def bad_settings(draw: Callable[..., Any], through_configure: bool) -> tuple[str, dict[str, Any]]:
    """One setting replaced by a nasty value: (its name, every setting to pass)."""
    options = {**SETTINGS, **(CONFIGURE_ONLY if through_configure else {})}
    name = draw(st.sampled_from([*options, "api_url"]))
    options[name] = draw(URLS if name == "api_url" else NASTY)
    return name, options


@pytest.mark.parametrize("strict", [False, True], ids=["fail silently", "strict"])
def test_client_and_configure_take_arbitrary_settings(server: LocalServer, strict: bool) -> None:
    logging.getLogger("sentrial").setLevel(logging.CRITICAL)

    @settings(BOUNDED, max_examples=60)
    @given(st.booleans().flatmap(lambda configure: st.tuples(st.just(configure), bad_settings(configure))))
    def run(drawn: tuple[bool, tuple[str, dict[str, Any]]]) -> None:
        through_configure, (name, options) = drawn
        options.setdefault("api_url", server.url)
        make = sentrial.configure if through_configure else SentrialClient
        try:
            client = make(fail_silently=not strict, **options)
        except (TypeError, ValueError) as error:
            assert strict, f"{name}: {error}"
            assert name in str(error), (name, str(error))
            return
        try:  # the client made works: a session goes through without an error
            interaction = client.begin(user_id="u", event="after-settings")
            interaction.track_tool_call(tool_name="t", tool_input={}, tool_output={})
            interaction.finish(output="ok")
        finally:
            with contextlib.suppress(sentrial.DeliveryError):  # strict, and the URL leads nowhere
                sentrial.shutdown(timeout=0.5) if through_configure else client.shutdown(timeout=0.5)

    try:
        run()
    finally:
        set_capture_content(None)  # configure(capture_content=...) is process-wide
        logging.getLogger("sentrial").setLevel(logging.NOTSET)


# --- decorators --------------------------------------------------------------------------------
def test_decorated_functions_return_what_they_return_whatever_they_take(server: LocalServer) -> None:
    logging.getLogger("sentrial").setLevel(logging.CRITICAL)
    client = _client(server, strict=False)

    @tool
    def echo_tool(value: Any) -> Any:
        return value

    @session("decorated", client=client)
    def agent(user_id: Any, question: Any) -> Any:
        echo_tool(question)
        return question

    @BOUNDED
    @given(NASTY, NASTY)
    def run(user_id: Any, value: Any) -> None:
        assert agent(user_id, value) is value

    try:
        run()
        assert client.flush(timeout=10)
    finally:
        client.shutdown(timeout=5)
        logging.getLogger("sentrial").setLevel(logging.NOTSET)
    recorded = [server.session(s["id"]) for s in server.sessions()]
    assert recorded and all(r and r["status"] == "completed" and len(r["events"]) == 1 for r in recorded)
