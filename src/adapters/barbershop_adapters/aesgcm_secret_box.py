"""AES-256-GCM encryption of secrets that must wait in the database (temporary passwords)."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from barbershop_core.ports import SecretUnreadable

_NONCE_BYTES = 12
_VERSION = b"\x01"


class SecretBoxError(SecretUnreadable):
    """A sealed value could not be opened: wrong key, or tampered with."""


class AesGcmSecretBox:
    """Implements ``SecretBox``. Sealed form: version byte, 96-bit random nonce, ciphertext+tag."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the secret box key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    @classmethod
    def from_base64(cls, encoded: str) -> AesGcmSecretBox:
        return cls(base64.urlsafe_b64decode(encoded.encode()))

    @staticmethod
    def generate_key() -> str:
        return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode()

    def seal(self, plaintext: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), _VERSION)

    def open(self, sealed: bytes) -> str:
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE_BYTES + 16:
            raise SecretBoxError("unknown sealed format")
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, _VERSION).decode()
        except InvalidTag as exc:
            raise SecretBoxError("the sealed value does not open with this key") from exc
