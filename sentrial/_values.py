"""Turning whatever a user hands us into bounded JSON text for span attributes.

Values JSON cannot encode (objects, bytes, sets, datetimes, NaN) become a readable form rather
than an error, and anything longer than the configured cap is cut with a visible marker. Nothing
here raises on a user's value: an object whose ``__str__``, ``__repr__``, ``__iter__`` or
``__len__`` raises, an int too long to print, a cycle or a structure nested too deep each get a
readable stand-in. Lone surrogates (text no UTF-8 request can carry) become U+FFFD.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

DEFAULT_MAX_CHARS = 64 * 1024
_MAX_DEPTH = 20
_MAX_INT_DIGITS = 4000  # below Python's limit on printing an int (4300 digits by default)
_SURROGATES = re.compile("[\ud800-\udfff]")
_ENCODER = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def _not_encodable(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _make_iterencode() -> Callable[[Any, int], Any]:
    # JSONEncoder.encode builds a new C encoder on every call; building it once makes a small dict's
    # encoding about three times cheaper, which matters on the app thread. Called directly by
    # to_json (no wrapper function between): a call less on every tracked event and LLM call.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return lambda value, _level: _ENCODER.iterencode(value)
    encoder: Callable[[Any, int], Any] = make(
        None, _not_encodable, json.encoder.encode_basestring, None, ":", ",", False, False, False
    )
    return encoder


_ITERENCODE = _make_iterencode()


def _encode(value: Any) -> str:
    return "".join(_ITERENCODE(value, 0))


def truncation_marker(total: int) -> str:
    """The text that ends a value cut to size; says how long the whole value was."""
    return f"...[truncated by sentrial: {total} chars in all]"


def clean_text(text: str) -> str:
    """``text`` as a plain str that UTF-8 can encode: a str subclass's characters are copied out
    (its own methods may raise) and lone surrogates become U+FFFD."""
    if type(text) is not str:
        text = str.__str__(text)  # the characters alone, whatever the subclass overrides
    if text.isascii():  # O(1): the common case pays nothing more
        return text
    return _SURROGATES.sub("\ufffd", text)


def safe_text(value: Any) -> str:
    """``str(value)``, cleaned (see :func:`clean_text`); a readable stand-in when that raises."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int) and not isinstance(value, bool) and _too_long(value):
        return _long_int_text(value)
    try:
        return clean_text(str(value))
    except Exception:
        return clean_text(_safe_repr(value))


def describe(value: Any, max_chars: int = 200) -> str:
    """A short repr of ``value`` for a message; never raises, never long."""
    if isinstance(value, int) and not isinstance(value, bool) and _too_long(value):
        return _long_int_text(value)
    return clean_text(_safe_repr(value, max_chars))


def cap_text(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """``text`` itself when short enough, else its head plus a truncation marker."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + truncation_marker(len(text))


def as_text(value: Any, max_chars: int = DEFAULT_MAX_CHARS) -> str | None:
    """``value`` itself when it is a string (or None), else its JSON text (see :func:`to_json`)."""
    if value is None or isinstance(value, str):
        return value
    return to_json(value, max_chars)


def to_json(value: Any, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Encode ``value`` as JSON text of at most about ``max_chars`` characters.

    A value whose encoding is too long becomes a JSON object holding the head of the text, so
    the result always stays valid JSON.
    """
    if isinstance(value, dict) and not value:  # never bool() on any value: a DataFrame's raises
        return "{}"
    try:
        text = "".join(_ITERENCODE(value, 0))
    except Exception:  # also what a user's object raised while being encoded
        text = _encode(jsonable(value))
    if not text.isascii():
        text = _SURROGATES.sub("\ufffd", text)
    if len(text) <= max_chars:  # fit_json's own test, here to spare the common case a call
        return text
    return fit_json(text, max_chars)


def json_text(value: Any) -> str:
    """Encode ``value`` as JSON text of any length, unencodable parts in a readable form."""
    try:
        return "".join(_ITERENCODE(value, 0))
    except Exception:
        return _encode(jsonable(value))


def fit_json(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """JSON ``text`` itself when short enough, else a JSON object holding its head (see :func:`to_json`)."""
    if len(text) <= max_chars:
        return text
    return _encode({"truncated": True, "original_chars": len(text), "preview": cap_text(text, max_chars)})


def jsonable(value: Any, _depth: int = 0, _seen: frozenset[int] = frozenset()) -> Any:
    """A copy of ``value`` made only of JSON types, with a readable form for everything else."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return _long_int_text(value) if _too_long(value) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)  # 'nan', 'inf', '-inf'
    if _depth >= _MAX_DEPTH:
        return f"<{type(value).__name__}: nested too deep>"
    if id(value) in _seen:
        return f"<{type(value).__name__}: circular reference>"
    try:
        return _jsonable_container(value, _depth, _seen | {id(value)})
    except Exception:  # its __iter__, items(), asdict() or model_dump() raised: its repr instead
        return _safe_repr(value)


def _jsonable_container(value: Any, _depth: int, seen: frozenset[int]) -> Any:
    if isinstance(value, Mapping):
        return {_key(k): jsonable(v, _depth + 1, seen) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, _depth + 1, seen) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [jsonable(v, _depth + 1, seen) for v in value]
        return sorted(items, key=repr)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes_text(bytes(value))
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return jsonable(value.value, _depth + 1, seen)
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value), _depth + 1, seen)
    dump = getattr(value, "model_dump", None)  # pydantic v2 models (the LLM SDKs' responses)
    if callable(dump):
        return jsonable(dump(), _depth + 1, seen)
    return _safe_repr(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else safe_text(jsonable(key))


def _too_long(number: int) -> bool:
    """True for an int too long to print (Python refuses past 4300 digits)."""
    return int.bit_length(number) > _MAX_INT_DIGITS * 3.32  # bits per decimal digit, rounded down


def _long_int_text(number: int) -> str:
    digits = int(int.bit_length(number) * 0.30103) + 1  # log10(2): the count, to within one
    return f"<int of about {digits} digits>"


def _bytes_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        head = data[:64].hex()
        return f"<{len(data)} bytes: {head}{'...' if len(data) > 64 else ''}>"


def _safe_repr(value: Any, max_chars: int = 1000) -> str:
    try:
        return cap_text(clean_text(repr(value)), max_chars)
    except Exception:
        return f"<{type(value).__name__}: unrepresentable>"
