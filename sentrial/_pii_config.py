"""PII settings: the reference's ``PiiConfig`` types, its fields and the attributes each one covers.

Which attributes carry content (by field), which hold identifiers that get a pseudonym, and which are
the SDK's own ids that are never redacted: the tables :class:`sentrial.redact.Redactor` plans by.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from sentrial import semconv as sc

PiiMode = Literal["label", "hash", "remove"]


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
FIELD_ATTRIBUTES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
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
ALL_FIELDS = tuple(FIELD_ATTRIBUTES)
CONTENT_ATTRIBUTES = frozenset(name for exact, _ in FIELD_ATTRIBUTES.values() for name in exact)
CONTENT_PREFIXES = tuple(prefix for _, prefixes in FIELD_ATTRIBUTES.values() for prefix in prefixes)
# Identifiers that sessions are grouped by: PII in them becomes a pseudonym, the same for the same
# value, rather than a label that every user's id would share.
IDENTIFIER_ATTRIBUTES = frozenset(
    {
        sc.USER_ID,
        sc.GEN_AI_CONVERSATION_ID,
        sc.GEN_AI_AGENT_NAME,
        sc.EVENT_ID,
        sc.OPENINFERENCE_USER_ID,
        sc.OPENINFERENCE_SESSION_ID,
    }
)
IDENTIFIER_PREFIXES = (sc.TRACELOOP_ASSOCIATION_PREFIX,)
# The SDK's own ids and kinds, which the exporter routes by and the API addresses sessions by
# (and experiment runs: the experiment, its variant, the run and the sessions it names).
STRUCTURAL_ATTRIBUTES = frozenset(
    {
        sc.SPAN_KIND,
        sc.SESSION_ID,
        sc.SESSION_PARENT_ID,
        sc.LINKED_TRACE_ID,
        sc.LINKED_SPAN_ID,
        sc.EXPERIMENT_ID,
        sc.EXPERIMENT_VARIANT,
        sc.EXPERIMENT_TEST_CASE,
        sc.EXPERIMENT_RUN_ID,
        sc.EXPERIMENT_RESULT_SESSION_ID,
    }
)
ERROR_FIELDS = frozenset({"tool_error", "failure_reason", "error_message", "exceptions"})
_CAMEL = {re.sub(r"_(\w)", lambda m: m.group(1).upper(), name).lower(): name for name in ALL_FIELDS}


def normalise_field(name: str) -> str:
    """The snake_case field for a reference name in either spelling; ValueError when unknown."""
    key = name.strip()
    if key in FIELD_ATTRIBUTES:
        return key
    snake = _CAMEL.get(key.lower().replace("_", ""))
    if snake is None:
        raise ValueError(f"unknown PII field {name!r}; known fields: {', '.join(ALL_FIELDS)}")
    return snake
