"""PII redaction: the reference's ``PiiConfig`` types and the engine that redacts a copy of each span.

Every string of a span is scanned: its name, every attribute (strings and string arrays), its
events' names and attributes, its links' attributes and its status description. ``fields`` narrows
which of the attributes that carry content (the SDK's own, the OTel GenAI ones, OpenInference's and
Traceloop's) are redacted; every other attribute is, always. Identifiers (a user id, a conversation
id, an agent name) get a stable pseudonym instead of a shared label, so sessions still group by
them. JSON values are redacted key by key and value by value and stay valid JSON. Values are capped
before they are scanned, so a huge payload costs milliseconds. A span with nothing to redact is
handed on as it is; otherwise the live span is never touched and a redacted copy goes on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, Status
from opentelemetry.util.types import AttributeValue

from sentrial import _pii_patterns as patterns
from sentrial import semconv as sc
from sentrial._pii_secret import hash_secret
from sentrial_otel_exporter.spans import copy_span

logger = logging.getLogger("sentrial")

PiiMode = Literal["label", "hash", "remove"]
DEFAULT_MAX_SCAN_CHARS = 64 * 1024
_SCAN_MARKER = "...[truncated by sentrial before redaction: {total} chars in all]"


@dataclass
class PiiBuiltinPatterns:
    """Which built-in kinds of PII are detected."""

    emails: bool = True
    phones: bool = True
    ssns: bool = True
    credit_cards: bool = True
    ip_addresses: bool = True


@dataclass
class PiiCustomPattern:
    """A pattern of your own: matches are replaced by ``[label]`` in label mode."""

    label: str
    pattern: str


@dataclass
class PiiConfig:
    """What to redact, where, and how.

    ``mode``: ``"label"`` replaces a match by ``[EMAIL]`` and the like, ``"hash"`` by ``[PII:`` and the
    first 16 hex digits of its HMAC-SHA256 ``]``, ``"remove"`` by nothing. The HMAC's key is
    ``hash_secret`` when given, else ``SENTRIAL_PII_HASH_SECRET``, else a secret made for this
    installation (see ``sentrial._pii_secret``): the same value hashes the same way wherever the key is
    the same, and a list of guesses cannot be hashed to find it. ``fields`` names what to scan
    (``user_input``, ``assistant_output``, ``tool_input``, ``tool_output``, ``tool_error``,
    ``metadata``, ``reasoning``, ``alternatives``, ``failure_reason``, ``error_message``,
    ``stack_trace``, ``exceptions``; camelCase works too); None means all of them, and so does a
    list with a name that is not one of them (it raises instead with ``fail_silently=False``).
    ``enhanced_detection`` adds IBANs and well-known credential formats.
    """

    enabled: bool = True
    mode: PiiMode = "label"
    fields: list[str] | None = None
    enhanced_detection: bool = False
    builtin_patterns: PiiBuiltinPatterns = field(default_factory=PiiBuiltinPatterns)
    custom_patterns: list[PiiCustomPattern] = field(default_factory=list)
    hash_secret: str | None = field(default=None, repr=False)


# Each field and the attributes (exact names, then name prefixes) that carry it.
_FIELD_ATTRIBUTES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "user_input": (
        (sc.INPUT, sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS, sc.OPENINFERENCE_INPUT_VALUE,
         sc.TRACELOOP_ENTITY_INPUT),
        (sc.OPENINFERENCE_INPUT_MESSAGES_PREFIX, sc.LEGACY_PROMPT_PREFIX),
    ),
    "assistant_output": (
        (sc.OUTPUT, sc.GEN_AI_OUTPUT_MESSAGES, sc.OPENINFERENCE_OUTPUT_VALUE, sc.TRACELOOP_ENTITY_OUTPUT),
        (sc.OPENINFERENCE_OUTPUT_MESSAGES_PREFIX, sc.LEGACY_COMPLETION_PREFIX),
    ),
    "tool_input": ((sc.TOOL_INPUT, sc.GEN_AI_TOOL_CALL_ARGUMENTS, sc.OPENINFERENCE_TOOL_PARAMETERS), ()),
    "tool_output": ((sc.TOOL_OUTPUT, sc.GEN_AI_TOOL_CALL_RESULT), ()),
    "tool_error": ((sc.TOOL_ERROR,), ()),
    "metadata": ((sc.METADATA, sc.OPENINFERENCE_METADATA), ()),
    "reasoning": ((sc.REASONING, sc.DECISION_REASONING), ()),
    "alternatives": ((sc.DECISION_ALTERNATIVES,), ()),
    "failure_reason": ((sc.FAILURE_REASON,), ()),
    "error_message": ((sc.ERROR_MESSAGE,), ()),
    "stack_trace": ((sc.ERROR_STACK_TRACE,), ()),
    "exceptions": ((), ()),  # the exception events; handled with the events
}  # fmt: skip
ALL_FIELDS = tuple(_FIELD_ATTRIBUTES)
_CONTENT_ATTRIBUTES = frozenset(name for exact, _ in _FIELD_ATTRIBUTES.values() for name in exact)
_CONTENT_PREFIXES = tuple(prefix for _, prefixes in _FIELD_ATTRIBUTES.values() for prefix in prefixes)
# Identifiers that sessions are grouped by: PII in them becomes a pseudonym, the same for the same
# value, rather than a label that every user's id would share.
_IDENTIFIER_ATTRIBUTES = frozenset(
    {
        sc.USER_ID,
        sc.GEN_AI_CONVERSATION_ID,
        sc.GEN_AI_AGENT_NAME,
        sc.EVENT_ID,
        sc.OPENINFERENCE_USER_ID,
        sc.OPENINFERENCE_SESSION_ID,
    }
)
_IDENTIFIER_PREFIXES = (sc.TRACELOOP_ASSOCIATION_PREFIX,)
# The SDK's own ids and kinds, which the exporter routes by and the API addresses sessions by.
_STRUCTURAL_ATTRIBUTES = frozenset(
    {sc.SPAN_KIND, sc.SESSION_ID, sc.SESSION_PARENT_ID, sc.LINKED_TRACE_ID, sc.LINKED_SPAN_ID}
)
_Attributes = Mapping[str, AttributeValue]
_SKIP, _SCAN, _PSEUDONYM = range(3)  # what redact_span does with an attribute
_MOST_PLANS = 10_000  # attribute names whose plan is remembered (names with indexes vary)
_ERROR_FIELDS = frozenset({"tool_error", "failure_reason", "error_message", "exceptions"})
_CAMEL = {re.sub(r"_(\w)", lambda m: m.group(1).upper(), name).lower(): name for name in ALL_FIELDS}


def normalise_field(name: str) -> str:
    """The snake_case field for a reference name in either spelling; ValueError when unknown."""
    key = name.strip()
    if key in _FIELD_ATTRIBUTES:
        return key
    snake = _CAMEL.get(key.lower().replace("_", ""))
    if snake is None:
        raise ValueError(f"unknown PII field {name!r}; known fields: {', '.join(ALL_FIELDS)}")
    return snake


@dataclass(frozen=True)
class _Rule:
    detector: patterns.Detector
    replace: Callable[[re.Match[str]], str]  # in the configured mode
    pseudonym: Callable[[re.Match[str]], str]  # for identifiers, in every mode
    builtin: bool = True


class Redactor:
    """Redacts text, attribute values and spans according to one :class:`PiiConfig`.

    With ``strict`` an invalid custom pattern or field raises ValueError; otherwise it is logged
    and skipped.
    """

    def __init__(self, config: PiiConfig, *, strict: bool = False, max_chars: int = DEFAULT_MAX_SCAN_CHARS):
        if not isinstance(config, PiiConfig):
            raise TypeError(f"pii must be a bool or a PiiConfig, got {type(config).__name__}")
        if config.mode not in ("label", "hash", "remove"):
            self._complain(strict, f"PII mode must be 'label', 'hash' or 'remove', got {config.mode!r}")
        self.enabled = bool(config.enabled)
        self._mode = config.mode if config.mode in ("label", "hash", "remove") else "label"
        self._secret = self._checked_secret(config.hash_secret, strict)
        self._keyed: hmac.HMAC | None = None  # made when first needed: it may read the secret's file
        if self._mode == "hash":
            self._pseudonym("")  # hash mode needs it: any problem with the secret is said now
        self._max_chars = max_chars
        self._rules = self._build_rules(config, strict)
        self._secrets = any(rule.detector is patterns.SECRET for rule in self._rules)
        # What _candidates works from: the built-in rules (which come first) with the index of their
        # pre-check among the distinct ones, and the custom rules.
        self._builtin_needs: list[re.Pattern[str]] = []
        self._builtin_plan: list[tuple[_Rule, int]] = []
        self._custom_rules = [rule for rule in self._rules if not rule.builtin]
        for rule in self._rules:
            if rule.builtin:
                needs = rule.detector.needs
                if needs is not None and needs not in self._builtin_needs:
                    self._builtin_needs.append(needs)
                self._builtin_plan.append((rule, -1 if needs is None else self._builtin_needs.index(needs)))
        fields = self._build_fields(config.fields, strict)
        self._exact: dict[str, str] = {}
        self._prefixes: list[str] = []
        for name in fields:
            exact, prefixes = _FIELD_ATTRIBUTES[name]
            self._exact.update(dict.fromkeys(exact, name))
            self._prefixes.extend(prefixes)
        self._plans: dict[str, int] = {}  # attribute name -> _SKIP, _SCAN or _PSEUDONYM
        self._prefix_tuple = tuple(self._prefixes)
        self._exceptions = "exceptions" in fields
        self._genai_events = "user_input" in fields or "assistant_output" in fields
        self._status = bool(_ERROR_FIELDS & set(fields))

    @staticmethod
    def _complain(strict: bool, message: str) -> None:
        if strict:
            raise ValueError(message)
        logger.error("sentrial: %s; ignored", message)

    def _checked_secret(self, secret: Any, strict: bool) -> str | None:
        if secret is not None and (not isinstance(secret, str) or not secret):
            self._complain(strict, "PiiConfig.hash_secret must be a non-empty string")
            return None
        return secret

    def _pseudonym(self, text: str) -> str:
        """16 hex digits of the keyed hash of ``text``: the same for the same text and key."""
        keyed = self._keyed
        if keyed is None:
            keyed = self._keyed = hmac.new(hash_secret(self._secret), digestmod=hashlib.sha256)
        digest = keyed.copy()
        digest.update(text.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()[:16]

    def _build_rules(self, config: PiiConfig, strict: bool) -> list[_Rule]:
        builtins = config.builtin_patterns or PiiBuiltinPatterns()
        chosen = [
            (builtins.emails, patterns.EMAIL),
            (builtins.credit_cards, patterns.CREDIT_CARD),
            (builtins.ssns, patterns.SSN),
            (builtins.phones, patterns.PHONE),
            (builtins.ip_addresses, patterns.IPV4_ADDRESS),
            (builtins.ip_addresses, patterns.IPV6_ADDRESS),
            (config.enhanced_detection, patterns.IBAN),
            (config.enhanced_detection, patterns.SECRET),
        ]
        rules = [self._rule(detector) for wanted, detector in chosen if wanted]
        for custom in config.custom_patterns or []:
            try:
                compiled = re.compile(custom.pattern)
            except (re.error, TypeError) as exc:
                self._complain(
                    strict, f"invalid custom PII pattern {custom.pattern!r} ({custom.label}): {exc}"
                )
                continue
            if compiled.search(""):
                self._complain(strict, f"custom PII pattern {custom.pattern!r} matches empty text")
                continue
            detector = patterns.Detector(custom.label, compiled, needs=compiled)
            rules.append(self._rule(detector, builtin=False))
        return rules

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

    # --- text -----------------------------------------------------------------------------------
    def _rule(self, detector: patterns.Detector, builtin: bool = True) -> _Rule:
        """The rule of ``detector``, with the functions ``re.sub`` calls for each of its matches."""
        mode, label, pseudonym = self._mode, detector.label, self._pseudonym

        def replace(match: re.Match[str]) -> str:
            if not detector.accepts(match):
                return match.group()
            if mode == "remove":
                return ""
            if mode == "hash":
                return f"[PII:{pseudonym(match.group())}]"
            return f"[{label}]"

        def replace_identifier(match: re.Match[str]) -> str:
            if not detector.accepts(match):
                return match.group()
            return f"[{label}:{pseudonym(match.group())}]"

        return _Rule(detector, replace, replace_identifier, builtin)

    def _candidates(self, text: str, escaped: bool = False) -> list[_Rule]:
        """The rules whose pre-check finds something in ``text``.

        ``escaped`` says ``text`` is JSON with escapes, which a custom pattern (whose pre-check is the
        pattern itself) could fail to see through: those rules then always count.
        """
        rules: list[_Rule] = []
        if self._builtin_plan and patterns.may_hold_builtin(text, self._secrets):
            # Each distinct pre-check once; the last entry stands for "no pre-check".
            hits = [needs.search(text) is not None for needs in self._builtin_needs]
            hits.append(True)
            rules = [rule for rule, index in self._builtin_plan if hits[index]]
        for rule in self._custom_rules:
            needs = rule.detector.needs
            if (
                needs is None
                or (escaped and needs is rule.detector.pattern)
                or needs.search(text) is not None
            ):
                rules.append(rule)
        return rules

    def redact_text(self, text: str, pseudonymous: bool = False) -> str:
        """``text`` with every detected piece of PII replaced (capped first when too long); with
        ``pseudonymous``, by a pseudonym (``[EMAIL:`` and 16 hex digits ``]``) whatever the mode."""
        marker = ""
        if len(text) > self._max_chars:
            marker = _SCAN_MARKER.format(total=len(text))
            text = text[: self._max_chars]
        for rule in self._candidates(text):
            text = rule.detector.pattern.sub(rule.pseudonym if pseudonymous else rule.replace, text)
        return text + marker

    def redact_value(self, value: AttributeValue, pseudonymous: bool = False) -> AttributeValue:
        """An attribute value redacted: JSON text key by key and value by value, sequences item by
        item (``pseudonymous`` as for :meth:`redact_text`)."""
        if isinstance(value, str):
            if value[:1] in ("{", "[") and len(value) <= self._max_chars:
                escaped = "\\" in value
                candidates = self._candidates(value, escaped=escaped)
                if not candidates and "\\u" not in value:  # \u escapes can hide any character
                    return value  # nothing in the whole text could be PII: no need to parse it
                if (
                    not escaped
                    and not _finds_any(value, candidates)
                    and not _numbers_may_hold(value, candidates)
                ):
                    return value  # no PII in the text, so none in its strings and numbers either
                try:
                    decoded = json.loads(value)
                except ValueError:
                    return self.redact_text(value, pseudonymous)
                redacted = self._redact_json(decoded, pseudonymous)
                return value if redacted == decoded else json.dumps(redacted, ensure_ascii=False)
            return self.redact_text(value, pseudonymous)
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
            return tuple(
                self.redact_text(item, pseudonymous) if isinstance(item, str) else item for item in value
            )
        return value

    def _redact_json(self, value: Any, pseudonymous: bool = False, ssn_key: bool = False) -> Any:
        """A decoded JSON value redacted (keys too); ``ssn_key``: it is (or is in a list) under a key
        naming an SSN; ``pseudonymous`` as for :meth:`redact_text`."""
        if isinstance(value, str):
            if ssn_key and len(value) == 9 and value.isdigit():
                return self._redact_ssn_digits(value, value, pseudonymous)
            return self.redact_text(value, pseudonymous)
        if isinstance(value, dict):
            redacted: dict[Any, Any] = {}
            for key, item in value.items():
                under_ssn = isinstance(key, str) and patterns.key_names_ssn(key)
                if isinstance(key, str):
                    key = _distinct_key(self.redact_text(key, pseudonymous), redacted)
                redacted[key] = self._redact_json(item, pseudonymous, under_ssn)
            return redacted
        if isinstance(value, list):
            return [self._redact_json(item, pseudonymous, ssn_key) for item in value]
        if isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer() and 1e12 <= abs(value) < 1e20:
            # a card number written as a float (4111111111111111.0, 4.111111111111111e15)
            as_int = self._redact_json(int(value), pseudonymous)
            return value if isinstance(as_int, int) else as_int
        if isinstance(value, int):
            if ssn_key and 0 < value < 1_000_000_000:
                # an SSN stored as a number (leading zeros lost): nine digits only where the key says so
                return self._redact_ssn_digits(f"{value:09d}", value, pseudonymous)
            if abs(value) >= 1_000_000:
                text = str(value)  # a card number stored as a number
                replaced = self.redact_text(text, pseudonymous)
                return value if replaced == text else replaced
        return value

    def _redact_ssn_digits(self, digits: str, value: Any, pseudonymous: bool) -> Any:
        """The SSN rule's replacement of nine digits (written 123-45-6789, as text would hold them,
        so that the hash matches), or ``value`` when the SSN rule is off or they are no valid SSN."""
        for rule in self._rules:
            if rule.detector is patterns.SSN:
                match = patterns.SSN.pattern.fullmatch(f"{digits[:3]}-{digits[3:5]}-{digits[5:]}")
                if match is not None and rule.detector.accepts(match):
                    return rule.pseudonym(match) if pseudonymous else rule.replace(match)
        return value

    # --- spans ----------------------------------------------------------------------------------
    def _wanted(self, key: str) -> bool:
        return key in self._exact or (bool(self._prefix_tuple) and key.startswith(self._prefix_tuple))

    def _plan(self, key: str) -> int:
        """What to do with the attribute ``key``: content is redacted as ``fields`` says, identifiers
        get pseudonyms, the SDK's own ids are left alone, and everything else is redacted."""
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        if key in _STRUCTURAL_ATTRIBUTES:
            plan = _SKIP
        elif key in _IDENTIFIER_ATTRIBUTES or key.startswith(_IDENTIFIER_PREFIXES):
            plan = _PSEUDONYM
        elif key in _CONTENT_ATTRIBUTES or key.startswith(_CONTENT_PREFIXES):
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


def _distinct_key(key: str, taken: Mapping[Any, Any]) -> str:
    """``key``, or ``key (2)``, ``key (3)``...: two keys that redact alike must stay two keys."""
    if key not in taken:
        return key
    number = 2
    while f"{key} ({number})" in taken:
        number += 1
    return f"{key} ({number})"


def _finds_any(text: str, rules: Sequence[_Rule]) -> bool:
    """Whether any rule finds PII in ``text``; True for a custom rule without looking.

    Used on JSON text without escapes, where each string and number appears as it is, between
    quotes or JSON delimiters. No built-in pattern matches across a quote, and a quote or delimiter
    next to a match never changes whether it is accepted, so PII in a decoded value is PII found in
    the text. A custom pattern may span quotes: it always counts.
    """
    for rule in rules:
        if not rule.builtin:
            return True
        detector = rule.detector
        for match in detector.pattern.finditer(text):
            if detector.accepts(match):
                return True
    return False


# JSON numbers that the text scan cannot judge (see Redactor._redact_json): a float that may be a
# card number (4111111111111111.0, 4.111111111111111e15: nine digits or more before its "." or "e";
# the class comes first so that the engine tries only those characters), and a key that may name an
# SSN stored as nine bare digits (looked for in the lowered text, far cheaper than a regex).
_LONG_FLOAT = re.compile(r"[.eE](?<=\d{9}[.eE])")


def _numbers_may_hold(text: str, rules: Sequence[_Rule]) -> bool:
    """Whether JSON ``text`` may hold PII in its numbers (or by key) that ``_finds_any`` does not see."""
    for rule in rules:
        if rule.detector is patterns.CREDIT_CARD and _LONG_FLOAT.search(text) is not None:
            return True
        if rule.detector is patterns.SSN:
            lowered = text.lower()
            if "ssn" in lowered or "social" in lowered:
                return True
    return False


def redactor_for(pii: Any, *, strict: bool, max_chars: int = DEFAULT_MAX_SCAN_CHARS) -> Redactor | None:
    """The redactor for a ``pii=`` argument: None (off), True (the full default), or a PiiConfig."""
    if pii is None or pii is False:
        return None
    if pii is True:
        return Redactor(PiiConfig(), strict=strict, max_chars=max_chars)
    return Redactor(pii, strict=strict, max_chars=max_chars)
