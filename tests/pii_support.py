"""The PII corpus (tests/data/pii_corpus.json) and the helpers the PII pattern tests share: the
expected replacement of each positive, keyed hashes, and a Redactor with every detector on."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from sentrial._pii_secret import hash_secret
from sentrial.redact import (
    PiiConfig,
    Redactor,
)

CORPUS = json.loads((Path(__file__).parent / "data" / "pii_corpus.json").read_text(encoding="utf-8"))


def _positives() -> list[tuple[str, str, list[str]]]:
    found = []
    for kind, items in CORPUS["positives"].items():
        for item in items:
            pii = item["pii"] if isinstance(item["pii"], list) else [item["pii"]]
            found.append((kind, item["text"], pii))
    return found


POSITIVES = _positives()


NEGATIVES = [(category, text) for category, texts in CORPUS["negatives"].items() for text in texts]


def replaced(text: str, pii: list[str], by: Any) -> str:
    """``text`` with each PII substring replaced by ``by(substring)``."""
    for piece in pii:
        text = text.replace(piece, by(piece))
    return text


def hashed(piece: str, secret: str | None = None) -> str:
    """Hash mode's replacement of ``piece``: HMAC-SHA256 keyed with ``secret`` (default: the
    installation's), its first 16 hex digits."""
    key = secret.encode() if secret is not None else hash_secret()
    return f"[PII:{hmac.new(key, piece.encode(), hashlib.sha256).hexdigest()[:16]}]"


def everything(**changes: Any) -> Redactor:
    """A redactor with every built-in kind on, enhanced detection included."""
    return Redactor(PiiConfig(enhanced_detection=True, **changes), strict=True)


FULL = everything()


JSON_POSITIVES = [(item["text"], item["redacted"]) for item in CORPUS["json"]["positives"]]


JSON_NEGATIVES = CORPUS["json"]["negatives"]
