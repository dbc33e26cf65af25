"""Attributes put on a running SDK span in one step, when OpenTelemetry's cleaning would keep them as
they are.

``Span.set_attributes`` passes every value through ``_clean_attribute_value`` and stores it with a
Python call of its own (together several thousand CPU instructions per attribute): an LLM call's
dozen result attributes cost more than the rest of its description. Values that are already what
the cleaning makes of them (``str``, ``bool``, ``int``, ``float``, a tuple of ``str``), on a span
whose limits none of them reaches, are stored directly in the plain dict inside the span's
``BoundedAttributes``, under the span's lock, exactly as the cleaning would have stored them. In
every other case (a value of another type, an attribute value length limit, a span that is full,
ended, not the SDK's, or an SDK whose internals differ) the public ``set_attributes`` does it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.trace import Span

_SCALARS = frozenset((str, bool, int, float))
_TEXT = frozenset((str,))


def _kept_as_is(values: Mapping[str, Any]) -> bool:
    """Whether OTel's cleaning returns each of ``values`` unchanged (a tuple of text: an equal tuple)."""
    if _SCALARS.issuperset(map(type, values.values())):  # one pass in C: most results
        return True
    for value in values.values():
        kind = type(value)
        if kind not in _SCALARS and not (kind is tuple and _TEXT.issuperset(map(type, value))):
            return False
    return True


def set_span_attributes(span: Span, values: dict[str, Any]) -> None:
    """``span.set_attributes(values)``, in one step when nothing in it needs OpenTelemetry's cleaning
    (see the module's docstring). ``values`` keys are non-empty ``str``s."""
    stored = getattr(span, "_attributes", None)
    inner, lock = getattr(stored, "_dict", None), getattr(span, "_lock", None)
    maxlen = getattr(stored, "maxlen", 0)
    if (
        type(stored) is BoundedAttributes
        and type(inner) is dict
        and lock is not None
        and getattr(stored, "max_value_len", 0) is None
        and getattr(stored, "_immutable", True) is False
        and (maxlen is None or len(inner) + len(values) <= maxlen)
        and _kept_as_is(values)
    ):
        with lock:
            if getattr(span, "_end_time", 0) is None:  # running: else set_attributes warns as usual
                inner.update(values)
                return
    span.set_attributes(values)
