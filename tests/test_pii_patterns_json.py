"""Redaction of JSON text and of values that are not text: key by key and value by value, the
result still JSON, the size cap, and redactor_for."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pii_support import FULL, JSON_NEGATIVES, JSON_POSITIVES, NEGATIVES, POSITIVES

from sentrial.redact import (
    DEFAULT_MAX_SCAN_CHARS,
    PiiConfig,
    Redactor,
    redactor_for,
)


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
