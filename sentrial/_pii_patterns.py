"""The built-in PII detectors: a regular expression per kind, and a check where a regex alone is too loose.

Precision matters as much as recall: a 13-digit millisecond timestamp, an order number or a version
string must not be taken for a phone or a card, so cards must pass the Luhn check and carry a
known issuer prefix, US phones need separators, national numbers need a trunk 0, their grouping
and their length, and addresses are confirmed by ``ipaddress``. A number must not be a piece of a
longer run of digits, but letters or an underscore may touch it (``ssn_123-45-6789``,
``card4111111111111111``) as long as the run of letters and digits around it holds no other digit
and not only hex letters (a hash, a UUID or a base64 blob that happens to hold a long digit run is
not a card).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

# What may group the digits of a number: the space, the no-break, figure, thin and narrow no-break
# spaces word processors and locales put between groups, and the hyphen with its Unicode forms
# (hyphen, non-breaking hyphen, figure dash). Written for a regex character class; "-" comes last.
_SPACES = r" \u00a0\u2007\u2009\u202f"
_DASHES = r"\u2010-\u2012-"
_DASH_CHARS = "-\u2010\u2011\u2012"  # the same dashes as plain characters, for not_after


def _compile(template: str) -> re.Pattern[str]:
    """``template`` compiled, with its short names written out: <SEP> (a dot, space or dash between
    groups of digits), <JOIN> (<SEP>, a slash or a colon), and <SPACES> and <DASHES> (the insides
    of a class; <DASHES> last)."""
    template = template.replace("<SEP>", "[.<SPACES><DASHES>]").replace("<JOIN>", "[./:<SPACES><DASHES>]")
    return re.compile(template.replace("<SPACES>", _SPACES).replace("<DASHES>", _DASHES))


# Pre-checks: every match of a kind contains a match of its pre-check, which is far cheaper to look for.
# The digit-based kinds all need at least 7 digits close together; most text has none.
DIGIT_RUN = _compile(r"\d[\d().+/<SPACES><DASHES>]{5,}\d")
_AT = re.compile("[@\uff20]")  # the full-width at sign too
_DOTTED_DIGITS = re.compile(r"\d\.\d")
_HEX_COLON = re.compile(r"[0-9A-Fa-f]:[0-9A-Fa-f:]|::")
_SECRET_PREFIX = re.compile(r"AKIA|eyJ|[spr]k[-_]|gh[pousr]_")
_DIGIT = re.compile(r"\d")


def may_hold_builtin(text: str, secrets: bool) -> bool:
    """False when ``text`` holds no built-in kind at all (``secrets``: SECRET is one of them).

    A few quick looks instead of one per kind: plain ``in`` tests first, a regex only where it
    can pay off (one regex for all kinds would start a match attempt at most letters of prose).
    """
    if "@" in text or _DIGIT.search(text) is not None or "\uff20" in text:
        return True
    if ":" in text and _HEX_COLON.search(text) is not None:
        return True
    return secrets and _SECRET_PREFIX.search(text) is not None


@dataclass(frozen=True)
class Detector:
    """One kind of PII and how to find it cheaply.

    ``pattern`` begins, where it can, with a consumed character class or literal so the regex
    engine can skip ahead fast;
    ``not_after`` is the lookbehind done by hand (a character that must not precede a match);
    ``apart``: the run of letters and digits around the match (touching it on either side) must
    hold no digit, so a number may follow a word (``card4111...``) but not be cut out of a longer
    mix of letters and digits; ``confirm`` checks a match the regex alone cannot (Luhn, address
    parsing); ``needs`` is the pre-check: text without a match of it cannot hold this kind.
    """

    label: str
    pattern: re.Pattern[str]
    confirm: Callable[[str], bool] | None = None
    needs: re.Pattern[str] | None = None
    not_after: str = ""
    apart: bool = False

    def accepts(self, match: re.Match[str]) -> bool:
        """Whether a regex match is really this kind of PII."""
        start = match.start()
        if start and self.not_after and _class_contains(self.not_after, match.string[start - 1]):
            return False
        if self.apart and not _stands_apart(match.string, start, match.end()):
            return False
        return self.confirm is None or self.confirm(match.group())


def _class_contains(chars: str, char: str) -> bool:
    # "w" stands for any word character, as in the regex class \w.
    return char in chars or ("w" in chars and (char.isalnum() or char == "_"))


_HEX_LETTERS = frozenset("abcdefABCDEF")


def _stands_apart(text: str, start: int, end: int) -> bool:
    """No digit in the letters and digits that touch ``text[start:end]`` on either side, and not
    only hex letters (the digits of a UUID or a hash: ``4c98-b385-17029876272e``)."""
    if (not start or not text[start - 1].isalnum()) and (end == len(text) or not text[end].isalnum()):
        return True  # nothing touches it: the usual case, decided at once
    letters: list[str] = []
    index = start - 1
    while index >= 0 and text[index].isalnum():
        if text[index].isdigit():
            return False
        letters.append(text[index])
        index -= 1
    index = end
    while index < len(text) and text[index].isalnum():
        if text[index].isdigit():
            return False
        letters.append(text[index])
        index += 1
    return not letters or not _HEX_LETTERS.issuperset(letters)


_NOT_DIGIT = re.compile(r"\D")


def ascii_digits(text: str) -> str:
    """The digits of ``text`` in ASCII (full-width and other scripts' digits converted), the rest dropped."""
    digits = _NOT_DIGIT.sub("", text)
    return digits if digits.isascii() else "".join(str(unicodedata.digit(char)) for char in digits)


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
    """A known network's prefix and length, and a valid Luhn checksum (separators ignored)."""
    digits = text.replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit()):
        digits = ascii_digits(text)  # other spaces and dashes, or digits of another script
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
    return _EMAIL_DOT.split(text)[-1].lower() not in _IMAGE_SUFFIXES


def _ssn_valid(text: str) -> bool:
    digits = ascii_digits(text)
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


# The dots of a domain: the ASCII one and the full-width one an input method may type.
_EMAIL_DOT = re.compile("[.\uff0e]")
# Letters of any script (\w), with the combining accents of decomposed text (e + U+0301 for é).
# The lookbehind starts a match only where a local part can begin (the leftmost start is the only
# one that can match anyway): without it, the engine would scan each word once per letter.
_EMAIL_LOCAL = r"(?<![\w.%+\u0300-\u036f-])[\w.%+\u0300-\u036f-]+"
_EMAIL_LABEL = r"[\w\u0300-\u036f-]+"
EMAIL = Detector(
    "EMAIL",
    re.compile(
        _EMAIL_LOCAL + r"[@\uff20]" + _EMAIL_LABEL + r"(?:[.\uff0e]" + _EMAIL_LABEL + r")*[.\uff0e]"
        # The top-level domain: ASCII letters (an underscore or other script may follow: x@example.com_x),
        # punycode, or letters of another script (例子.广告, ｅｘａｍｐｌｅ．ｃｏｍ).
        r"(?:[A-Za-z]{2,}(?![A-Za-z0-9\u0300-\u036f-])|xn--[A-Za-z0-9-]+(?![\w-])|[^\W\d_A-Za-z]{2,}(?![\w-]))"
    ),
    confirm=_email_valid,
    needs=_AT,
)
# The detectors below are a table of data: alike in shape by nature.
SSN = Detector(
    "SSN",
    _compile(r"\d{3}([<SPACES><DASHES>])\d{2}\1\d{4}(?![\d<DASHES>])"),
    confirm=_ssn_valid,
    needs=DIGIT_RUN,
    not_after=_DASH_CHARS,
    apart=True,
)
CREDIT_CARD = Detector(
    "CREDIT_CARD",
    _compile(r"\d(?:[<SPACES><DASHES>]?\d){12,18}(?![\d<DASHES>]|\.\d)"),
    confirm=is_card_number,
    needs=DIGIT_RUN,
    not_after=".+" + _DASH_CHARS,
    apart=True,
)
# The group lengths of national numbers with a trunk 0 (the 0 counted): UK 020 7946 0958,
# 0161 496 0000 and 01632 960 983; Dutch and Swiss 020 123 4567 and 044 123 45 67; Australian
# 02 5550 1234 and 0491 570 156; French and Dutch 01 23 45 67 89. Two groups (07700 900123,
# 030 12345678) are taken apart in _phone_valid.
_NATIONAL_GROUPS = frozenset(
    {(3, 4, 4), (4, 3, 4), (5, 3, 3), (3, 3, 4), (4, 3, 3), (2, 4, 4), (3, 3, 2, 2), (2, 2, 2, 2, 2)}
)
_DIGIT_GROUP = re.compile(r"\d+")


def _phone_valid(text: str) -> bool:
    """A national number (it begins with 0 or "(0") has 10 or 11 digits in one of the known groupings;
    two groups (area code and number) only with a space, dash or slash, more only without a slash."""
    if not text.startswith(("0", "(0")):
        return True
    groups = tuple(len(group) for group in _DIGIT_GROUP.findall(text))
    if not 10 <= sum(groups) <= 11:
        return False
    if len(groups) == 2:
        return "." not in text and groups[0] <= 5 and groups[1] >= 5
    return "/" not in text and groups in _NATIONAL_GROUPS


PHONE = Detector(
    "PHONE",
    _compile(
        # The first character is consumed by the class, so the engine only tries "+", "(" and digits;
        # each branch then looks back at it (a one-character lookbehind inside the match).
        r"(?:[+(\d](?:"
        # +1 and a US number: +1 555 123 4567, +1-555-123-4567, +1 (555) 123-4567
        r"(?<=\+)(?:1<SEP>?(?:\(\d{3}\)[<SPACES>]?|\d{3}<SEP>)\d{3}<SEP>\d{4}"
        # E.164 and its spaced international forms: +44 20 7946 0958, +4915112345678
        r"|[1-9](?:<SEP>?\d){7,14}"
        # with the trunk prefix in brackets: +44 (0)20 7946 0958
        r"|[1-9]\d{0,2} ?\(0\) ?\d(?:<SEP>?\d){5,12})"
        # US: (555) 123-4567
        r"|(?<=\()\d{3}\)[<SPACES>]?\d{3}<SEP>\d{4}"
        # US with a leading 1: 1-555-123-4567, 1 (555) 123-4567
        r"|(?<=1)<SEP>?(?:\(\d{3}\)[<SPACES>]?|\d{3}<SEP>)\d{3}<SEP>\d{4}"
        # US: 555-123-4567, 555.123.4567, 555 123 4567
        r"|(?<=\d)\d{2}<SEP>\d{3}<SEP>\d{4})"
        # National numbers come last and begin with a literal, which the engine rejects at once for
        # other characters (a lookbehind branch costs every digit of the text a little).
        # With a trunk 0, in groups joined alike (also by a slash: 030/12345678), and not cut out of
        # a longer run of groups (a hex dump, a list of numbers) or a time: 020 7946 0958
        r"|0[1-9](?<!\d0.)(?<!\d<JOIN>0.)\d{0,3}(<JOIN>)\d{2,8}(?:\1\d{2,8}){0,3}(?!<JOIN>\d)"
        # the same with the area code in brackets: (020) 7946 0958, (01632) 960983
        r"|\(0[1-9]\d{0,3}\)[<SPACES>]?\d{2,8}(?:(<SEP>)\d{2,8}(?:\2\d{2,8}){0,2})?(?!<JOIN>\d)"
        r")(?![\w.<DASHES>]?\d)"
    ),
    confirm=_phone_valid,
    needs=DIGIT_RUN,
    not_after="+." + _DASH_CHARS,
    apart=True,
)
_KEY_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def key_names_ssn(key: str) -> bool:
    """Whether a JSON key names a US social security number: ``ssn``, ``customerSSN``,
    ``social_security_number`` (by words, so ``class_name`` is not one)."""
    lowered = key.lower()
    if "ssn" not in lowered and "social" not in lowered:
        return False  # most keys, at the cost of two substring tests
    words = {word.lower() for word in _KEY_WORD.findall(key)}
    return "ssn" in words or "ssns" in words or {"social", "security"} <= words


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
