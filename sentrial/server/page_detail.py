"""The detail pane of a session page: what one selected node of the tree holds, shown by its kind (an LLM
call as a conversation, a tool call with its input and output, a decision, an error, a session)."""

from __future__ import annotations

from html import escape
from typing import Any

from sentrial.server import page
from sentrial_otel_exporter.mapping import load_json

# Metadata keys that the tree already shows (when and how long, under what).
TIMING_KEYS = frozenset({"started_at", "duration_ms", "parent_span_id"})
# Metadata keys of an LLM call that its facts and parameters already show.
_LLM_SHOWN_KEYS = frozenset({"parameters", "finish_reason", "time_to_first_chunk_ms"})
_MAX_JSON_DEPTH = 20
# The parts of an LLM call's input that are not its parameters.
_LLM_INPUT_KEYS = frozenset({"messages", "model", "provider"})


def facts(pairs: list[tuple[str, str]]) -> str:
    """A list of label → value (values are markup, already escaped); pairs with no value are left out."""
    shown = [(name, value) for name, value in pairs if value not in ("", page.NONE)]
    items = "".join(f"<div><dt>{escape(name)}</dt><dd>{value}</dd></div>" for name, value in shown)
    return f'<dl class="facts">{items}</dl>' if items else ""


def json_view(value: Any, depth: int = 0) -> str:
    """A JSON value as nested collapsible lists (the first levels open)."""
    if depth >= _MAX_JSON_DEPTH:
        return f"<pre>{page.pretty_json(value)}</pre>"
    if isinstance(value, (dict, list)):
        if not value:
            return f'<span class="j-empty">{"{}" if isinstance(value, dict) else "[]"}</span>'
        pairs = value.items() if isinstance(value, dict) else enumerate(value)
        items = "".join(
            f'<li><span class="j-key">{escape(str(key))}</span>: {json_view(item, depth + 1)}</li>'
            for key, item in pairs
        )
        count = len(value)
        summary = f"{count} field{'s' if count != 1 else ''}" if isinstance(value, dict) else f"{count} item"
        summary += "s" if isinstance(value, list) and count != 1 else ""
        opened = " open" if depth < 2 else ""
        return f'<details class="json"{opened}><summary>{summary}</summary><ul>{items}</ul></details>'
    if isinstance(value, str):
        return f'<span class="j-str">{escape(value)}</span>'
    literal = page.text(value) if isinstance(value, bool) else page.pretty_json(value)
    return f'<span class="j-lit">{literal}</span>'


def _block(title: str, value: Any) -> str:
    if value in (None, {}, [], ""):
        return ""
    return f'<section class="block"><h4>{escape(title)}</h4>{json_view(value)}</section>'


def _prose(title: str, value: Any, css: str = "prose") -> str:
    if not value:
        return ""
    shown = f'<div class="{css}">{escape(str(value))}</div>'
    return f'<section class="block"><h4>{escape(title)}</h4>{shown}</section>'


def _raw(data: dict[str, Any]) -> str:
    return f'<details class="raw"><summary>Raw JSON</summary><pre>{page.pretty_json(data)}</pre></details>'


def _error(error: Any) -> str:
    if not isinstance(error, dict) or not error:
        return ""
    rest = {k: v for k, v in error.items() if k not in ("message", "type", "stack_trace")}
    stack = error.get("stack_trace")
    return (
        '<section class="block error"><h4>Error</h4>'
        + facts([("Message", page.text(error.get("message"))), ("Type", page.text(error.get("type")))])
        + (f'<pre class="stack">{escape(str(stack))}</pre>' if stack else "")
        + (json_view(rest) if rest else "")
        + "</section>"
    )


def _state(event: dict[str, Any]) -> str:
    return _block("State before", event.get("stateBefore")) + _block("State after", event.get("stateAfter"))


def _metadata(event: dict[str, Any], shown: frozenset[str] = TIMING_KEYS) -> str:
    metadata = page.mapping(event.get("metadata"))
    return _block("Metadata", {k: v for k, v in metadata.items() if k not in shown})


def _event_facts(event: dict[str, Any], duration_name: str) -> list[tuple[str, str]]:
    return [
        ("Started", page.time(event.get("startedAt") or event.get("receivedAt"))),
        (duration_name, page.duration(event.get("durationMs"))),
        ("Cost", page.cost(event.get("estimatedCost")) if event.get("estimatedCost") else page.NONE),
        ("Tokens", page.tokens(event.get("tokenCount"))),
    ]


def _message_content(content: Any) -> str:
    if content is None or content == "":
        return ""
    if isinstance(content, str):
        return f'<div class="content">{escape(content)}</div>'
    if isinstance(content, list) and all(isinstance(p, dict) for p in content):
        texts = [str(p.get("text") or p.get("content") or "") for p in content if p.get("type") == "text"]
        if texts and len(texts) == len(content):
            return f'<div class="content">{escape("".join(texts))}</div>'
    return f'<div class="content">{json_view(content)}</div>'


def _tool_calls(calls: Any) -> str:
    if not isinstance(calls, list):
        return ""
    shown = []
    for call in calls:
        if not isinstance(call, dict):
            continue
        function = page.mapping(call.get("function")) or call
        name = function.get("name") or "tool"
        arguments = load_json(function.get("arguments", function.get("input")))
        shown.append(
            f'<div class="tool-call"><span class="label">Calls tool</span> <code>{escape(str(name))}</code>'
            f"{json_view(arguments) if arguments is not None else ''}</div>"
        )
    return "".join(shown)


def _message(message: Any) -> str:
    if not isinstance(message, dict):
        return f'<div class="msg other"><div class="role">Message</div>{_message_content(message)}</div>'
    role = str(message.get("role") or "message")
    css = role if role in ("system", "user", "assistant", "tool") else "other"
    results = message.get("tool_results")
    result_html = "".join(
        f'<div class="tool-result"><span class="label">Tool result</span>{json_view(load_json(r))}</div>'
        for r in (results if isinstance(results, list) else [])
    )
    return (
        f'<div class="msg {css}"><div class="role">{escape(role.capitalize())}</div>'
        f"{_message_content(message.get('content'))}{_tool_calls(message.get('tool_calls'))}{result_html}</div>"
    )


def _llm_call(event: dict[str, Any]) -> str:
    tool_input = page.mapping(event.get("toolInput"))
    tool_output = page.mapping(event.get("toolOutput"))
    metadata = page.mapping(event.get("metadata"))
    _, provider, model = [*str(event.get("toolName")).split(":", 2), "", ""][:3]
    used = page.mapping(tool_output.get("tokens"))
    params = {k: v for k, v in tool_input.items() if k not in _LLM_INPUT_KEYS}
    params.update(page.mapping(metadata.get("parameters")))
    finish = tool_output.get("finish_reason") or metadata.get("finish_reason")
    head = facts(
        [
            ("Model", page.text(tool_input.get("model") or model)),
            ("Provider", page.text(tool_input.get("provider") or provider)),
            ("Latency", page.duration(event.get("durationMs"))),
            ("First chunk after", page.duration(metadata.get("time_to_first_chunk_ms"))),
            ("Prompt tokens", page.tokens(used.get("prompt", metadata.get("prompt_tokens")))),
            ("Completion tokens", page.tokens(used.get("completion", metadata.get("completion_tokens")))),
            ("Total tokens", page.tokens(used.get("total", event.get("tokenCount")))),
            ("Cost", page.cost(event.get("estimatedCost"))),
            ("Finish reason", page.text(finish)),
            ("Started", page.time(event.get("startedAt") or event.get("receivedAt"))),
        ]
    )
    messages = tool_input.get("messages")
    turns = "".join(_message(m) for m in messages) if isinstance(messages, list) else ""
    reply = tool_output.get("content")
    if reply or tool_output.get("tool_calls"):
        calls = tool_output.get("tool_calls")
        turns += _message({"role": "assistant", "content": reply, "tool_calls": calls})
    conversation = (
        f'<section class="block"><h4>Conversation</h4><div class="conversation">{turns}</div></section>'
    )
    return (
        head
        + (conversation if turns else "")
        + _block("Parameters", params)
        + _error(event.get("toolError"))
        + _state(event)
        + _metadata(event, TIMING_KEYS | _LLM_SHOWN_KEYS)
    )


def _tool_call(event: dict[str, Any]) -> str:
    return (
        facts(_event_facts(event, "Duration"))
        + _prose("Reasoning", event.get("reasoning"))
        + _block("Input", event.get("toolInput"))
        + _block("Output", event.get("toolOutput"))
        + _error(event.get("toolError"))
        + _state(event)
        + _metadata(event)
    )


def _decision(event: dict[str, Any]) -> str:
    alternatives = event.get("alternativesConsidered")
    alternatives = alternatives if isinstance(alternatives, list) else []
    listed = "".join(f"<li>{escape(str(a))}</li>" for a in alternatives)
    if listed:
        listed = f'<section class="block"><h4>Alternatives considered</h4><ul>{listed}</ul></section>'
    return (
        facts([("Confidence", page.percent(event.get("confidence"))), *_event_facts(event, "Duration")])
        + _prose("Reasoning", event.get("reasoning"))
        + listed
        + _state(event)
        + _metadata(event)
    )


def _error_event(event: dict[str, Any]) -> str:
    return (
        facts([("Tool", page.text(event.get("toolName"))), ("Started", page.time(event.get("startedAt")))])
        + _error(event.get("toolError"))
        + _state(event)
        + _metadata(event)
    )


def event_kind(event: dict[str, Any]) -> str:
    """``llm``, ``tool``, ``decision`` or ``error``."""
    kind = event.get("eventType")
    if kind == "llm_decision":
        return "decision"
    if kind == "error":
        return "error"
    return "llm" if str(event.get("toolName")).startswith("llm:") else "tool"


_BY_KIND = {"llm": _llm_call, "tool": _tool_call, "decision": _decision, "error": _error_event}


def event_detail(event: dict[str, Any]) -> str:
    """The detail of one event, with its raw JSON on demand."""
    shown = {k: v for k, v in event.items() if k not in ("startedAt", "durationMs", "parentSpanId")}
    return _BY_KIND[event_kind(event)](event) + _raw(shown)


def session_detail(session: dict[str, Any]) -> str:
    """The detail of a session: its input and output, metrics and metadata, raw JSON on demand."""
    metadata = page.mapping(session.get("metadata"))
    given = session.get("userInput") or metadata.get("input")
    shown = {k: v for k, v in session.items() if k not in ("events", "children", "parent", "truncated")}
    return (
        _prose("Input", given, "prose said")
        + _prose("Output", session.get("assistantOutput"), "prose said")
        + _prose("Failure reason", session.get("failureReason"), "prose failed")
        + _block("Custom metrics", session.get("customMetrics"))
        + _block("Metadata", session.get("metadata"))
        + _raw(shown)
    )
