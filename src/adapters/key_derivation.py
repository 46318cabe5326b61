"""Separate keys for separate purposes, all derived from one master secret (HKDF-SHA256)."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(master: bytes, purpose: str, length: int = 32) -> bytes:
    """A key for ``purpose`` (``"secret-box"``, ``"tokens"``…); knowing one reveals no other."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(master)
