"""Temporary passwords from ``secrets``: random, readable over the phone."""

from __future__ import annotations

import secrets
import string

# No look-alikes: 0/O/o, 1/l/I/i, 5/S/s, 2/Z/z, 8/B.
_ALPHABET = "".join(ch for ch in string.ascii_letters + string.digits if ch not in "0Oo1lIi5Ss2Zz8B")


class SecretsPasswordGenerator:
    """Implements ``PasswordGenerator``: ``length`` characters, at least one digit and one letter."""

    def __init__(self, length: int = 12) -> None:
        if length < 10:
            raise ValueError("a temporary password needs at least 10 characters")
        self._length = length

    def generate_code(self) -> str:
        """Eight digits: 10^8 codes, guarded by the login throttle, expiry and forced change."""
        return f"{secrets.randbelow(10**8):08d}"

    def generate(self) -> str:
        while True:
            password = "".join(secrets.choice(_ALPHABET) for _ in range(self._length))
            if any(ch.isdigit() for ch in password) and any(ch.isalpha() for ch in password):
                return password
