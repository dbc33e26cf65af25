"""Odd values that tests of both kinds of input hand to the SDK."""

from __future__ import annotations


class Frame:
    """Like a pandas DataFrame or a numpy array: its truth value raises."""

    def __bool__(self) -> bool:
        raise ValueError("The truth value of a Frame is ambiguous.")

    def __eq__(self, other: object) -> bool:
        raise ValueError("Frames compare element by element.")

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "Frame(3 rows)"


# --- values whose own methods raise, and values no request can carry ---------------------------
class Unprintable:
    """Its __str__ and __repr__ raise: the SDK has to record it without either."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")
