"""Separate keys for separate purposes, all derived from one master secret (HKDF-SHA256)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(master: bytes, purpose: str, length: int = 32) -> bytes:
    """A key for ``purpose`` (``"secret-box"``, ``"tokens"``…); knowing one reveals no other."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(master)


KEY_PURPOSES = ("tokens", "secret-box", "partner-keys", "callbacks")
"""The purposes an installation derives keys for, each rotatable on its own."""


class KeyRing:
    """One key per purpose from the master secret, each at its own version.

    Rotating a purpose (its version + 1) replaces that key alone: the others, derived
    from the same master, stay as they were — rotating the token key logs every manager
    and client out and leaves sealed temporary passwords, partner key digests and callback
    secrets working. Version 1 is the key derived before versions existed.
    """

    def __init__(self, master: bytes, versions: dict[str, int] | None = None) -> None:
        self._master = master
        self._versions = dict(versions or {})
        unknown = set(self._versions) - set(KEY_PURPOSES)
        if unknown:
            raise ValueError(f"unknown key purposes: {sorted(unknown)}")

    def key(self, purpose: str) -> bytes:
        if purpose not in KEY_PURPOSES:
            raise ValueError(f"unknown key purpose {purpose!r}")
        version = self._versions.get(purpose, 1)
        return derive_key(self._master, purpose if version == 1 else f"{purpose}#v{version}")
