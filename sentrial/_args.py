"""Checking the arguments of tracking calls: raise, or log and degrade cleanly.

With ``fail_silently=False`` a wrong argument raises TypeError/ValueError at the call. With
``fail_silently=True`` it is logged once per call site kind and turned into the nearest value the
API can carry, so the event is still recorded instead of lost.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger("sentrial")

_HEX_DIGITS = re.compile("[0-9a-fA-F]+")


class ArgumentChecker:
    """Checks one call's arguments; ``call`` names the method in messages."""

    __slots__ = ("call", "strict")

    def __init__(self, call: str, strict: bool) -> None:
        self.call = call
        self.strict = strict

    def _complain(self, error: Exception) -> None:
        if self.strict:
            raise error
        logger.warning("sentrial: %s", error)

    def text(self, name: str, value: Any, *, required: bool = False) -> str | None:
        """A string argument; non-strings are converted with ``str()``."""
        if isinstance(value, str) and (value or not required):
            return value
        if value is None or isinstance(value, str):  # absent, or empty when required
            if not required:
                return None
            self._complain(ValueError(f"{self.call}() needs a non-empty {name}"))
            return "unknown"
        self._complain(TypeError(f"{self.call}() {name} must be a str, got {type(value).__name__}"))
        return str(value)

    def hex_id(self, name: str, value: Any, digits: int) -> str | None:
        """An optional id of ``digits`` hex digits (a trace or span id, as the API takes them). An id
        of another form is left out: the API would refuse the whole event that carried it."""
        text = self.text(name, value)
        if text is None or (len(text) == digits and _HEX_DIGITS.fullmatch(text)):
            return text
        self._complain(ValueError(f"{self.call}() {name} must be {digits} hex digits, got {text!r}"))
        return None

    def mapping(self, name: str, value: Any, *, optional: bool = False) -> dict[str, Any] | None:
        """A dict argument; anything else is kept under ``{"value": ...}``."""
        if isinstance(value, dict):
            return value
        if value is None:
            return None if optional else {}
        if isinstance(value, Mapping):
            return dict(value)
        self._complain(TypeError(f"{self.call}() {name} must be a dict, got {type(value).__name__}"))
        return {"value": value}

    def number(
        self, name: str, value: Any, *, low: float | None = None, high: float | None = None
    ) -> float | None:
        """An optional finite number, kept within ``[low, high]``."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self._complain(TypeError(f"{self.call}() {name} must be a number, got {type(value).__name__}"))
            try:
                value = float(value)
            except (TypeError, ValueError):
                return None
        number = float(value)
        if not math.isfinite(number):
            self._complain(ValueError(f"{self.call}() {name} must be finite, got {value!r}"))
            return None
        if (low is not None and number < low) or (high is not None and number > high):
            if high is None:
                bounds = f"at least {low}"
            elif low is None:
                bounds = f"at most {high}"
            else:
                bounds = f"within [{low}, {high}]"
            self._complain(ValueError(f"{self.call}() {name} must be {bounds}, got {value!r}"))
            number = min(
                max(number, low if low is not None else number), high if high is not None else number
            )
        return number

    def integer(self, name: str, value: Any) -> int | None:
        """An optional non-negative integer."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self._complain(TypeError(f"{self.call}() {name} must be an int, got {type(value).__name__}"))
            try:
                value = int(value)
            except (TypeError, ValueError, OverflowError):
                return None
        if value < 0:
            self._complain(ValueError(f"{self.call}() {name} must not be negative, got {value}"))
            return None
        return int(value)

    def flag(self, name: str, value: Any) -> bool:
        """A bool argument; other values count by their truth."""
        if isinstance(value, bool):
            return value
        self._complain(TypeError(f"{self.call}() {name} must be a bool, got {type(value).__name__}"))
        return bool(value)

    def text_list(self, name: str, value: Any) -> list[str] | None:
        """An optional list of strings; a lone string becomes a one-item list."""
        if value is None:
            return None
        if isinstance(value, str):
            self._complain(TypeError(f"{self.call}() {name} must be a list of str, got str"))
            return [value]
        if not isinstance(value, (list, tuple, set, frozenset)):
            self._complain(
                TypeError(f"{self.call}() {name} must be a list of str, got {type(value).__name__}")
            )
            return [str(value)]
        items = list(value)
        if not all(isinstance(item, str) for item in items):
            self._complain(TypeError(f"{self.call}() {name} must hold only str"))
            items = [item if isinstance(item, str) else str(item) for item in items]
        return items

    def metrics(self, name: str, value: Any) -> dict[str, float] | None:
        """An optional dict of metric name to number; other entries are left out."""
        raw = self.mapping(name, value, optional=True)
        if raw is None:
            return None
        metrics: dict[str, float] = {}
        for key, item in raw.items():
            number = self.number(f"{name}[{key!r}]", item)
            if number is not None:
                metrics[str(key)] = number
        return metrics
