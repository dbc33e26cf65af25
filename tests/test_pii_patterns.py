"""The built-in PII detectors and the Redactor's handling of text, JSON, sequences and sizes.

Every pattern is run on the corpus in tests/data/pii_corpus.json: each positive must be replaced
exactly (the PII and nothing around it), each negative left alone by all detectors at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import stat
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext

from sentrial import semconv as sc
from sentrial._pii_patterns import is_card_number, key_names_ssn, luhn_valid
from sentrial._pii_remote import config_from_server
from sentrial._pii_secret import hash_secret
from sentrial.redact import (
    DEFAULT_MAX_SCAN_CHARS,
    PiiBuiltinPatterns,
    PiiConfig,
    PiiCustomPattern,
    Redactor,
    normalise_field,
    redactor_for,
)

CORPUS = json.loads((Path(__file__).parent / "data" / "pii_corpus.json").read_text(encoding="utf-8"))
BUILTIN_KINDS = ("EMAIL", "PHONE", "SSN", "CREDIT_CARD", "IP_ADDRESS")
ENHANCED_KINDS = ("IBAN", "SECRET")
SWITCHES = {
    "EMAIL": "emails",
    "PHONE": "phones",
    "SSN": "ssns",
    "CREDIT_CARD": "credit_cards",
    "IP_ADDRESS": "ip_addresses",
}


def _positives() -> list[tuple[str, str, list[str]]]:
    found = []
    for kind, items in CORPUS["positives"].items():
        for item in items:
            pii = item["pii"] if isinstance(item["pii"], list) else [item["pii"]]
            found.append((kind, item["text"], pii))
    return found


POSITIVES = _positives()
NEGATIVES = [(category, text) for category, texts in CORPUS["negatives"].items() for text in texts]
POSITIVE_IDS = [f"{kind}-{text[:40]}" for kind, text, _ in POSITIVES]
NEGATIVE_IDS = [text[:40] for _, text in NEGATIVES]


def replaced(text: str, pii: list[str], by: Any) -> str:
    """``text`` with each PII substring replaced by ``by(substring)``."""
    for piece in pii:
        text = text.replace(piece, by(piece))
    return text


def hashed(piece: str, secret: str | None = None) -> str:
    """Hash mode's replacement of ``piece``: HMAC-SHA256 keyed with ``secret`` (default: the
    installation's), its first 16 hex digits."""
    key = secret.encode() if secret is not None else hash_secret()
    return f"[PII:{hmac.new(key, piece.encode(), hashlib.sha256).hexdigest()[:16]}]"


def everything(**changes: Any) -> Redactor:
    """A redactor with every built-in kind on, enhanced detection included."""
    return Redactor(PiiConfig(enhanced_detection=True, **changes), strict=True)


FULL = everything()


# --- the corpus -------------------------------------------------------------------------------
def test_the_corpus_covers_every_kind_with_exact_substrings() -> None:
    assert set(CORPUS["positives"]) == {*BUILTIN_KINDS, *ENHANCED_KINDS}
    for kind, items in CORPUS["positives"].items():
        assert len(items) >= 12, kind
    for kind, text, pii in POSITIVES:
        for piece in pii:
            assert text.count(piece) == 1, (kind, text, piece)
    assert len(NEGATIVES) >= 100
    assert len({text for _, text in NEGATIVES}) == len(NEGATIVES)


@pytest.mark.parametrize(("kind", "text", "pii"), POSITIVES, ids=POSITIVE_IDS)
def test_each_positive_is_replaced_by_its_label_and_nothing_else(
    kind: str, text: str, pii: list[str]
) -> None:
    assert FULL.redact_text(text) == replaced(text, pii, lambda _: f"[{kind}]")


@pytest.mark.parametrize(("category", "text"), NEGATIVES, ids=NEGATIVE_IDS)
def test_each_negative_is_left_alone_by_every_detector(category: str, text: str) -> None:
    assert FULL.redact_text(text) == text, category


def test_negatives_are_left_alone_in_one_text_and_as_json_values() -> None:
    texts = [text for _, text in NEGATIVES]
    joined = "\n".join(texts)
    assert FULL.redact_text(joined) == joined
    as_json = json.dumps({f"k{i}": text for i, text in enumerate(texts)})
    assert FULL.redact_value(as_json) is as_json


def test_positives_are_found_inside_json_strings_and_the_result_stays_json() -> None:
    document = {f"k{i}": text for i, (_, text, _) in enumerate(POSITIVES)}
    result = json.loads(str(FULL.redact_value(json.dumps(document))))
    for i, (kind, text, pii) in enumerate(POSITIVES):
        assert result[f"k{i}"] == replaced(text, pii, lambda _, kind=kind: f"[{kind}]")


JSON_POSITIVES = [(item["text"], item["redacted"]) for item in CORPUS["json"]["positives"]]
JSON_NEGATIVES = CORPUS["json"]["negatives"]


@pytest.mark.parametrize(("value", "redacted"), JSON_POSITIVES, ids=[text[:40] for text, _ in JSON_POSITIVES])
def test_each_json_positive_is_redacted_by_label_and_stays_json(value: str, redacted: Any) -> None:
    assert json.loads(str(FULL.redact_value(value))) == redacted


@pytest.mark.parametrize("value", JSON_NEGATIVES, ids=[text[:40] for text in JSON_NEGATIVES])
def test_each_json_negative_is_returned_as_it_is(value: str) -> None:
    assert FULL.redact_value(value) is value


def test_an_ssn_stored_as_a_number_hashes_like_the_same_ssn_in_text() -> None:
    redactor = everything(mode="hash")
    assert json.loads(str(redactor.redact_value('{"ssn": 123456789}'))) == {"ssn": hashed("123-45-6789")}
    assert json.loads(str(redactor.redact_value('{"ssn": 1010001}'))) == {"ssn": hashed("001-01-0001")}
    remover = everything(mode="remove")
    assert json.loads(str(remover.redact_value('{"ssn": 123456789, "n": 1}'))) == {"ssn": "", "n": 1}


def test_numbers_by_key_follow_the_ssn_switch() -> None:
    redactor = everything(builtin_patterns=PiiBuiltinPatterns(ssns=False))
    value = '{"ssn": 123456789, "card": 4111111111111111.0}'
    assert json.loads(str(redactor.redact_value(value))) == {"ssn": 123456789, "card": "[CREDIT_CARD]"}


@pytest.mark.parametrize(
    ("key", "names_ssn"),
    [
        ("ssn", True),
        ("SSN", True),
        ("customerSSN", True),
        ("SSNNumber", True),
        ("ssn_last4", True),
        ("social_security_number", True),
        ("socialSecurityNo", True),
        ("class_name", False),
        ("lessons", False),
        ("massNumber", False),
        ("security", False),
    ],
)
def test_which_keys_name_an_ssn(key: str, names_ssn: bool) -> None:
    assert key_names_ssn(key) is names_ssn


def test_hash_mode_replaces_each_positive_by_the_start_of_its_keyed_hash() -> None:
    redactor = everything(mode="hash")
    for _, text, pii in POSITIVES:
        assert redactor.redact_text(text) == replaced(text, pii, hashed), text


def test_remove_mode_deletes_each_positive() -> None:
    redactor = everything(mode="remove")
    for _, text, pii in POSITIVES:
        assert redactor.redact_text(text) == replaced(text, pii, lambda _: ""), text


def test_the_hash_is_sixteen_hex_digits_keyed_stable_and_distinct() -> None:
    redactor = everything(mode="hash")
    first = redactor.redact_text("alice@example.com")
    assert re.fullmatch(r"\[PII:[0-9a-f]{16}\]", first)
    assert first == hashed("alice@example.com")
    # A dictionary of unkeyed hashes finds nothing.
    assert hashlib.sha256(b"alice@example.com").hexdigest()[:6] not in first
    assert redactor.redact_text("alice@example.com") == first
    assert redactor.redact_text("bob@example.com") != first


def test_two_organisations_hash_the_same_value_differently() -> None:
    org_a = everything(mode="hash", hash_secret="secret of org a")
    org_b = everything(mode="hash", hash_secret="secret of org b")
    text = "mail alice@example.com"
    assert org_a.redact_text(text) == f"mail {hashed('alice@example.com', 'secret of org a')}"
    assert org_a.redact_text(text) != org_b.redact_text(text)
    assert everything(mode="hash", hash_secret="secret of org a").redact_text(text) == org_a.redact_text(text)
    assert "secret of org a" not in repr(PiiConfig(mode="hash", hash_secret="secret of org a"))


def test_a_hash_secret_that_is_not_a_string_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match="hash_secret"):
        Redactor(PiiConfig(mode="hash", hash_secret=42), strict=True)  # type: ignore[arg-type]
    redactor = Redactor(PiiConfig(mode="hash", hash_secret=42), strict=False)  # type: ignore[arg-type]
    assert redactor.redact_text("alice@example.com") == hashed("alice@example.com")
    assert "hash_secret" in caplog.text


_HASH_IN_A_NEW_PROCESS = (
    "from sentrial.redact import PiiConfig, Redactor; "
    "print(Redactor(PiiConfig(mode='hash')).redact_text('alice@example.com'))"
)


def _hash_in_a_new_process(config_home: Path, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "SENTRIAL_PII_HASH_SECRET"}
    environment.update(XDG_CONFIG_HOME=str(config_home), **env)
    done = subprocess.run(
        [sys.executable, "-c", _HASH_IN_A_NEW_PROCESS],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_an_installation_keeps_its_secret_and_another_has_its_own(tmp_path: Path) -> None:
    first = _hash_in_a_new_process(tmp_path / "one")
    assert _hash_in_a_new_process(tmp_path / "one") == first  # stable across processes
    assert _hash_in_a_new_process(tmp_path / "two") != first  # another installation
    stored = tmp_path / "one" / "sentrial" / "pii-hash-secret"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert first == hashed("alice@example.com", stored.read_text().strip())
    # The environment's secret wins, and keeps pseudonyms alike across machines.
    shared = _hash_in_a_new_process(tmp_path / "one", SENTRIAL_PII_HASH_SECRET="fleet secret")
    assert shared == _hash_in_a_new_process(tmp_path / "two", SENTRIAL_PII_HASH_SECRET="fleet secret")
    assert shared == hashed("alice@example.com", "fleet secret")


def test_a_config_home_that_cannot_hold_the_secret_still_hashes_with_a_warning(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")  # nothing can be made below a file, whoever runs the test
    done = subprocess.run(
        [sys.executable, "-c", _HASH_IN_A_NEW_PROCESS],
        env={**os.environ, "XDG_CONFIG_HOME": str(not_a_directory)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert re.fullmatch(r"\[PII:[0-9a-f]{16}\]", done.stdout.strip())
    assert "SENTRIAL_PII_HASH_SECRET" in done.stderr


@pytest.mark.parametrize("kind", BUILTIN_KINDS)
def test_each_builtin_switch_turns_its_kind_off_and_only_it(kind: str) -> None:
    redactor = everything(builtin_patterns=PiiBuiltinPatterns(**{SWITCHES[kind]: False}))
    for other, text, pii in POSITIVES:
        if other == kind:
            assert redactor.redact_text(text) == text
        else:
            assert redactor.redact_text(text) == replaced(text, pii, lambda _, o=other: f"[{o}]")


def test_iban_and_secrets_need_enhanced_detection() -> None:
    redactor = Redactor(PiiConfig(), strict=True)
    for kind, text, _ in POSITIVES:
        if kind in ENHANCED_KINDS:
            assert redactor.redact_text(text) == text


def test_no_builtin_kind_at_all_leaves_text_alone() -> None:
    off = PiiBuiltinPatterns(emails=False, phones=False, ssns=False, credit_cards=False, ip_addresses=False)
    redactor = Redactor(PiiConfig(builtin_patterns=off), strict=True)
    for _, text, _ in POSITIVES:
        assert redactor.redact_text(text) == text


def test_luhn_and_card_networks() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert is_card_number("4111 1111 1111 1111")
    assert is_card_number("3782-822463-10005")
    assert not is_card_number("1234567812345670")  # Luhn-valid, but no network starts with 1
    assert not is_card_number("41111111111111111")  # Visa prefix, but 17 digits


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
    config = PiiConfig(builtin_patterns=off, custom_patterns=[PiiCustomPattern("TICKET", r"TCK\d+")])
    redactor = Redactor(config, strict=True)
    assert redactor.redact_text("TCK42 from alice@example.com") == "[TICKET] from alice@example.com"
    # A custom pattern also looks through JSON escapes (here \u002d for "-").
    config = PiiConfig(builtin_patterns=off, custom_patterns=[PiiCustomPattern("EMPLOYEE_ID", r"EMP-\d{6}")])
    escaped = '{"id": "EMP\\u002d123456"}'
    assert json.loads(str(Redactor(config, strict=True).redact_value(escaped))) == {"id": "[EMPLOYEE_ID]"}


@pytest.mark.parametrize("pattern", ["(unclosed", "[a-", "*oops", "a*", "x?"])
def test_a_bad_custom_pattern_raises_when_strict_naming_it(pattern: str) -> None:
    config = PiiConfig(custom_patterns=[PiiCustomPattern("BAD", pattern)])
    with pytest.raises(ValueError, match=re.escape(repr(pattern))):
        Redactor(config, strict=True)


def test_a_bad_custom_pattern_is_logged_and_skipped_when_not_strict(caplog: pytest.LogCaptureFixture) -> None:
    customs = [PiiCustomPattern("BAD", "(unclosed"), PiiCustomPattern("TICKET", r"TCK\d+")]
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
    span = _span({sc.TOOL_INPUT: '{"q": "alice@example.com"}', sc.TOOL_OUTPUT: '{"a": "bob@example.com"}'})
    attributes = redactor.redact_span(span).attributes or {}
    assert json.loads(str(attributes[sc.TOOL_INPUT])) == {"q": "[EMAIL]"}  # fail closed: a typo
    assert json.loads(str(attributes[sc.TOOL_OUTPUT])) == {"a": "[EMAIL]"}


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
            sc.TOOL_INPUT: '{"to": "alice@example.com"}',
            sc.TOOL_OUTPUT: '{"from": "bob@example.com"}',
            sc.REASONING: "asked carol@example.com",
        }
    )
    copy = redactor.redact_span(span)
    assert copy is not span
    attributes = copy.attributes or {}
    assert json.loads(str(attributes[sc.TOOL_INPUT])) == {"to": "[EMAIL]"}
    assert attributes[sc.TOOL_OUTPUT] == '{"from": "bob@example.com"}'
    assert attributes[sc.REASONING] == "asked [EMAIL]"
    assert (span.attributes or {})[
        sc.TOOL_INPUT
    ] == '{"to": "alice@example.com"}'  # the original is untouched


def test_a_span_without_pii_is_handed_on_as_it_is() -> None:
    span = _span({sc.TOOL_INPUT: '{"q": "weather in Paris"}', sc.REASONING: "order ORD-2024-000123"})
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


# --- JSON, sequences and other values ----------------------------------------------------------
def test_json_is_redacted_key_by_key_and_value_by_value() -> None:
    value = json.dumps(
        {
            "user": {"email": "alice@example.com", "phones": ["555-123-4567", "+44 20 7946 0958"]},
            "alice@example.com": "a key that is an address",
            "note": "ssn 123-45-6789, from 192.0.2.1",
            "count": 3,
            "ratio": 0.5,
            "ok": True,
            "none": None,
        }
    )
    result = json.loads(str(FULL.redact_value(value)))
    assert result == {
        "user": {"email": "[EMAIL]", "phones": ["[PHONE]", "[PHONE]"]},
        "[EMAIL]": "a key that is an address",
        "note": "ssn [SSN], from [IP_ADDRESS]",
        "count": 3,
        "ratio": 0.5,
        "ok": True,
        "none": None,
    }


def test_keys_that_redact_alike_stay_distinct_and_the_json_stays_valid() -> None:
    value = json.dumps(
        {
            "alice@example.com": 1,
            "bob@example.com": 2,
            "[EMAIL]": 3,
            "carol@example.com": {"dave@example.com": 4},
        }
    )
    result = json.loads(str(FULL.redact_value(value)))
    assert result == {"[EMAIL]": 1, "[EMAIL] (2)": 2, "[EMAIL] (3)": 3, "[EMAIL] (4)": {"[EMAIL]": 4}}


def test_card_numbers_stored_as_json_numbers_are_redacted_timestamps_are_not() -> None:
    value = json.dumps(
        {"card": 4111111111111111, "amex": 378282246310005, "ts": 1732723200000, "id": 123456789}
    )
    result = json.loads(str(FULL.redact_value(value)))
    assert result == {"card": "[CREDIT_CARD]", "amex": "[CREDIT_CARD]", "ts": 1732723200000, "id": 123456789}


def test_a_phone_number_stored_as_a_json_number_is_not_taken_for_one() -> None:
    # Digits alone cannot tell 15551234567 from an id or a timestamp; phones are found in strings.
    value = json.dumps({"phone": 15551234567, "as_text": "+1 555 123 4567"})
    assert json.loads(str(FULL.redact_value(value))) == {"phone": 15551234567, "as_text": "[PHONE]"}


def test_json_lists_escapes_and_non_ascii_text() -> None:
    result = FULL.redact_value(
        '["alice@example.com", 4111111111111111, {"n": "Zoë \\u003cbob@example.com\\u003e"}]'
    )
    assert json.loads(str(result)) == ["[EMAIL]", "[CREDIT_CARD]", {"n": "Zoë <[EMAIL]>"}]
    assert "Zoë" in str(result)  # not turned into \u escapes


def test_json_without_pii_is_returned_unchanged_with_its_formatting() -> None:
    value = '{"a": 1,   "b": "x",\n "c": [1, 2]}'
    assert FULL.redact_value(value) is value
    value = '{"ts": 1732723200000, "version": "v10.0.19045", "order": "ORD-2024-000123"}'
    assert FULL.redact_value(value) is value


def _decoded_and_redacted(redactor: Redactor, value: str) -> str:
    """What redact_value gives for JSON text when it parses the text every time (no shortcut)."""
    decoded = json.loads(value)
    redacted = redactor._redact_json(decoded)
    return value if redacted == decoded else json.dumps(redacted, ensure_ascii=False)


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_json_redaction_matches_parsing_every_value(separators: tuple[str, str]) -> None:
    texts = [text for _, text, _ in POSITIVES] + [text for _, text in NEGATIVES]
    numbers = [4111111111111111, -4111111111111111, 1732723200000, 15551234567, 378282246310005, 7]
    numbers += [4111111111111111.0, -4111111111111111.0, 1732723200000.5, 1.5e12, 123456789, 1010001]
    documents = [{"v": text, "n": [1, text]} for text in texts] + [{"n": number} for number in numbers]
    documents += [{"ssn": number} for number in numbers] + [{"socialSecurity": [str(n)]} for n in numbers]
    documents += [[text, 1732723200000] for text in texts] + [{text: "key only"} for text in texts]
    for document in documents:
        value = json.dumps(document, separators=separators, ensure_ascii=False)
        assert FULL.redact_value(value) == _decoded_and_redacted(FULL, value), value
    for value in [text for text, _ in JSON_POSITIVES] + JSON_NEGATIVES:
        assert FULL.redact_value(value) == _decoded_and_redacted(FULL, value), value


def test_pii_hidden_behind_json_unicode_escapes_is_found() -> None:
    assert FULL.redact_value('{"m": "alice\\u0040example.com"}') == '{"m": "[EMAIL]"}'


def test_text_that_only_looks_like_json_is_redacted_as_text() -> None:
    assert FULL.redact_value("{not json, mail alice@example.com") == "{not json, mail [EMAIL]"
    assert FULL.redact_value("[draft] call 555-123-4567") == "[draft] call [PHONE]"


def test_sequences_of_strings_are_redacted_item_by_item() -> None:
    assert FULL.redact_value(("alice@example.com", "hello", "555-123-4567")) == (
        "[EMAIL]",
        "hello",
        "[PHONE]",
    )
    assert FULL.redact_value(["ssn 123-45-6789"]) == ("ssn [SSN]",)
    assert FULL.redact_value(('{"m": "bob@example.com"}', "x")) == ('{"m": "[EMAIL]"}', "x")


@pytest.mark.parametrize("value", [4111111111111111, 1.5, True, (1, 2, 3), (), (True, False)])
def test_values_that_are_not_text_are_returned_as_they_are(value: Any) -> None:
    assert FULL.redact_value(value) == value


# --- size -----------------------------------------------------------------------------------------
def test_a_5_mb_string_is_capped_before_it_is_scanned() -> None:
    huge = "mail alice@example.com " + "1234 5678 " * 500_000 + " bob@example.com"
    assert len(huge) > 5_000_000
    result = FULL.redact_text(huge)
    assert result.startswith("mail [EMAIL] 1234 5678 ")
    assert "truncated by sentrial" in result
    assert str(len(huge)) in result  # the marker gives the full size
    assert len(result) <= DEFAULT_MAX_SCAN_CHARS + 100
    assert "bob@example.com" not in result


def test_a_5_mb_json_value_is_capped_too() -> None:
    huge = '{"rows": [' + '{"mail": "alice@example.com", "n": 12}, ' * 150_000 + "{}]}"
    assert len(huge) > 5_000_000
    result = str(FULL.redact_value(huge))
    assert "truncated by sentrial" in result
    assert len(result) <= DEFAULT_MAX_SCAN_CHARS + 100
    assert "alice@example.com" not in result


def test_the_cap_is_configurable() -> None:
    redactor = Redactor(PiiConfig(), strict=True, max_chars=1000)
    result = redactor.redact_text("alice@example.com " + "x" * 10_000)
    assert result.startswith("[EMAIL] xxx")
    assert "truncated by sentrial" in result
    assert len(result) < 1100
    short = "alice@example.com " + "x" * 900
    assert redactor.redact_text(short) == "[EMAIL] " + "x" * 900


# --- redactor_for and the server's settings ---------------------------------------------------
def test_redactor_for() -> None:
    assert redactor_for(None, strict=True) is None
    assert redactor_for(False, strict=True) is None
    default = redactor_for(True, strict=True)
    assert default is not None and default.redact_text("alice@example.com") == "[EMAIL]"
    custom = redactor_for(PiiConfig(mode="remove"), strict=True)
    assert custom is not None and custom.redact_text("x alice@example.com") == "x "
    with pytest.raises(TypeError):
        redactor_for("yes", strict=True)


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
            PiiCustomPattern("CUSTOMER_ID", r"ACME-\d{4}"),
            PiiCustomPattern("employee", r"EMP-\d{6}"),
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
