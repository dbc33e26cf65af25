"""Message parts in the GenAI conventions' JSON form, read from OpenAI's chat format.

The OpenAI instrumentation reads requests and answers with these, and the LangChain integration
reads LangChain's content blocks, which follow the same format, with them too. The Anthropic and
Google instrumentations write their commonest messages with the JSON-text helpers as well.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring as _quoted  # '"text"', escaped as the JSON encoder does
from typing import Any
from urllib.parse import urlsplit

from sentrial import semconv as sc

# The commonest shapes are written straight as JSON text: on every LLM call, building the dicts of
# the general form and encoding them costs several times as much. Each gives exactly the text that
# json_text() gives for the general form. f-strings, as % formatting takes five times as long.
# Roles and finish reasons are a few words, quoted once.
_QUOTED_WORDS = {word: _quoted(word) for word in ("user", "assistant", "stop", "length", "tool_calls")}


def as_integer(value: Any) -> int | None:
    """``value`` when it is an int (not a bool), else None: token counts read from an answer."""
    if type(value) is int:  # the common case first: these run several times on every call
        return value
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_number(value: Any) -> float | int | None:
    """``value`` when it is an int or a float (not a bool), else None."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def as_text(value: Any) -> str | None:
    """``value`` when it is a str, else None."""
    return value if isinstance(value, str) else None


def get_field(obj: Any, key: str) -> Any:
    """A field of a request dict or of a response model (None when absent)."""
    if isinstance(obj, dict):  # request params are plain dicts (TypedDicts); no slower Mapping check
        return obj.get(key)
    return getattr(obj, key, None)


_DEFAULT_PORTS = {"https": 443, "http": 80}


# The last URL read and what it gave: a client keeps one URL object, and reading an httpx URL's
# parts takes as long as the rest of describing a call.
_last_server: tuple[Any, dict[str, Any]] = (None, {})


def server_attributes(url: Any) -> dict[str, Any]:
    """``server.address`` / ``server.port`` of the API at ``url`` (text, or an httpx ``URL`` as the
    openai and anthropic clients keep it); empty when it names no host. Callers must not change
    the dict returned."""
    global _last_server
    last_url, found = _last_server
    if url is last_url:
        return found
    found = _read_server(url)
    _last_server = (url, found)
    return found


def _read_server(url: Any) -> dict[str, Any]:
    if isinstance(url, str):
        parts = urlsplit(url)
        host, port, scheme = parts.hostname, parts.port, parts.scheme
    else:
        host, port, scheme = (
            getattr(url, "host", None),
            getattr(url, "port", None),
            getattr(url, "scheme", ""),
        )
    if not isinstance(host, str) or not host:
        return {}
    port = port or _DEFAULT_PORTS.get(scheme)
    return {sc.SERVER_ADDRESS: host, sc.SERVER_PORT: port} if port else {sc.SERVER_ADDRESS: host}


# Where the SDKs' clients keep the URL their ``base_url`` property gives (openai, then anthropic and
# older openai versions): recent openai versions run an import on every read of the property.
_URL_FIELDS = ("_configured_base_url", "_base_url")


def client_base_url(resource: Any) -> Any:
    """The ``base_url`` of the client a resource of the openai or anthropic SDK belongs to."""
    client = getattr(resource, "_client", None)
    fields = getattr(client, "__dict__", None)
    if fields is not None:
        for name in _URL_FIELDS:
            url = fields.get(name)
            if url is not None:
                return url
    return getattr(client, "base_url", None)


def text_part(text: Any) -> dict[str, Any]:
    """A text part."""
    return {"type": "text", "content": "" if text is None else str(text)}


def text_part_json(text: str) -> str:
    """The JSON text of ``text_part(text)``."""
    return f'{{"type":"text","content":{_quoted(text)}}}'


def text_message_json(role: str, text: str) -> str:
    """The JSON text of a message of one text part: ``{"role": role, "parts": [text_part(text)]}``."""
    quoted_role = _QUOTED_WORDS.get(role) or _quoted(role)
    return f'{{"role":{quoted_role},"parts":[{{"type":"text","content":{_quoted(text)}}}]}}'


def text_answer_json(text: str, finish_reason: str | None) -> str:
    """The JSON text of an assistant's answer of one text part, with why it finished."""
    reason = "null" if finish_reason is None else _QUOTED_WORDS.get(finish_reason) or _quoted(finish_reason)
    parts = f'[{{"type":"text","content":{_quoted(text)}}}]'
    return f'{{"role":"assistant","parts":{parts},"finish_reason":{reason}}}'


def json_array(items: list[str]) -> str:
    """The JSON text of an array of the JSON texts ``items``."""
    return f"[{','.join(items)}]"


def _arguments(arguments: Any) -> Any:
    """Tool-call arguments as an object when they are complete JSON, else as sent."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def tool_call_part(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """A tool call the model asked for (arguments given as JSON text are decoded)."""
    return {"type": "tool_call", "id": call_id, "name": name, "arguments": _arguments(arguments)}


def media_part(url: Any, modality: str) -> dict[str, Any]:
    """An image, audio or file by URL; inline ``data:`` URLs keep their kind only."""
    if isinstance(url, str) and url.startswith("data:"):
        # Inline data can be megabytes: keep its kind, not its bytes.
        return {"type": "blob", "modality": modality, "mime_type": url[5:].split(";", 1)[0].split(",", 1)[0]}
    return {"type": "uri", "modality": modality, "uri": url}


def content_part(part: Any) -> dict[str, Any]:
    """One content part of a chat message or of a Responses API item."""
    kind = get_field(part, "type")
    if kind in ("text", "input_text", "output_text"):
        return text_part(get_field(part, "text"))
    if kind == "refusal":
        return text_part(get_field(part, "refusal"))
    if kind == "image_url":
        return media_part(get_field(get_field(part, "image_url"), "url"), "image")
    if kind == "input_image":
        url = get_field(part, "image_url")
        return media_part(url, "image") if url else {"type": "file", "file_id": get_field(part, "file_id")}
    if kind == "input_audio":
        audio_format = get_field(get_field(part, "input_audio"), "format")
        return {"type": "blob", "modality": "audio", "mime_type": f"audio/{audio_format}"}
    if kind in ("file", "input_file"):
        return {
            "type": "file",
            "file_id": get_field(get_field(part, "file"), "file_id") or get_field(part, "file_id"),
        }
    return {"type": str(kind)}


def content_parts(content: Any) -> list[dict[str, Any]]:
    """The parts of a message's content (a text, or a list of parts)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [text_part(content)]
    if isinstance(content, (list, tuple)):
        return [content_part(part) for part in content]
    return []


def tool_result(call_id: Any, content: Any) -> dict[str, Any]:
    """A tool message answering the call ``call_id``."""
    part = {"type": "tool_call_response", "id": call_id, "response": plain_text(content)}
    return {"role": "tool", "parts": [part]}


def plain_text(content: Any) -> Any:
    """A tool result's content: the text of its parts, or the value as given."""
    if isinstance(content, (list, tuple)):
        return "".join(str(p.get("content", "")) for p in content_parts(content) if p.get("type") == "text")
    return content
