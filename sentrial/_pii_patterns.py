"""The built-in PII detectors: a regular expression per kind, and a check where a regex alone is too loose.

Precision matters as much as recall: a 13-digit millisecond timestamp, an order number or a version
string must not be taken for a phone or a card, so cards must pass the Luhn check and carry a
known issuer prefix, US phones need separators, and addresses are confirmed by ``ipaddress``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

# Pre-checks: every match of a kind contains a match of its pre-check, which is far cheaper to look for.
# The digit-based kinds all need at least 7 digits close together; most text has none.
DIGIT_RUN = re.compile(r"\d[\d ().+-]{5,}\d")
_AT = re.compile("@")
_DOTTED_DIGITS = re.compile(r"\d\.\d")
_HEX_COLON = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f:]|::")
_SECRET_PREFIX = re.compile(r"AKIA|eyJ|[spr]k[-_]|gh[pousr]_")
_DIGIT = re.compile(r"\d")


def may_hold_builtin(text: str, secrets: bool) -> bool:
    """False when ``text`` holds no built-in kind at all (``secrets``: SECRET is one of them).

    A few quick looks instead of one per kind: plain ``in`` tests first, a regex only where it
    can pay off (one regex for all kinds would start a match attempt at most letters of prose).
    """
    if "@" in text or _DIGIT.search(text) is not None:
        return True
    if ":" in text and _HEX_COLON.search(text) is not None:
        return True
    return secrets and _SECRET_PREFIX.search(text) is not None


@dataclass(frozen=True)
class Detector:
    """One kind of PII and how to find it cheaply.

    ``pattern`` begins with a consumed character class so the regex engine can skip ahead fast;
    ``not_after`` is the lookbehind done by hand (a character that must not precede a match);
    ``confirm`` checks a match the regex alone cannot (Luhn, address parsing); ``needs`` is the
    pre-check: text without a match of it cannot hold this kind.
    """

    label: str
    pattern: re.Pattern[str]
    confirm: Callable[[str], bool] | None = None
    needs: re.Pattern[str] | None = None
    not_after: str = ""

    def accepts(self, match: re.Match[str]) -> bool:
        """Whether a regex match is really this kind of PII."""
        start = match.start()
        if start and self.not_after and _class_contains(self.not_after, match.string[start - 1]):
            return False
        return self.confirm is None or self.confirm(match.group())


def _class_contains(chars: str, char: str) -> bool:
    # "w" stands for any word character, as in the regex class \w.
    return char in chars or ("w" in chars and (char.isalnum() or char == "_"))


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


# (prefixes, allowed lengths) of the major card networks.
_CARD_NETWORKS: tuple[tuple[tuple[str, ...], frozenset[int]], ...] = (
    (("4",), frozenset({13, 16, 19})),  # Visa
    (tuple(str(p) for p in range(51, 56)) + tuple(str(p) for p in range(2221, 2721)), frozenset({16})),
    (("34", "37"), frozenset({15})),  # American Express
    (("6011", "65", *(str(p) for p in range(644, 650))), frozenset({16, 17, 18, 19})),  # Discover
    (("36", "38", "39", *(str(p) for p in range(300, 306))), frozenset({14, 15, 16, 17, 18, 19})),
    (tuple(str(p) for p in range(3528, 3590)), frozenset({16, 17, 18, 19})),  # JCB
    (("62",), frozenset({16, 17, 18, 19})),  # UnionPay
)


def is_card_number(text: str) -> bool:
    """A known network's prefix and length, and a valid Luhn checksum."""
    digits = text.replace(" ", "").replace("-", "")
    for prefixes, lengths in _CARD_NETWORKS:
        if len(digits) in lengths and digits.startswith(prefixes):
            return luhn_valid(digits)
    return False


def is_ip_address(text: str) -> bool:
    """True for a valid IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_ipv6_address(text: str) -> bool:
    """A valid IPv6 address that does not read better as code.

    ``::``, ``1::2`` and ``::-1`` are slices (``a[::2]``), ``f :: Int`` a type signature, ``Abc::Def``
    and ``db::add`` scopes. Real addresses are written in one case, and the short ones (two groups
    or fewer, such as ``fe80::1`` or ``2001:db8::``) hold a digit and a hex letter or a four-digit
    group; ``::1`` (loopback) is the exception.
    """
    if "::" not in text and text.count(":") != 7:
        return False  # clock times such as 10:30:00, cheaply, before the address parser
    if not is_ip_address(text):
        return False
    has_letter = any(char.isalpha() for char in text)
    if has_letter and not (text.islower() or text.isupper()):
        return False
    groups = [group for group in text.split(":") if group]
    if len(groups) >= 3 or text == "::1":
        return True
    has_digit = any(char.isdigit() for char in text)
    return has_digit and (has_letter or any(len(group) == 4 for group in groups))


# Image names such as icon@2x.png look like addresses; no top-level domain is an image format.
_IMAGE_SUFFIXES = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "bmp", "ico", "tif", "tiff"})


def _email_valid(text: str) -> bool:
    return text.rsplit(".", 1)[-1].lower() not in _IMAGE_SUFFIXES


def _ssn_valid(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


EMAIL = Detector(
    "EMAIL",
    re.compile(r"[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])"),
    confirm=_email_valid,
    needs=_AT,
)
SSN = Detector(
    "SSN",
    re.compile(r"\d{3}([- ])\d{2}\1\d{4}(?![\w-])"),
    confirm=_ssn_valid,
    needs=DIGIT_RUN,
    not_after="w-",
)
CREDIT_CARD = Detector(
    "CREDIT_CARD",
    re.compile(r"\d(?:[ -]?\d){12,18}(?![\w-]|\.\d)"),
    confirm=is_card_number,
    needs=DIGIT_RUN,
    not_after="w.+-",
)
PHONE = Detector(
    "PHONE",
    re.compile(
        # The first character is consumed by the class, so the engine only tries "+", "(" and digits;
        # each branch then looks back at it (a one-character lookbehind inside the match).
        r"[+(\d](?:"
        # +1 and a US number: +1 555 123 4567, +1-555-123-4567, +1 (555) 123-4567
        r"(?<=\+)(?:1[ .-]?(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}"
        # E.164 and its spaced international forms: +44 20 7946 0958, +4915112345678
        r"|[1-9](?:[ .-]?\d){7,14}"
        # with the trunk prefix in brackets: +44 (0)20 7946 0958
        r"|[1-9]\d{0,2} ?\(0\) ?\d(?:[ .-]?\d){5,12})"
        # US: (555) 123-4567
        r"|(?<=\()\d{3}\)[ ]?\d{3}[ .-]\d{4}"
        # US with a leading 1: 1-555-123-4567, 1 (555) 123-4567
        r"|(?<=1)[ .-]?(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}"
        # US: 555-123-4567, 555.123.4567, 555 123 4567
        r"|(?<=\d)\d{2}[ .-]\d{3}[ .-]\d{4}"
        r")(?![\w.-]?\d)"
    ),
    needs=DIGIT_RUN,
    not_after="w+.-",
)
IPV4_ADDRESS = Detector(
    "IP_ADDRESS",
    re.compile(r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?!\w|\.\d)"),
    needs=_DOTTED_DIGITS,
    not_after="w.",
)
IPV6_ADDRESS = Detector(
    "IP_ADDRESS",
    re.compile(
        r"(?:[0-9A-Fa-f]{1,4}:){1,7}(?::|(?::[0-9A-Fa-f]{1,4}){1,7}|[0-9A-Fa-f]{1,4})(?![\w:]|\.\d)"
        r"|::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?(?![\w:]|\.\d)"
    ),
    confirm=is_ipv6_address,
    needs=_HEX_COLON,
    not_after="w:.",
)


def _iban_valid(text: str) -> bool:
    compact = text.replace(" ", "").upper()
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


# Extra detectors of enhanced_detection: bank accounts and credentials that often ride along in agent data.
IBAN = Detector(
    "IBAN",
    re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w])"),
    confirm=_iban_valid,
    needs=DIGIT_RUN,
    not_after="w",
)
SECRET = Detector(
    "SECRET",
    re.compile(
        r"(?:AKIA[0-9A-Z]{16}"  # AWS access key id
        r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JSON web token
        r"|(?:sk|pk|rk)[-_](?:live[-_]|test[-_]|proj[-_])?[A-Za-z0-9]{20,}"  # API keys of the sk-... family
        r"|gh[pousr]_[A-Za-z0-9]{30,})"  # GitHub tokens
    ),
    needs=_SECRET_PREFIX,
    not_after="w",
)
