"""The generated master secret of a single-host install: ``data/secret.key``.

Every key (tokens, sealed temporary passwords, partner key digests, callback keys) derives
from it, so the file is held to the rules of ``BARBERSHOP_SECRET_KEY`` and more:

- it is written once, atomically: a private temporary file in the same directory, written
  and fsynced, then linked into place (a rename that never replaces: of two processes
  starting at once, one wins and both read its key), then the directory is fsynced. A
  crash leaves either no ``secret.key`` or a complete one, never a partial one;
- it is created 0600 in a data directory of mode 0700;
- a key file that is empty, shorter than :data:`MIN_SECRET_KEY_LENGTH`, not a regular file,
  or readable or writable by group or others stops the start with a message naming it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Final

MIN_SECRET_KEY_LENGTH: Final = 32
"""The shortest master secret accepted, from the file or from ``BARBERSHOP_SECRET_KEY``."""
_PRIVATE_DIR: Final = 0o700
_PRIVATE_FILE: Final = 0o600


class SecretKeyFileError(Exception):
    """The key file cannot be used; the message names the file and what to do."""


def read_or_create_secret_key(path: Path) -> str:
    """The key kept in ``path``, generated there first if the file does not exist yet."""
    if not path.exists() and not path.is_symlink():
        _create(path)
    return _read(path)


def _read(path: Path) -> str:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SecretKeyFileError(f"{path} must be a regular file holding the master secret")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise SecretKeyFileError(
                f"{path} is readable or writable by group or others (mode {mode:04o}): "
                f"anyone who reads it can sign manager tokens; run `chmod 600 {path}`"
            )
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretKeyFileError(f"{path} cannot be read: {exc.__class__.__name__}") from None
    if not key:
        raise SecretKeyFileError(
            f"{path} is empty: put the installation's master secret back into it, or delete it to "
            "generate a new one (tokens, sealed temporary passwords and partner keys made with "
            "the old secret stop working)"
        )
    if len(key) < MIN_SECRET_KEY_LENGTH:
        raise SecretKeyFileError(
            f"{path} holds a master secret of {len(key)} characters; at least {MIN_SECRET_KEY_LENGTH} are needed"
        )
    return key


def _create(path: Path) -> None:
    directory = path.parent
    private_directory(directory)
    temporary = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process was first: its key is the key
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    _fsync_directory(directory)


def private_directory(directory: Path) -> None:
    """Create ``directory`` with mode 0700, or take group's and others' access away from it."""
    directory.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) & 0o077:
        directory.chmod(_PRIVATE_DIR)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
