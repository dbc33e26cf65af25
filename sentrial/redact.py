"""PII redaction: the public face (the reference's ``PiiConfig`` types, from ``sentrial._pii_config``)
and the redactor of spans, built on the text engine of ``sentrial._pii_text``.

Every string of a span is scanned: its name, every attribute (strings and string arrays), its
events' names and attributes, its links' attributes and its status description. ``fields`` narrows
which of the attributes that carry content (the SDK's own, the OTel GenAI ones, OpenInference's and
Traceloop's) are redacted; every other attribute is, always. Identifiers (a user id, a conversation
id, an agent name) get a stable pseudonym instead of a shared label, so sessions still group by
them. A span with nothing to redact is handed on as it is; otherwise the live span is never touched
and a redacted copy goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import AttributeValue

from sentrial import semconv as sc
from sentrial._pii_config import (
    ALL_FIELDS,
    CONTENT_ATTRIBUTES,
    CONTENT_PREFIXES,
    ERROR_FIELDS,
    FIELD_ATTRIBUTES,
    IDENTIFIER_ATTRIBUTES,
    IDENTIFIER_PREFIXES,
    STRUCTURAL_ATTRIBUTES,
    PiiBuiltinPatterns,
    PiiConfig,
    PiiCustomPattern,
    PiiMode,
    normalise_field,
)
from sentrial._pii_text import DEFAULT_MAX_SCAN_CHARS, TextRedactor
from sentrial_otel_exporter.spans import copy_span

__all__ = [
    "ALL_FIELDS",
    "DEFAULT_MAX_SCAN_CHARS",
    "PiiBuiltinPatterns",
    "PiiConfig",
    "PiiCustomPattern",
    "PiiMode",
    "Redactor",
    "normalise_field",
    "redactor_for",
]

logger = logging.getLogger("sentrial")

_Attributes = Mapping[str, AttributeValue]
_SKIP, _SCAN, _PSEUDONYM = range(3)  # what redact_span does with an attribute
_MOST_PLANS = 10_000  # attribute names whose plan is remembered (names with indexes vary)


class Redactor(TextRedactor):
    """Redacts text, attribute values and spans according to one :class:`PiiConfig`.

    With ``strict`` an invalid custom pattern or field raises ValueError; otherwise it is logged
    and skipped.
    """

    def __init__(self, config: PiiConfig, *, strict: bool = False, max_chars: int = DEFAULT_MAX_SCAN_CHARS):
        super().__init__(config, strict=strict, max_chars=max_chars)
        fields = self._build_fields(config.fields, strict)
        self._exact: dict[str, str] = {}
        self._prefixes: list[str] = []
        for name in fields:
            exact, prefixes = FIELD_ATTRIBUTES[name]
            self._exact.update(dict.fromkeys(exact, name))
            self._prefixes.extend(prefixes)
        self._plans: dict[str, int] = {}  # attribute name -> _SKIP, _SCAN or _PSEUDONYM
        self._prefix_tuple = tuple(self._prefixes)
        self._exceptions = "exceptions" in fields
        self._genai_events = "user_input" in fields or "assistant_output" in fields
        self._status = bool(ERROR_FIELDS & set(fields))

    def _build_fields(self, names: Iterable[str] | None, strict: bool) -> list[str]:
        """The fields to scan; every field when any name is unknown (a misspelt field must not
        leave its content unredacted)."""
        if names is None:
            return list(ALL_FIELDS)
        fields: list[str] = []
        for name in names:
            try:
                fields.append(normalise_field(str(name)))
            except ValueError as exc:
                if strict:
                    raise
                logger.error("sentrial: %s; every field is redacted instead", exc)
                return list(ALL_FIELDS)
        return fields

    def _wanted(self, key: str) -> bool:
        return key in self._exact or (bool(self._prefix_tuple) and key.startswith(self._prefix_tuple))

    def _plan(self, key: str) -> int:
        """What to do with the attribute ``key``: content is redacted as ``fields`` says, identifiers
        get pseudonyms, the SDK's own ids are left alone, and everything else is redacted."""
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        if key in STRUCTURAL_ATTRIBUTES:
            plan = _SKIP
        elif key in IDENTIFIER_ATTRIBUTES or key.startswith(IDENTIFIER_PREFIXES):
            plan = _PSEUDONYM
        elif key in CONTENT_ATTRIBUTES or key.startswith(CONTENT_PREFIXES):
            plan = _SCAN if self._wanted(key) else _SKIP
        else:
            plan = _SCAN
        if len(self._plans) < _MOST_PLANS:
            self._plans[key] = plan
        return plan

    def _redact_attributes(self, attributes: _Attributes) -> dict[str, AttributeValue] | None:
        """The attributes with what needs redaction redacted; None when nothing does."""
        changed: dict[str, AttributeValue] = {}
        for key, value in attributes.items():
            if not isinstance(value, (str, tuple, list)):
                continue  # numbers and flags
            plan = self._plan(key)
            if plan != _SKIP:
                redacted = self.redact_value(value, plan == _PSEUDONYM)
                if redacted != value:
                    changed[key] = redacted
        return {**attributes, **changed} if changed else None

    def redact_span(self, span: ReadableSpan) -> ReadableSpan:
        """A redacted copy of ``span``, or ``span`` itself when nothing in it needed redaction."""
        if not self.enabled or not self._rules:
            return span
        attributes = self._redact_attributes(span.attributes or {})
        name = self.redact_text(span.name)
        events, events_changed = self._redact_events(span.events)
        links, links_changed = self._redact_links(span.links)
        status = span.status
        if self._status and status.description:
            description = self.redact_text(status.description)
            if description != status.description:
                status = Status(status.status_code, description)
        unchanged = attributes is None and name == span.name and status is span.status
        if unchanged and not events_changed and not links_changed:
            return span
        return copy_span(
            span,
            name=name,
            attributes=attributes,
            events=events if events_changed else None,
            links=links if links_changed else None,
            status=status,
        )

    def _redact_events(self, events: Sequence[Event]) -> tuple[Sequence[Event], bool]:
        changed = False
        result: list[Event] = []
        for event in events:
            attributes = event.attributes or {}
            # Content in events is redacted as ``fields`` says; their other attributes always are.
            if event.name == sc.EXCEPTION_EVENT:
                content: Iterable[str] = (sc.EXCEPTION_MESSAGE, sc.EXCEPTION_STACKTRACE)
                wanted = self._exceptions
            elif event.name.startswith(sc.GEN_AI_EVENT_PREFIX):
                content, wanted = attributes.keys(), self._genai_events
            else:
                content, wanted = (), True
            skipped = () if wanted else set(content)
            new_attributes = {
                key: value
                if key in skipped or not isinstance(value, (str, tuple, list))
                else self.redact_value(value)
                for key, value in attributes.items()
            }
            name = self.redact_text(event.name)
            if name != event.name or new_attributes != dict(attributes):
                changed = True
                result.append(Event(name, new_attributes, event.timestamp))
            else:
                result.append(event)
        return (result if changed else events), changed

    def _redact_links(self, links: Sequence[Link]) -> tuple[Sequence[Link], bool]:
        changed = False
        result: list[Link] = []
        for link in links:
            attributes = self._redact_attributes(link.attributes or {})
            if attributes is None:
                result.append(link)
            else:
                changed = True
                result.append(Link(link.context, attributes))
        return (result if changed else links), changed


def redactor_for(pii: Any, *, strict: bool, max_chars: int = DEFAULT_MAX_SCAN_CHARS) -> Redactor | None:
    """The redactor for a ``pii=`` argument: None (off), True (the full default), or a PiiConfig."""
    if pii is None or pii is False:
        return None
    if pii is True:
        return Redactor(PiiConfig(), strict=strict, max_chars=max_chars)
    return Redactor(pii, strict=strict, max_chars=max_chars)
