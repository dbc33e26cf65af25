"""The text engine of PII redaction: the rules a :class:`PiiConfig` makes, and text, attribute
values and JSON redacted by them.

A match is replaced by a label, a keyed-hash pseudonym or nothing, as the mode says; identifiers get
a pseudonym in every mode. Values are capped before they are scanned, and a cheap pre-check picks the
rules worth running on a text. JSON values are redacted key by key and value by value and stay
valid JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.util.types import AttributeValue

from sentrial import _pii_patterns as patterns
from sentrial._pii_config import PiiBuiltinPatterns, PiiConfig
from sentrial._pii_secret import hash_secret

logger = logging.getLogger("sentrial")

DEFAULT_MAX_SCAN_CHARS = 64 * 1024
_SCAN_MARKER = "...[truncated by sentrial before redaction: {total} chars in all]"


@dataclass(frozen=True)
class _Rule:
    detector: patterns.Detector
    replace: Callable[[re.Match[str]], str]  # in the configured mode
    pseudonym: Callable[[re.Match[str]], str]  # for identifiers, in every mode
    builtin: bool = True


class TextRedactor:
    """Redacts text and attribute values according to one :class:`PiiConfig` (the spans are
    :class:`sentrial.redact.Redactor`'s).

    With ``strict`` an invalid mode, secret or custom pattern raises ValueError; otherwise it is
    logged and skipped.
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
        chosen = [  # a table of data: alike in shape only to other (value, name) tables
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
