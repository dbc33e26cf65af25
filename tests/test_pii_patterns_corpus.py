"""Every PII pattern run on the corpus in tests/data/pii_corpus.json: each positive must be replaced
exactly (the PII and nothing around it), each negative left alone by all detectors at once; the
built-in switches and card checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pii_support import (
    CORPUS,
    FULL,
    JSON_NEGATIVES,
    JSON_POSITIVES,
    NEGATIVES,
    POSITIVES,
    everything,
    hashed,
    replaced,
)

from sentrial._pii_patterns import is_card_number, key_names_ssn, luhn_valid
from sentrial.redact import (
    PiiBuiltinPatterns,
    PiiConfig,
    Redactor,
)

BUILTIN_KINDS = ("EMAIL", "PHONE", "SSN", "CREDIT_CARD", "IP_ADDRESS")


ENHANCED_KINDS = ("IBAN", "SECRET")


SWITCHES = {
    "EMAIL": "emails",
    "PHONE": "phones",
    "SSN": "ssns",
    "CREDIT_CARD": "credit_cards",
    "IP_ADDRESS": "ip_addresses",
}


POSITIVE_IDS = [f"{kind}-{text[:40]}" for kind, text, _ in POSITIVES]


NEGATIVE_IDS = [text[:40] for _, text in NEGATIVES]


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
