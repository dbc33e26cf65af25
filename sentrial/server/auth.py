"""Who may read the local server when it has an API key.

The API (``/api/sdk/*``) takes ``Authorization: Bearer KEY``. The pages show every input and output,
so they need the key too: the same header (for scripts), or a cookie that their sign-in form sets
(for browsers). The form is POSTed, so the key stays out of URLs, browser history and request logs;
the cookie holds a random token of this server process, never the key, and scripts cannot read it.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs

FORM_FIELD = "key"


def same_key(given: str, key: str) -> bool:
    """Whether ``given`` is ``key``, in time that depends on neither (not even their lengths)."""
    return hmac.compare_digest(_digest(given), _digest(key))


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def bearer_matches(authorization: str | None, key: str) -> bool:
    """Whether an ``Authorization`` header value is ``Bearer <key>``."""
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and same_key(token.strip(), key)


def cookie_name(port: int) -> str:
    """The pages' cookie for the server on ``port``: browsers send a host's cookies to all its ports,
    so servers side by side on one host each need their own name."""
    return f"sentrial-pages-{port}"


def cookie_matches(cookie_header: str | None, name: str, token: str) -> bool:
    """Whether a ``Cookie`` header carries ``name=token`` (among any other cookies of the host)."""
    for pair in (cookie_header or "").split(";"):
        found, _, value = pair.strip().partition("=")
        if found == name and same_key(value.strip(), token):
            return True
    return False


def sign_in_cookie(name: str, token: str) -> str:
    """The ``Set-Cookie`` value that signs a browser in until it closes: not readable by scripts,
    not sent along with requests that other sites start."""
    return f"{name}={token}; Path=/; HttpOnly; SameSite=Strict"


def form_key(body: bytes) -> str:
    """The key typed into the sign-in form (an ``application/x-www-form-urlencoded`` body); ``""``
    when there is none."""
    values = parse_qs(body.decode("utf-8", "replace")).get(FORM_FIELD)
    return values[0] if values else ""
