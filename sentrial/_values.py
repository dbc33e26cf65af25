"""Turning whatever a user hands us into bounded JSON text for span attributes.

Values JSON cannot encode (objects, bytes, sets, datetimes, NaN) become a readable form rather
than an error, and anything longer than the configured cap is cut with a visible marker.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

DEFAULT_MAX_CHARS = 64 * 1024
_MAX_DEPTH = 20
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
    except (TypeError, ValueError, RecursionError):
        text = _encode(jsonable(value))
    if len(text) <= max_chars:  # fit_json's own test, here to spare the common case a call
        return text
    return fit_json(text, max_chars)


def json_text(value: Any) -> str:
    """Encode ``value`` as JSON text of any length, unencodable parts in a readable form."""
    try:
        return "".join(_ITERENCODE(value, 0))
    except (TypeError, ValueError, RecursionError):
        return _encode(jsonable(value))


def fit_json(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """JSON ``text`` itself when short enough, else a JSON object holding its head (see :func:`to_json`)."""
    if len(text) <= max_chars:
        return text
    return _encode({"truncated": True, "original_chars": len(text), "preview": cap_text(text, max_chars)})


def jsonable(value: Any, _depth: int = 0, _seen: frozenset[int] = frozenset()) -> Any:
    """A copy of ``value`` made only of JSON types, with a readable form for everything else."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)  # 'nan', 'inf', '-inf'
    if _depth >= _MAX_DEPTH:
        return f"<{type(value).__name__}: nested too deep>"
    if id(value) in _seen:
        return f"<{type(value).__name__}: circular reference>"
    seen = _seen | {id(value)}
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
        try:
            return jsonable(dump(), _depth + 1, seen)
        except Exception:  # a broken model_dump must not stop us from recording the call
            pass
    return _safe_repr(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else str(jsonable(key))


def _bytes_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        head = data[:64].hex()
        return f"<{len(data)} bytes: {head}{'...' if len(data) > 64 else ''}>"


def _safe_repr(value: Any) -> str:
    try:
        return cap_text(repr(value), 1000)
    except Exception:
        return f"<{type(value).__name__}: unrepresentable>"
