"""The pages' own script and style sheet, served from the package (no CDN: the pages work offline)."""

from __future__ import annotations

from functools import cache
from importlib import resources

PREFIX = "/static/"
_TYPES = {"page.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8"}


@cache
def _read(name: str) -> bytes:
    return resources.files("sentrial.server").joinpath("static").joinpath(name).read_bytes()


def get(name: str) -> tuple[str, bytes] | None:
    """The content type and bytes of the asset ``name``, None for a name that is not one."""
    content_type = _TYPES.get(name)
    return None if content_type is None else (content_type, _read(name))


def url(name: str) -> str:
    """Where the pages load the asset ``name`` from."""
    return PREFIX + name
