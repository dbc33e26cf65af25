"""The secret that keys hash mode's pseudonyms, so that no one can confirm a guess by hashing it.

An unkeyed hash of an email address or a phone number is no protection: anyone with a list of
candidates hashes them all and compares. A keyed hash (HMAC) is only as guessable as its key is
known. The key is, in order: ``PiiConfig.hash_secret`` (or the server's ``hashSecret``), the
``SENTRIAL_PII_HASH_SECRET`` environment variable, else a random secret made on first use and kept
in the user's configuration directory, so one installation hashes a value the same way every time.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from pathlib import Path

from sentrial_otel_exporter.forks import renew_in_child

logger = logging.getLogger("sentrial")

SECRET_ENV = "SENTRIAL_PII_HASH_SECRET"
SECRET_FILE = Path("sentrial", "pii-hash-secret")

_PROCESS_ONLY = (
    "sentrial: cannot store a PII hash secret at %s (%s); hash mode's pseudonyms are stable within "
    "this process only. Set %s to keep them stable across processes and machines"
)

_lock = threading.Lock()
renew_in_child(globals(), "_lock")
_installation_secret: str | None = None


def hash_secret(configured: str | None = None) -> bytes:
    """The key for hash mode: ``configured`` when given, else the environment's, else this installation's."""
    if configured:
        return configured.encode()
    from_env = os.environ.get(SECRET_ENV)
    if from_env:
        return from_env.encode()
    return _installation().encode()


def secret_path() -> Path:
    """Where this installation's secret is kept: under ``$XDG_CONFIG_HOME``, else ``~/.config``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / SECRET_FILE


def _installation() -> str:
    global _installation_secret
    with _lock:
        if _installation_secret is None:
            try:
                path = secret_path()
            except (RuntimeError, KeyError):  # no home directory to keep it in
                logger.warning(_PROCESS_ONLY, "a home directory", "none", SECRET_ENV)
                _installation_secret = secrets.token_hex(32)
            else:
                _installation_secret = _read_or_make(path)
        return _installation_secret


def _read_or_make(path: Path) -> str:
    """The secret stored at ``path``, made there first if there is none (readable by the user only).

    Where the file can be neither read nor written (a read-only container), the secret lives as long
    as the process: pseudonyms are then stable within it only, which the warning says.
    """
    stored = _read(path)
    if stored:
        return stored
    made = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: of two processes making it at once, the second takes the first one's secret.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(made + "\n")
        return made
    except FileExistsError:
        return _read(path) or made
    except OSError as error:
        logger.warning(_PROCESS_ONLY, path, error, SECRET_ENV)
        return made


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        logger.warning("sentrial: cannot read the PII hash secret at %s (%s)", path, error)
        return None
