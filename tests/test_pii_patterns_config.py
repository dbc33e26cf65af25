"""PII settings: custom patterns, bad patterns, fields and modes, in either spelling and on spans,
and the configuration read from the server, whole, partial or of the wrong type."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext
from pii_support import FULL, hashed

from sentrial import semconv as sc
from sentrial._pii_remote import config_from_server
from sentrial.redact import (
    PiiBuiltinPatterns,
    PiiConfig,
    PiiCustomPattern,
    Redactor,
    normalise_field,
)


# --- custom patterns, fields and modes ------------------------------------------------------------
def test_custom_patterns_use_their_label_as_given_in_every_mode() -> None:
    customs = [
        PiiCustomPattern(label="EMPLOYEE_ID", pattern=r"EMP-\d{6}"),
        PiiCustomPattern(label="api_key", pattern=r"key-[a-z0-9]{12}"),
    ]
    text = "EMP-123456 used key-abcdef012345 and wrote alice@example.com"
    label = Redactor(PiiConfig(custom_patterns=customs), strict=True)
    assert label.redact_text(text) == "[EMPLOYEE_ID] used [api_key] and wrote [EMAIL]"
    hashing = Redactor(PiiConfig(mode="hash", custom_patterns=customs), strict=True)
    assert hashing.redact_text(text) == (
        f"{hashed('EMP-123456')} used {hashed('key-abcdef012345')} and wrote {hashed('alice@example.com')}"
    )
    removing = Redactor(PiiConfig(mode="remove", custom_patterns=customs), strict=True)
    assert removing.redact_text(text) == " used  and wrote "


def test_custom_patterns_work_with_every_builtin_off() -> None:
    off = PiiBuiltinPatterns(emails=False, phones=False, ssns=False, credit_cards=False, ip_addresses=False)
    config = PiiConfig(
        builtin_patterns=off, custom_patterns=[PiiCustomPattern(label="TICKET", pattern=r"TCK\d+")]
    )
    redactor = Redactor(config, strict=True)
    assert redactor.redact_text("TCK42 from alice@example.com") == "[TICKET] from alice@example.com"
    # A custom pattern also looks through JSON escapes (here \u002d for "-").
    config = PiiConfig(
        builtin_patterns=off, custom_patterns=[PiiCustomPattern(label="EMPLOYEE_ID", pattern=r"EMP-\d{6}")]
    )
    escaped = '{"id": "EMP\\u002d123456"}'
    assert json.loads(str(Redactor(config, strict=True).redact_value(escaped))) == {"id": "[EMPLOYEE_ID]"}


@pytest.mark.parametrize("pattern", ["(unclosed", "[a-", "*oops", "a*", "x?"])
def test_a_bad_custom_pattern_raises_when_strict_naming_it(pattern: str) -> None:
    config = PiiConfig(custom_patterns=[PiiCustomPattern(label="BAD", pattern=pattern)])
    with pytest.raises(ValueError, match=re.escape(repr(pattern))):
        Redactor(config, strict=True)


def test_a_bad_custom_pattern_is_logged_and_skipped_when_not_strict(caplog: pytest.LogCaptureFixture) -> None:
    customs = [
        PiiCustomPattern(label="BAD", pattern="(unclosed"),
        PiiCustomPattern(label="TICKET", pattern=r"TCK\d+"),
    ]
    with caplog.at_level(logging.ERROR, logger="sentrial"):
        redactor = Redactor(PiiConfig(custom_patterns=customs), strict=False)
    errors = [r for r in caplog.records if r.name == "sentrial" and r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "(unclosed" in errors[0].getMessage()
    assert redactor.redact_text("TCK7 alice@example.com") == "[TICKET] [EMAIL]"


def test_unknown_fields_raise_when_strict_and_redact_every_field_otherwise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ValueError, match="toolInputs"):
        Redactor(PiiConfig(fields=["toolInputs"]), strict=True)
    with caplog.at_level(logging.ERROR, logger="sentrial"):
        redactor = Redactor(PiiConfig(fields=["toolInputs", "tool_output"]), strict=False)
    assert any("toolInputs" in r.getMessage() for r in caplog.records if r.name == "sentrial")
    span = _span(
        {
            sc.GEN_AI_TOOL_CALL_ARGUMENTS: '{"q": "alice@example.com"}',
            sc.GEN_AI_TOOL_CALL_RESULT: '{"a": "bob@example.com"}',
        }
    )
    attributes = redactor.redact_span(span).attributes or {}
    assert json.loads(str(attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS])) == {
        "q": "[EMAIL]"
    }  # fail closed: a typo
    assert json.loads(str(attributes[sc.GEN_AI_TOOL_CALL_RESULT])) == {"a": "[EMAIL]"}


def test_unknown_mode_raises_when_strict_and_falls_back_to_labels(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match="'mask'"):
        Redactor(PiiConfig(mode="mask"), strict=True)  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="sentrial"):
        redactor = Redactor(PiiConfig(mode="mask"), strict=False)  # type: ignore[arg-type]
    assert any("'mask'" in r.getMessage() for r in caplog.records if r.name == "sentrial")
    assert redactor.redact_text("alice@example.com") == "[EMAIL]"


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("toolInput", "tool_input"),
        ("tool_input", "tool_input"),
        ("userInput", "user_input"),
        ("assistantOutput", "assistant_output"),
        ("toolOutput", "tool_output"),
        ("toolError", "tool_error"),
        ("failureReason", "failure_reason"),
        ("errorMessage", "error_message"),
        ("stackTrace", "stack_trace"),
        ("metadata", "metadata"),
        ("exceptions", "exceptions"),
        (" reasoning ", "reasoning"),
    ],
)
def test_field_names_in_either_spelling(name: str, field: str) -> None:
    assert normalise_field(name) == field


def test_camel_case_fields_choose_what_a_span_redacts() -> None:
    redactor = Redactor(PiiConfig(fields=["toolInput", "reasoning"]), strict=True)
    span = _span(
        {
            sc.GEN_AI_TOOL_CALL_ARGUMENTS: '{"to": "alice@example.com"}',
            sc.GEN_AI_TOOL_CALL_RESULT: '{"from": "bob@example.com"}',
            sc.REASONING: "asked carol@example.com",
        }
    )
    copy = redactor.redact_span(span)
    assert copy is not span
    attributes = copy.attributes or {}
    assert json.loads(str(attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS])) == {"to": "[EMAIL]"}
    assert attributes[sc.GEN_AI_TOOL_CALL_RESULT] == '{"from": "bob@example.com"}'
    assert attributes[sc.REASONING] == "asked [EMAIL]"
    assert (span.attributes or {})[
        sc.GEN_AI_TOOL_CALL_ARGUMENTS
    ] == '{"to": "alice@example.com"}'  # the original is untouched


def test_a_span_without_pii_is_handed_on_as_it_is() -> None:
    span = _span(
        {sc.GEN_AI_TOOL_CALL_ARGUMENTS: '{"q": "weather in Paris"}', sc.REASONING: "order ORD-2024-000123"}
    )
    assert FULL.redact_span(span) is span


def test_the_copy_keeps_the_dropped_counts() -> None:
    limits = SpanLimits(max_attributes=2, max_events=1, max_links=1)
    link = Link(SpanContext(trace_id=1, span_id=2, is_remote=True))
    attributes = {"a": "1", "b": "2", sc.REASONING: "mail alice@example.com"}
    span = _span(attributes, limits=limits, events=["first", "second"], links=[link, link])
    assert (span.dropped_attributes, span.dropped_events, span.dropped_links) == (1, 1, 1)
    copy = FULL.redact_span(span)
    assert copy is not span
    assert (copy.dropped_attributes, copy.dropped_events, copy.dropped_links) == (1, 1, 1)
    assert dict(copy.attributes or {}) == {"b": "2", sc.REASONING: "mail [EMAIL]"}
    assert [event.name for event in copy.events] == ["second"]
    assert len(copy.links) == 1
    plain = FULL.redact_span(_span({sc.REASONING: "mail alice@example.com"}, events=["only"]))
    assert (plain.dropped_attributes, plain.dropped_events, plain.dropped_links) == (0, 0, 0)
    assert dict(plain.attributes or {}) == {sc.REASONING: "mail [EMAIL]"}
    assert [event.name for event in plain.events] == ["only"]
    with pytest.raises(TypeError):
        plain.attributes[sc.REASONING] = "changed"  # type: ignore[index]


def _span(
    attributes: dict[str, Any],
    limits: SpanLimits | None = None,
    events: Sequence[str] = (),
    links: Sequence[Link] = (),
) -> ReadableSpan:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(span_limits=limits)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    live = provider.get_tracer("test").start_span("execute_tool t", attributes=attributes, links=links)
    for name in events:
        live.add_event(name)
    live.end()
    provider.shutdown()
    (span,) = exporter.get_finished_spans()
    return span


FULL_SERVER_CONFIG = {
    "enabled": True,
    "mode": "hash",
    "fields": ["userInput", "toolInput", "toolOutput", "stackTrace"],
    "enhancedDetection": True,
    "builtinPatterns": {
        "emails": True,
        "phones": False,
        "ssns": True,
        "creditCards": False,
        "ipAddresses": False,
    },
    "customPatterns": [
        {"pattern": r"ACME-\d{4}", "label": "CUSTOMER_ID"},
        {"pattern": r"EMP-\d{6}", "label": "employee"},
    ],
}


def test_config_from_server_reads_a_full_payload() -> None:
    config = config_from_server({"config": FULL_SERVER_CONFIG})
    assert config == PiiConfig(
        enabled=True,
        mode="hash",
        fields=["userInput", "toolInput", "toolOutput", "stackTrace"],
        enhanced_detection=True,
        builtin_patterns=PiiBuiltinPatterns(
            emails=True, phones=False, ssns=True, credit_cards=False, ip_addresses=False
        ),
        custom_patterns=[
            PiiCustomPattern(label="CUSTOMER_ID", pattern=r"ACME-\d{4}"),
            PiiCustomPattern(label="employee", pattern=r"EMP-\d{6}"),
        ],
    )
    redactor = Redactor(config, strict=True)
    assert redactor.redact_text("ACME-1234 555-123-4567 alice@example.com") == (
        f"{hashed('ACME-1234')} 555-123-4567 {hashed('alice@example.com')}"
    )


@pytest.mark.parametrize(
    "payload", [{}, {"config": None}, {"config": "on"}, {"config": []}, None, [], "x", 3]
)
def test_config_from_server_without_a_config(payload: Any) -> None:
    assert config_from_server(payload) is None


def test_config_from_server_fills_in_what_is_missing() -> None:
    assert config_from_server({"config": {}}) == PiiConfig()
    config = config_from_server({"config": {"builtinPatterns": {"phones": False}, "fields": None}})
    assert config == PiiConfig(builtin_patterns=PiiBuiltinPatterns(phones=False))
    config = config_from_server(
        {"config": {"enabled": False, "builtinPatterns": None, "customPatterns": None}}
    )
    assert config == PiiConfig(enabled=False)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"fields": ["userInputs", "toolInput"]}, "'userInputs'"),  # a typo
        ({"fields": ["toolInput", "newerField"]}, "'newerField'"),  # a name this SDK does not know
        ({"fields": [1, "toolInput"]}, "holds 1"),
        ({"fields": "all"}, "fields is not a list"),
        ({"mode": "scramble"}, "'scramble'"),
        ({"enabled": "no"}, "enabled"),
        ({"enhancedDetection": 1}, "enhancedDetection"),
        ({"builtinPatterns": {"emails": "off"}}, "builtinPatterns.emails"),
        ({"builtinPatterns": {"passports": True}}, "'passports'"),
        ({"customPatterns": ["ACME-\\d{4}"]}, "customPatterns holds"),
        ({"customPatterns": [{"label": "NO_PATTERN"}]}, "customPatterns holds"),
        ({"customPatterns": [{"pattern": r"EMP-\d{6}", "label": 7}]}, "customPatterns holds"),
        ({"customPatterns": [{"pattern": "(", "label": "BROKEN"}]}, "does not compile"),
        ({"customPatterns": [{"pattern": "x*", "label": "EMPTY"}]}, "matches empty text"),
    ],
)
def test_a_server_config_that_cannot_be_applied_whole_gives_the_full_default(
    config: dict[str, Any], named: str, caplog: pytest.LogCaptureFixture
) -> None:
    payload = {"config": {"enabled": True, "mode": "remove", "fields": ["toolInput"], **config}}
    with caplog.at_level(logging.WARNING, logger="sentrial"):
        assert config_from_server(payload) == PiiConfig()
    (record,) = [r for r in caplog.records if r.name == "sentrial"]
    assert named in record.getMessage()
    assert "full default redaction" in record.getMessage()


def test_a_server_config_names_every_part_it_could_not_apply(caplog: pytest.LogCaptureFixture) -> None:
    payload = {"config": {"mode": "scramble", "fields": ["nonsense"], "customPatterns": [{"pattern": "("}]}}
    with caplog.at_level(logging.WARNING, logger="sentrial"):
        assert config_from_server(payload) == PiiConfig()
    message = " ".join(r.getMessage() for r in caplog.records if r.name == "sentrial")
    assert "'scramble'" in message and "'nonsense'" in message and "'('" in message


@pytest.mark.parametrize(
    "config",
    [{"builtinPatterns": ["emails"]}, {"builtinPatterns": "all"}, {"customPatterns": 5}],
)
def test_config_from_server_survives_parts_of_the_wrong_type(config: dict[str, Any]) -> None:
    assert config_from_server({"config": config}) == PiiConfig()
