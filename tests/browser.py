"""Debian's chromium, driven by Playwright for Python, for the tests of the local server's pages.

Playwright's own browser builds are never downloaded: the system's chromium is launched through
``executable_path``, headless, sandboxed from the network and from any profile but a fresh one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Where the system's chromium is; skips the calling test with how to get it when it is absent."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does it)")
    return path


@contextmanager
def browser_context() -> Iterator[BrowserContext]:
    """A Playwright browser context of the system's chromium, with a fresh user data directory."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with tempfile.TemporaryDirectory(prefix="sentrial-chromium-") as profile, sync_playwright() as driver:
        # Playwright passes the profile as --user-data-dir itself (it refuses the flag in args).
        context = driver.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
