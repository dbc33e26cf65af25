"""Hash and remove modes: the keyed hash of each positive, its secret per installation and
organisation, and a secret or a config home that cannot be used."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from pii_support import POSITIVES, everything, hashed, replaced

from sentrial.redact import (
    PiiConfig,
    Redactor,
)


def test_hash_mode_replaces_each_positive_by_the_start_of_its_keyed_hash() -> None:
    redactor = everything(mode="hash")
    for _, text, pii in POSITIVES:
        assert redactor.redact_text(text) == replaced(text, pii, hashed), text


def test_remove_mode_deletes_each_positive() -> None:
    redactor = everything(mode="remove")
    for _, text, pii in POSITIVES:
        assert redactor.redact_text(text) == replaced(text, pii, lambda _: ""), text


def test_the_hash_is_sixteen_hex_digits_keyed_stable_and_distinct() -> None:
    redactor = everything(mode="hash")
    first = redactor.redact_text("alice@example.com")
    assert re.fullmatch(r"\[PII:[0-9a-f]{16}\]", first)
    assert first == hashed("alice@example.com")
    # A dictionary of unkeyed hashes finds nothing.
    assert hashlib.sha256(b"alice@example.com").hexdigest()[:6] not in first
    assert redactor.redact_text("alice@example.com") == first
    assert redactor.redact_text("bob@example.com") != first


def test_two_organisations_hash_the_same_value_differently() -> None:
    org_a = everything(mode="hash", hash_secret="secret of org a")
    org_b = everything(mode="hash", hash_secret="secret of org b")
    text = "mail alice@example.com"
    assert org_a.redact_text(text) == f"mail {hashed('alice@example.com', 'secret of org a')}"
    assert org_a.redact_text(text) != org_b.redact_text(text)
    assert everything(mode="hash", hash_secret="secret of org a").redact_text(text) == org_a.redact_text(text)
    assert "secret of org a" not in repr(PiiConfig(mode="hash", hash_secret="secret of org a"))


def test_a_hash_secret_that_is_not_a_string_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ValueError, match="hash_secret"):
        Redactor(PiiConfig(mode="hash", hash_secret=42), strict=True)  # type: ignore[arg-type]
    redactor = Redactor(PiiConfig(mode="hash", hash_secret=42), strict=False)  # type: ignore[arg-type]
    assert redactor.redact_text("alice@example.com") == hashed("alice@example.com")
    assert "hash_secret" in caplog.text


_HASH_IN_A_NEW_PROCESS = (
    "from sentrial.redact import PiiConfig, Redactor; "
    "print(Redactor(PiiConfig(mode='hash')).redact_text('alice@example.com'))"
)


def _hash_in_a_new_process(config_home: Path, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "SENTRIAL_PII_HASH_SECRET"}
    environment.update(XDG_CONFIG_HOME=str(config_home), **env)
    done = subprocess.run(
        [sys.executable, "-c", _HASH_IN_A_NEW_PROCESS],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_an_installation_keeps_its_secret_and_another_has_its_own(tmp_path: Path) -> None:
    first = _hash_in_a_new_process(tmp_path / "one")
    assert _hash_in_a_new_process(tmp_path / "one") == first  # stable across processes
    assert _hash_in_a_new_process(tmp_path / "two") != first  # another installation
    stored = tmp_path / "one" / "sentrial" / "pii-hash-secret"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert first == hashed("alice@example.com", stored.read_text().strip())
    # The environment's secret wins, and keeps pseudonyms alike across machines.
    shared = _hash_in_a_new_process(tmp_path / "one", SENTRIAL_PII_HASH_SECRET="fleet secret")
    assert shared == _hash_in_a_new_process(tmp_path / "two", SENTRIAL_PII_HASH_SECRET="fleet secret")
    assert shared == hashed("alice@example.com", "fleet secret")


def test_a_config_home_that_cannot_hold_the_secret_still_hashes_with_a_warning(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")  # nothing can be made below a file, whoever runs the test
    done = subprocess.run(
        [sys.executable, "-c", _HASH_IN_A_NEW_PROCESS],
        env={**os.environ, "XDG_CONFIG_HOME": str(not_a_directory)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert re.fullmatch(r"\[PII:[0-9a-f]{16}\]", done.stdout.strip())
    assert "SENTRIAL_PII_HASH_SECRET" in done.stderr
