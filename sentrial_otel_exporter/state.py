"""A session's state, sent around each of its events as ``stateBefore`` and ``stateAfter``.

As sessions-api.md describes it: an interaction's state starts as ``{"input": <input>}`` (a session
opened with ``create_session`` starts empty); keys set with ``update_state`` (sent as a span of
their own) join it; a tool call (an LLM call too) sets ``"{tool name}_result"`` to its output. The
state is kept per session, in the exporter's book of the session.

Every event carries the whole state twice, so each of its values is encoded to JSON once, when it
is set, and the event's body gets the state's JSON text spliced in (see :class:`ApiCall`'s
``spliced``) instead of copies to encode again. A tool call's output, which is also the state's
new value, is encoded once for both.
"""

from __future__ import annotations

from json.encoder import encode_basestring_ascii
from typing import Any

from sentrial_otel_exporter.calls import ApiCall, to_json

_BEFORE = b'"stateBefore": '
_AFTER = b'"stateAfter": '
_OUTPUT = b'"toolOutput": '


class SessionState:
    """One session's state, updated event by event in the order the events are sent."""

    __slots__ = ("_members", "_text", "values")

    def __init__(self, initial: dict[str, Any] | None = None) -> None:
        self.values: dict[str, Any] = dict(initial) if initial else {}
        self._members: dict[str, bytes] = {}  # each key's encoded '"key": value', made once
        self._text: bytes | None = None  # the whole state as JSON, while no key changed

    def update(self, values: Any, replace: bool = False) -> None:
        """Set the keys of ``values`` (a dict; anything else is ignored), after clearing the state
        when ``replace``."""
        if replace:
            self.values = {}
            self._members = {}
            self._text = None
        if isinstance(values, dict):
            self.values.update(values)
            for key in values:
                self._members.pop(key, None)
            self._text = None

    def around(self, call: ApiCall) -> None:
        """Set ``stateBefore`` and ``stateAfter`` of an event's call, and move the state on."""
        body = call.body
        if body is None:
            return
        before = self._json()
        before_values = dict(self.values) if before is None else None
        if body.get("eventType") != "tool_call":
            self._put(call, before, before_values, before, before_values)
            return
        key = f"{body.get('toolName')}_result"
        output = body.get("toolOutput")
        self.values[key] = output
        self._text = None
        encoded = _encoded(output)
        if encoded is None:
            self._members.pop(key, None)
        else:
            self._members[key] = _member(key, encoded)
            if "toolOutput" in body:  # spliced in, encoded once with the state's value
                del body["toolOutput"]
                call.spliced = [_OUTPUT + encoded]
        after = self._json()
        self._put(call, before, before_values, after, dict(self.values) if after is None else None)

    @staticmethod
    def _put(
        call: ApiCall,
        before: bytes | None,
        before_values: dict[str, Any] | None,
        after: bytes | None,
        after_values: dict[str, Any] | None,
    ) -> None:
        """The state before and after the event, as JSON text to splice in, or as dicts to encode
        with the body when a value could not be encoded on its own (the body then fails as a whole)."""
        assert call.body is not None
        spliced = call.spliced if call.spliced is not None else []
        call.body.pop("stateBefore", None)  # the mapping's empty ones
        call.body.pop("stateAfter", None)
        if before is None:
            call.body["stateBefore"] = before_values
        else:
            spliced.append(_BEFORE + before)
        if after is None:
            call.body["stateAfter"] = after_values
        else:
            spliced.append(_AFTER + after)
        call.spliced = spliced or None

    def _json(self) -> bytes | None:
        """The state as JSON, from each value's text encoded once; None when one cannot be."""
        if self._text is not None:
            return self._text
        members = self._members
        parts: list[bytes] = []
        for key, value in self.values.items():
            member = members.get(key)
            if member is None:
                encoded = _encoded(value) if isinstance(key, str) else None
                if encoded is None:
                    return None
                member = members[key] = _member(key, encoded)
            parts.append(member)
        self._text = b"{" + b", ".join(parts) + b"}"
        return self._text


def _member(key: str, encoded: bytes) -> bytes:
    """A state member's JSON text, ``"key": value``, from its value's ``encoded`` JSON."""
    return encode_basestring_ascii(key).encode() + b": " + encoded


def _encoded(value: Any) -> bytes | None:
    """``value`` as JSON, None when JSON cannot hold it (an object of no JSON type)."""
    try:
        return to_json(value)
    except Exception:  # its event's body is encoded with it as a dict, and fails as a whole
        return None
