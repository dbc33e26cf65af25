"""Checking the arguments of tracking calls: raise, or log and degrade cleanly.

With ``fail_silently=False`` a wrong argument raises TypeError/ValueError at the call, naming the
argument. With ``fail_silently=True`` it is logged and turned into the nearest value the API can
carry, so the event is still recorded instead of lost. A value whose own methods raise while it is
read (``__str__``, ``__float__``, ``__iter__``, ``__bool__``...) counts as a wrong argument: the
checks never let the value's exception through.
"""

from __future__ import annotations

import datetime
import logging
import math
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from sentrial._values import clean_text, describe, safe_text
from sentrial_otel_exporter.mapping import MAX_SESSION_ID_CHARS

logger = logging.getLogger("sentrial")

_HEX_DIGITS = re.compile("[0-9a-fA-F]+")
# What a session id may not hold: control characters (C0, DEL, C1) and lone surrogates (not UTF-8).
_NOT_IN_IDS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
MAX_INTEGER = 2**63 - 1  # the largest int an OTel attribute (int64) and the API's JSON readers carry
_T = TypeVar("_T")


class ArgumentChecker:
    """Checks one call's arguments; ``call`` names the method in messages."""

    __slots__ = ("call", "strict")

    def __init__(self, call: str, strict: bool) -> None:
        self.call = call
        self.strict = strict

    def _complain(self, error: Exception, cause: BaseException | None = None) -> None:
        if self.strict:
            raise error from cause
        logger.warning("sentrial: %s", error)

    def converted(self, name: str, convert: Any, value: Any, fallback: _T) -> Any:
        """``convert(value)``; when the value's own methods raise, a complaint and ``fallback``."""
        try:
            return convert(value)
        except Exception as error:
            problem = f"{self.call}() {name} could not be read ({type(error).__name__})"
            self._complain(ValueError(f"{problem}, got {describe(value)}"), error)
            return fallback

    def wrong_type(self, name: str, value: Any, wanted: str) -> None:
        """Complain that ``value`` is not ``wanted`` (the caller records it in its own way)."""
        self._complain(TypeError(f"{self.call}() {name} must be {wanted}, got {type(value).__name__}"))

    def wrong_value(self, name: str, value: Any, wanted: str) -> None:
        """Complain that ``value`` is of the right type but not ``wanted``."""
        self._complain(ValueError(f"{self.call}() {name} must be {wanted}, got {describe(value)}"))

    def text(self, name: str, value: Any, *, required: bool = False) -> str | None:
        """A string argument; non-strings are converted with ``str()`` (a stand-in when that raises)."""
        if isinstance(value, str):
            text = clean_text(value)
            if text or not required:
                return text
        if value is None or isinstance(value, str):  # absent, or empty when required
            if not required:
                return None
            self._complain(ValueError(f"{self.call}() needs a non-empty {name}"))
            return "unknown"
        self.wrong_type(name, value, "a str")
        return safe_text(value)

    def session_id(self, name: str, value: Any) -> str | None:
        """``value`` as a plain str when it is a session id the API can take in a URL: a non-empty
        str of at most MAX_SESSION_ID_CHARS characters, without control characters or lone
        surrogates. Any other id is refused whole (complained about; None): a changed id would
        name another session."""
        if not isinstance(value, str):
            self.wrong_type(name, value, "a str")
            return None
        text = str.__str__(value)  # a subclass's own __hash__/__eq__ may raise
        if not text or len(text) > MAX_SESSION_ID_CHARS or _NOT_IN_IDS.search(text):
            problem = (
                f"{self.call}() {name} must be 1 to {MAX_SESSION_ID_CHARS} characters without control "
                f"characters or lone surrogates, got {describe(text)} ({len(text)} characters); "
                "its call is dropped"
            )
            self._complain(ValueError(problem))
            return None
        return text

    def hex_id(self, name: str, value: Any, digits: int) -> str | None:
        """An optional id of ``digits`` hex digits (a trace or span id, as the API takes them). An id
        of another form is left out: the API would refuse the whole event that carried it."""
        text = self.text(name, value)
        if text is None or (len(text) == digits and _HEX_DIGITS.fullmatch(text)):
            return text
        self._complain(ValueError(f"{self.call}() {name} must be {digits} hex digits, got {describe(text)}"))
        return None

    def mapping(self, name: str, value: Any, *, optional: bool = False) -> dict[str, Any] | None:
        """A dict argument; anything else is kept under ``{"value": ...}``."""
        if type(value) is dict:
            return value
        if value is None:
            return None if optional else {}
        if isinstance(value, Mapping):  # also a dict subclass: copied, as its own methods may raise
            copy: dict[str, Any] = self.converted(name, dict, value, {"value": value})
            return copy
        self.wrong_type(name, value, "a dict")
        return {"value": value}

    def _numeric(
        self, name: str, value: Any, kinds: type | tuple[type, ...], wanted: str, convert: Any
    ) -> Any:
        """``value`` when it is one of ``kinds`` (a bool is none), else ``convert(value)`` after a
        complaint; None for None and for what cannot be converted (it is left out)."""
        if value is None or (not isinstance(value, bool) and isinstance(value, kinds)):
            return value
        self.wrong_type(name, value, wanted)
        try:
            return convert(value)
        except Exception:  # not a number at all (or its __float__ / __int__ raised)
            return None

    def number(
        self, name: str, value: Any, *, low: float | None = None, high: float | None = None
    ) -> float | None:
        """An optional finite number, kept within ``[low, high]``."""
        if value is None:  # the common case, without a call
            return None
        if (
            type(value) is float
            and (low is None or value >= low)  # False for NaN: the full path complains
            and (high is None or value <= high)
            and value - value == 0.0  # finite (inf - inf is NaN)
        ):
            return value  # a plain float in range (the common defaults, like 0.0): nothing to convert
        value = self._numeric(name, value, (int, float), "a number", float)
        number: float | None = None if value is None else self.converted(name, _as_float, value, None)
        if number is None:
            return None
        if not math.isfinite(number):
            self._complain(ValueError(f"{self.call}() {name} must be finite, got {describe(value)}"))
            return None
        if (low is not None and number < low) or (high is not None and number > high):
            if high is None:
                bounds = f"at least {low}"
            elif low is None:
                bounds = f"at most {high}"
            else:
                bounds = f"within [{low}, {high}]"
            self._complain(ValueError(f"{self.call}() {name} must be {bounds}, got {describe(value)}"))
            if low is not None and number < low:
                number = float(low)
            elif high is not None:
                number = float(high)
        return number

    def integer(self, name: str, value: Any) -> int | None:
        """An optional non-negative integer, at most MAX_INTEGER (a larger one is cut to it)."""
        if value is None:  # the common case, without a call
            return None
        value = self._numeric(name, value, int, "an int", int)
        number: int | None = None if value is None else self.converted(name, _as_int, value, None)
        if number is None:
            return None
        if number < 0:
            self._complain(ValueError(f"{self.call}() {name} must not be negative, got {describe(number)}"))
            return None
        if number > MAX_INTEGER:
            problem = f"{self.call}() {name} must be at most {MAX_INTEGER}"
            self._complain(ValueError(f"{problem}, got {describe(number)}"))
            return MAX_INTEGER
        return number

    def moment(self, name: str, value: Any) -> int | None:
        """An optional point in time, a ``datetime`` (naive ones are local time) or seconds since
        the epoch as ``time.time()`` gives them, as nanoseconds since the epoch (OTel's unit)."""
        if value is None:
            return None
        if isinstance(value, datetime.datetime):
            seconds: float | None = self.converted(name, datetime.datetime.timestamp, value, None)
        else:
            seconds = self.number(name, value, low=0)
        return None if seconds is None else int(seconds * 1e9)

    def flag(self, name: str, value: Any, default: bool = True) -> bool:
        """A bool argument; other values count by their truth (``default`` when that raises)."""
        if isinstance(value, bool):
            return value
        self.wrong_type(name, value, "a bool")
        flag: bool = self.converted(name, bool, value, default)
        return flag

    def text_list(self, name: str, value: Any) -> list[str] | None:
        """An optional list of strings; a lone string becomes a one-item list."""
        if value is None:
            return None
        # The common case, a list of plain ASCII strs, checked and copied without a Python-level loop.
        if type(value) is list and (not value or set(map(type, value)) == {str}):
            if "".join(value).isascii():
                return list(value)
            return [clean_text(item) for item in value]
        if isinstance(value, str):
            self.wrong_type(name, value, "a list of str")
            return [clean_text(value)]
        if not isinstance(value, (list, tuple, set, frozenset)):
            self.wrong_type(name, value, "a list of str")
            return [safe_text(value)]
        items: list[Any] = self.converted(name, list, value, [])
        if not all(isinstance(item, str) for item in items):
            self._complain(TypeError(f"{self.call}() {name} must hold only str"))
        return [safe_text(item) for item in items]

    def metrics(self, name: str, value: Any) -> dict[str, float | int] | None:
        """An optional dict of metric name to number (an int stays an int); other entries are left out."""
        raw = self.mapping(name, value, optional=True)
        if raw is None:
            return None
        metrics: dict[str, float | int] = {}
        for key, item in raw.items():
            number = self.number(f"{name}[{describe(key)}]", item)
            if number is not None:
                whole = isinstance(item, int) and not isinstance(item, bool)
                metrics[safe_text(key)] = _as_int(item) if whole else number
        return metrics


def _as_float(value: int | float) -> float:
    """A number as a float: an int too large for one is infinite (refused as not finite)."""
    try:
        return float.__float__(value) if isinstance(value, float) else float(int.__index__(value))
    except OverflowError:
        return math.inf if value > 0 else -math.inf  # only an int overflows


def _as_int(value: int) -> int:
    """An int (or subclass) as a plain int, without the subclass's own methods."""
    return int.__index__(value)
